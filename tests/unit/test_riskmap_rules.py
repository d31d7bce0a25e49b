"""Risk-map rules: the GCJ-02 offset against published pairs, the four bands, and the checks on page values."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcontrol.riskmap import rules

# (WGS-84 lon, lat) → (GCJ-02 lon, lat), from the test suites of googollee/eviltransform (Shanghai,
# Shenzhen, Beijing) and wandergis/coordtransform (Beijing, 116.404 / 39.915).
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_the_offset_matches_published_pairs(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert rules.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


def test_tiananmen_moves_about_600_m_east_and_150_m_north() -> None:
    lon, lat = rules.wgs84_to_gcj02(116.391349, 39.907375)
    assert lon - 116.391349 == pytest.approx(0.0062, abs=0.0002)
    assert lat - 39.907375 == pytest.approx(0.0014, abs=0.0002)


@pytest.mark.parametrize("point", [(2.2945, 48.8584), (-122.4194, 37.7749), (151.2093, -33.8688), (139.6917, 56.5)])
def test_points_outside_china_are_left_as_they_are(point: tuple[float, float]) -> None:
    assert rules.outside_china(*point)
    assert rules.wgs84_to_gcj02(*point) == point
    assert rules.gcj02_to_wgs84(*point) == point


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_the_inverse_recovers_the_published_wgs84_point(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert rules.gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-9)


@given(st.floats(min_value=73.0, max_value=135.0), st.floats(min_value=18.0, max_value=53.0))
def test_a_round_trip_through_gcj02_is_within_a_millimetre(lon: float, lat: float) -> None:
    back = rules.gcj02_to_wgs84(*rules.wgs84_to_gcj02(lon, lat))
    assert back == pytest.approx((lon, lat), abs=1e-8)  # 1e-8 degrees is about 1 mm


def test_the_four_bands_run_from_red_to_blue_with_chinese_and_english_names() -> None:
    assert rules.LEVELS == ("red", "orange", "yellow", "blue")
    assert [rules.level_label(lv, "zh-CN") for lv in rules.LEVELS] == ["重大风险", "较大风险", "一般风险", "低风险"]
    assert rules.level_label("blue", "en") == "Low risk"
    assert all(rules.is_hex_colour(rules.level_colour(lv)) for lv in rules.LEVELS)
    assert len({rules.level_colour(lv) for lv in rules.LEVELS}) == 4


def test_the_worst_level_is_the_most_serious_one() -> None:
    assert rules.worst_level(["blue", "orange", "yellow"]) == "orange"
    assert rules.worst_level([]) is None
    assert rules.is_level("red")
    assert not rules.is_level("green")


def test_every_map_text_exists_in_both_languages() -> None:
    zh, en = rules.map_text("zh-CN"), rules.map_text("en")
    assert zh.keys() == en.keys()
    assert zh["legend"] == "风险等级"
    assert en["legend"] == "Risk level"


@pytest.mark.parametrize("url", ["/hazards/7", "/zones/3?tab=log"])
def test_links_to_paths_on_this_site_are_allowed(url: str) -> None:
    assert rules.is_local_path(url)


@pytest.mark.parametrize("url", ["https://evil.example/x", "//evil.example/x", "javascript:alert(1)", "/\\evil", "/a b", ""])
def test_links_elsewhere_or_to_scripts_are_refused(url: str) -> None:
    assert not rules.is_local_path(url)


def test_colours_must_be_plain_hex() -> None:
    assert rules.is_hex_colour("#d32f2f")
    assert not rules.is_hex_colour("red;background:url(x)")


def test_a_ring_loses_its_closing_point_and_needs_three_corners() -> None:
    square = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0))
    assert rules.open_ring(square) == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))
    with pytest.raises(ValueError, match="3 distinct points"):
        rules.open_ring(((0.0, 0.0), (1.0, 0.0), (0.0, 0.0)))


def test_the_rules_import_nothing_but_the_standard_library() -> None:
    # Pure by construction: no folium, no files, no database (import-linter's rules contract lists
    # the other domains' rules modules; this one guards itself).
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= {"__future__", "collections", "math", "re", "types", "typing"}
