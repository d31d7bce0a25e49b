"""The campus base layers (boundary, buildings, roads) read from the risk_map directory as GeoJSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.riskmap.rules import wgs84_to_gcj02

FeatureCollection = dict[str, Any]
Transform = Callable[[float, float], tuple[float, float]]

# File name → the geometry types its features may have.
BASE_FILES: Final[dict[str, tuple[str, ...]]] = {
    "boundary": ("Polygon", "MultiPolygon"),
    "buildings": ("Polygon", "MultiPolygon"),
    "roads": ("LineString", "MultiLineString"),
}


@dataclass(frozen=True, eq=False)
class BaseLayers:
    """The three feature collections (WGS-84, read-only by convention) and the campus's extent.

    Load once and keep (the caller caches it); the GCJ-02 copy is made on first use and kept too.
    """

    boundary: FeatureCollection
    buildings: FeatureCollection
    roads: FeatureCollection
    bounds: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat of the boundary

    @property
    def centre(self) -> tuple[float, float]:
        """The middle of the boundary's extent as (lon, lat)."""
        min_lon, min_lat, max_lon, max_lat = self.bounds
        return (min_lon + max_lon) / 2, (min_lat + max_lat) / 2

    def shifted(self, transform: Transform) -> BaseLayers:
        """The same layers with every coordinate passed through `transform(lon, lat)`."""
        return BaseLayers(
            boundary=_map_collection(self.boundary, transform),
            buildings=_map_collection(self.buildings, transform),
            roads=_map_collection(self.roads, transform),
            bounds=_extent(_map_collection(self.boundary, transform)),
        )

    def around(self, lon: float, lat: float, half: float) -> FeatureCollection:
        """The buildings and roads with a point within `half` degrees of (lon, lat), as one collection with
        each feature's layer in its properties (`layer`: buildings or roads), for a small map of one place."""
        features = [
            {**f, "properties": {"layer": name}}
            for name, collection in (("buildings", self.buildings), ("roads", self.roads))
            for f in collection["features"]
            if any(abs(p[0] - lon) <= half and abs(p[1] - lat) <= half for p in _positions(f["geometry"]["coordinates"]))
        ]
        return {"type": "FeatureCollection", "features": features}

    @cached_property
    def gcj02(self) -> BaseLayers:
        """The layers as drawn over GCJ-02 tiles."""
        return self.shifted(wgs84_to_gcj02)


def _positions(coordinates: Any) -> Iterator[list[float]]:
    if coordinates and isinstance(coordinates[0], int | float):
        yield coordinates
    else:
        for part in coordinates:
            yield from _positions(part)


def _map_coordinates(coordinates: Any, transform: Transform) -> Any:
    if coordinates and isinstance(coordinates[0], int | float):
        return list(transform(coordinates[0], coordinates[1]))
    return [_map_coordinates(part, transform) for part in coordinates]


def _map_collection(collection: FeatureCollection, transform: Transform) -> FeatureCollection:
    features = [
        {**f, "geometry": {**f["geometry"], "coordinates": _map_coordinates(f["geometry"]["coordinates"], transform)}}
        for f in collection["features"]
    ]
    return {**collection, "features": features}


def _extent(collection: FeatureCollection) -> tuple[float, float, float, float]:
    points = [p for f in collection["features"] for p in _positions(f["geometry"]["coordinates"])]
    return (min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points), max(p[1] for p in points))


def _read(path: Path, kinds: tuple[str, ...]) -> FeatureCollection:
    def refuse(field: str, reason: str) -> DataFileError:
        return DataFileError(path, None, field, reason)

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise refuse("file", f"cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise refuse("json", str(exc)) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise refuse("document", "must be a GeoJSON FeatureCollection")
    for i, feature in enumerate(data["features"]):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") not in kinds:
            raise refuse(f"features.{i}.geometry", f"must be one of {', '.join(kinds)}")
        try:
            points = list(_positions(geometry.get("coordinates")))
        except TypeError as exc:
            raise refuse(f"features.{i}.geometry.coordinates", "must be nested lists of [lon, lat]") from exc
        bad = next((p for p in points if len(p) < 2 or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)), None)
        if not points or bad is not None:
            raise refuse(f"features.{i}.geometry.coordinates", f"must be WGS-84 [lon, lat] positions, not {bad}")
        if not isinstance(feature.get("properties"), dict):
            feature["properties"] = {}
    return data


def load_base_layers(directory: Path) -> BaseLayers:
    """boundary.geojson, buildings.geojson and roads.geojson of `directory`; DataFileError names a bad file."""
    layers = {name: _read(directory / f"{name}.geojson", kinds) for name, kinds in BASE_FILES.items()}
    if not layers["boundary"]["features"]:
        raise DataFileError(directory / "boundary.geojson", None, "features", "needs the campus boundary polygon")
    return BaseLayers(**layers, bounds=_extent(layers["boundary"]))
