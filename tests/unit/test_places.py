"""The campus's named places: the real file loads and sits on the campus; a broken file names its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import Point, shape

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.hazards.places import PLACES_FILE, PlaceKind, load_places
from riskcontrol.riskmap.base_layers import load_base_layers

RISK_MAP = Path(__file__).resolve().parents[2] / "risk_map"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / PLACES_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_the_demo_campus_has_its_eight_dorm_buildings_and_a_place_of_every_kind() -> None:
    places = load_places(RISK_MAP / PLACES_FILE)
    dorms = [p.code for p in places.of_kind(PlaceKind.DORM)]
    assert dorms == ["E1", "E2", "E3", "E4", "W1", "W2", "W3", "W4"]
    assert {p.kind for p in places.places} == set(PlaceKind)
    assert places.by_code["E1"].zh == "东区1号楼"
    assert places.by_code["W4"].en == "West Block 4"
    assert places.by_code["GYM"].name("en") == "Gymnasium"
    assert places.by_code["GYM"].name("zh-CN") == "体育馆"


def test_every_place_lies_inside_the_campus_boundary() -> None:
    places = load_places(RISK_MAP / PLACES_FILE)
    boundary = shape(load_base_layers(RISK_MAP).boundary["features"][0]["geometry"])
    outside = [p.code for p in places.places if not boundary.contains(Point(p.lon, p.lat))]
    assert outside == []


def test_a_dorm_point_is_inside_the_real_building_it_names() -> None:
    places = load_places(RISK_MAP / PLACES_FILE)
    buildings = {f["id"]: shape(f["geometry"]) for f in load_base_layers(RISK_MAP).buildings["features"]}
    for dorm in places.of_kind("dorm"):
        assert dorm.osm is not None
        assert buildings[dorm.osm].contains(Point(dorm.lon, dorm.lat)), dorm.code


def test_a_duplicate_code_is_refused_at_its_line(tmp_path: Path) -> None:
    text = (
        "places:\n"
        "  - {code: E1, kind: dorm, zh: 东区1号楼, en: East Block 1, lon: 116.35, lat: 40.0}\n"
        "  - {code: E1, kind: dorm, zh: 东区2号楼, en: East Block 2, lon: 116.36, lat: 40.0}\n"
    )
    with pytest.raises(DataFileError) as caught:
        load_places(write(tmp_path, text))
    assert (caught.value.line, caught.value.field) == (3, "places.1.code")
    assert "duplicate code 'E1'" in str(caught.value)


def test_a_latitude_out_of_range_names_file_line_and_field(tmp_path: Path) -> None:
    text = "places:\n  - code: GYM\n    kind: gym\n    zh: 体育馆\n    en: Gymnasium\n    lon: 116.353\n    lat: 140.0\n"
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as caught:
        load_places(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (path, 7, "places.0.lat")
    assert str(caught.value).startswith(f"{path}:7: places.0.lat:")


def test_an_unknown_kind_or_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as caught:
        load_places(write(tmp_path, "places:\n  - {code: X, kind: pool, zh: 泳池, en: Pool, lon: 116.3, lat: 40.0}\n"))
    assert caught.value.field == "places.0.kind"
    with pytest.raises(DataFileError) as caught:
        load_places(write(tmp_path, "places:\n  - {code: X, kind: gym, zh: 馆, en: Gym, lon: 116.3, lat: 40.0, floor: 2}\n"))
    assert caught.value.field == "places.0.floor"
