"""The risk map: folium rendering of zones, hazards and incidents over the campus base layers, offline."""
