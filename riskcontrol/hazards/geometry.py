"""Locations on the ledger and the map: GeoJSON points and polygons in WGS-84, checked, with a point to draw."""

from __future__ import annotations

from typing import Any, Final

from shapely.geometry import Point, Polygon

from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.hazards.schemas import Geometry, PointIn

MAX_CORNERS: Final = 500


def geometry_of(location: Geometry, *, field_name: str = "location") -> tuple[dict[str, Any], float, float]:
    """A checked GeoJSON geometry (WGS-84) and its representative lon/lat: the point, or the polygon's centroid."""
    if isinstance(location, PointIn):
        lon, lat = location.coordinates
        _check_lonlat(lon, lat, f"{field_name}.coordinates")
        Point(lon, lat)
        return {"type": "Point", "coordinates": [lon, lat]}, lon, lat
    ring = [(float(pair[0]), float(pair[1])) for pair in location.coordinates[0]]
    for i, (lon, lat) in enumerate(ring):
        _check_lonlat(lon, lat, f"{field_name}.coordinates.0.{i}")
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(set(ring)) < 3:
        raise InvalidInput(phrase("refusal.map.too_few_corners"), field=f"{field_name}.coordinates")
    if len(ring) > MAX_CORNERS:
        raise InvalidInput(phrase("refusal.map.too_many_corners", max=MAX_CORNERS), field=f"{field_name}.coordinates")
    polygon = Polygon(ring)
    if not polygon.is_valid or polygon.area == 0:
        raise InvalidInput(phrase("refusal.map.polygon_invalid"), field=f"{field_name}.coordinates")
    centre = polygon.representative_point()
    closed = [[lon, lat] for lon, lat in ring] + [[ring[0][0], ring[0][1]]]
    return {"type": "Polygon", "coordinates": [closed]}, float(centre.x), float(centre.y)


def _check_lonlat(lon: float, lat: float, where: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(phrase("refusal.map.coordinates"), field=where)
