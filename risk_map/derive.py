"""Derive the risk map's base layers (boundary, buildings, roads) from the campus OSM extract.

    python risk_map/derive.py /work/shared/data/campus-geometry/cau_east_campus_only.geojson risk_map/

Keeps the geometry as it is and only the tags the map draws or labels with; the output is a derived
database of OpenStreetMap data and stays under the ODbL (see README.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Feature = dict[str, Any]
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"
LAYERS: dict[str, tuple[Callable[[Feature], bool], tuple[str, ...]]] = {
    "boundary": (lambda f: f["properties"].get("amenity") == "university", ("name", "name:en")),
    "buildings": (
        lambda f: "building" in f["properties"] and f["geometry"]["type"] in ("Polygon", "MultiPolygon"),
        ("building", "name", "name:en"),
    ),
    "roads": (
        lambda f: "highway" in f["properties"] and f["geometry"]["type"] in ("LineString", "MultiLineString"),
        ("highway", "name", "name:en"),
    ),
}


def derive(source: Path, out_dir: Path) -> dict[str, int]:
    """Write <layer>.geojson for each layer into `out_dir`; returns the feature count of each."""
    data = json.loads(source.read_text(encoding="utf-8"))
    counts = {}
    for layer, (wanted, keep) in LAYERS.items():
        features = [
            {
                "type": "Feature",
                "id": f["properties"]["@id"],
                "properties": {k: f["properties"][k] for k in keep if k in f["properties"]},
                "geometry": f["geometry"],
            }
            for f in data["features"]
            if wanted(f)
        ]
        collection = {
            "type": "FeatureCollection",
            "attribution": ATTRIBUTION,
            "source": f"{source.name}, layer {layer}",
            "features": features,
        }
        text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
        (out_dir / f"{layer}.geojson").write_text(text + "\n", encoding="utf-8")
        counts[layer] = len(features)
    return counts


if __name__ == "__main__":
    print(derive(Path(sys.argv[1]), Path(sys.argv[2])))
