"""The risk-map renderer without a browser: assets, CSP hashes, what the public file leaves out, GCJ-02, bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.riskmap import assets, rules
from riskcontrol.riskmap.render import (
    BaseLayers,
    HeatPoint,
    MapHazard,
    MapIncident,
    MapLabel,
    MapZone,
    RenderedMap,
    TileSource,
    load_base_layers,
    render_internal,
    render_public,
)

RISK_MAP = Path(__file__).resolve().parents[2] / "risk_map"
GYM = (116.35301, 40.002379)


@pytest.fixture(scope="module")
def base() -> BaseLayers:
    return load_base_layers(RISK_MAP)


def hazard(id: int = 1, *, level: rules.Level = "red", lon: float = GYM[0], lat: float = GYM[1], **kw: object) -> MapHazard:
    fields: dict[str, object] = {
        "title": "体育馆消防通道堵塞",
        "level_label": "重大风险",
        "category_label": "消防",
        "state_label": "整改中",
        "overdue": True,
        "deadline_label": "2026-12-01",
        "url": f"/hazards/{id}",
    }
    fields.update(kw)
    return MapHazard(id=id, level=level, lon=lon, lat=lat, **fields)  # type: ignore[arg-type]


def zone(id: int, name: str, *, public: bool, level: rules.Level = "orange") -> MapZone:
    lon, lat = GYM
    ring = ((lon, lat), (lon + 0.0004, lat), (lon + 0.0004, lat + 0.0003), (lon, lat + 0.0003), (lon, lat))
    return MapZone(id=id, name=name, level=level, reason="施工", windows_label="每日 22:00–06:00", public=public, ring=ring)


INCIDENT = MapIncident(
    id=9,
    title="学生失联",
    level_numeral="Ⅱ",
    colour="#f57c00",
    state_label="现场控制",
    lon=116.352,
    lat=40.003,
    url="/incidents/9",
)


def internal(base: BaseLayers, **kw: object) -> RenderedMap:
    args: dict[str, object] = {
        "hazards": [hazard(1), hazard(2, level="blue", overdue=False, deadline_label=None, url=None)],
        "zones": [zone(1, "体育馆北侧施工区", public=True), zone(2, "东区2号楼天台", public=False, level="red")],
        "incidents": [INCIDENT],
        "heat": [HeatPoint(*GYM, 2.0)],
        "base": base,
        "lang": "zh-CN",
        "tiles": None,
        "editable": False,
    }
    args.update(kw)
    return render_internal(**args)  # type: ignore[arg-type]


class Scripts(HTMLParser):
    """Every <script> of a document: its src, or its inline text exactly as the browser hashes it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.sources: list[str] = []
        self.inline: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            src = dict(attrs).get("src")
            if src is not None:
                self.sources.append(src)
            else:
                self._open = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.inline.append("".join(self._open))
            self._open = None


def parse(html: str) -> Scripts:
    scripts = Scripts()
    scripts.feed(html)
    return scripts


def test_the_internal_map_loads_only_vendored_files_that_exist(base: BaseLayers) -> None:
    page = internal(base).html
    urls = [*parse(page).sources, *assets.stylesheet_urls(page)]
    assert sorted(urls) == sorted(
        "/static/vendor/" + path
        for path in (
            "leaflet/leaflet.js",
            "leaflet/leaflet.css",
            "leaflet.markercluster/leaflet.markercluster.js",
            "leaflet.markercluster/MarkerCluster.css",
            "leaflet.heat/leaflet_heat.min.js",
        )
    )
    for url in urls:
        assert (assets.VENDOR_DIR / url.removeprefix("/static/vendor/")).is_file(), url
    assert not re.search(r"https?://", page)


def test_every_vendored_package_is_listed_with_its_licence() -> None:
    licences = (assets.VENDOR_DIR / "LICENSES.md").read_text(encoding="utf-8")
    for row in (
        "| Leaflet | 1.9.4 | BSD-2-Clause",
        "| Leaflet.markercluster | 1.1.0 | MIT",
        "| Leaflet.heat (includes simpleheat) | 0.2.0",
    ):
        assert row in licences
    for folder in (d for d in assets.VENDOR_DIR.iterdir() if d.is_dir()):
        assert f"`{folder.name}/`" in licences
        assert any("LICEN" in f.name for f in folder.iterdir()), folder
    assert not list(assets.VENDOR_DIR.rglob("*.map"))


def test_the_script_hashes_are_those_of_the_inline_scripts(base: BaseLayers) -> None:
    rendered = internal(base)
    inline = parse(rendered.html).inline
    expected = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline}
    assert len(inline) >= 2
    assert set(rendered.script_hashes) == expected


def test_the_policy_allows_the_map_scripts_and_inline_styles_and_keeps_the_rest() -> None:
    rendered = RenderedMap(html="", script_hashes=("'sha256-abc='", "'sha256-def='"))
    policy = rendered.content_security_policy("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'")
    assert policy == (
        "default-src 'self'; script-src 'self' 'sha256-abc=' 'sha256-def='; style-src 'self' 'unsafe-inline'; img-src 'self'"
    )
    assert "script-src 'self' 'sha256-abc='" in rendered.content_security_policy("default-src 'none'")


def test_text_from_the_data_cannot_break_out_of_the_script(base: BaseLayers) -> None:
    evil = "</script><script>alert(1)</script><!--"
    page = internal(base, hazards=[hazard(1, title=evil)], zones=[zone(1, evil, public=True)]).html
    assert evil not in page
    assert len(parse(page).inline) == len(internal(base).script_hashes)


def test_text_from_the_data_is_never_run_as_a_template(base: BaseLayers) -> None:
    # folium's elements are Jinja templates; the data must come out as written, not evaluated.
    trick = "{{ 7*7 }}{% if true %}!{% endif %}{# x #}"
    page = internal(base, hazards=[hazard(1, title=trick)], zones=[zone(1, trick, public=True)]).html
    assert page.count(trick) == 2
    assert "49!" not in page
    public = render_public(zones=[zone(1, trick, public=True)], tips=[trick], base=base, lang="zh-CN", title=trick)
    assert public.count(trick) == 3
    assert f"<title>{trick}</title>" in public


def test_the_public_file_inlines_everything_and_shows_only_public_zones(base: BaseLayers) -> None:
    page = render_public(
        zones=[zone(1, "体育馆北侧施工区", public=True), zone(2, "东区2号楼天台", public=False)],
        tips=["夜间请结伴出行", "<b>远离施工区</b>"],
        base=base,
        lang="zh-CN",
        title="校园安全提示地图",
    )
    assert "<script src" not in page
    assert not re.search(r"<link[^>]*href", page)
    assert "/static/" not in page
    assert "体育馆北侧施工区" in page
    assert "东区2号楼天台" not in page
    assert "夜间请结伴出行" in page
    assert "&lt;b&gt;远离施工区&lt;/b&gt;" in page
    assert "<title>校园安全提示地图</title>" in page
    assert '<html lang="zh-CN">' in page
    assert "© OpenStreetMap contributors (ODbL)" in page


def test_the_public_file_names_no_hazard_incident_or_heat(base: BaseLayers) -> None:
    page = render_public(zones=[zone(1, "施工区", public=True)], tips=[], base=base, lang="en", title="Campus safety map")
    assert "L.heatLayer" not in page
    assert "riskMapKit.hazards(" not in page
    assert "riskMapKit.incidents(" not in page
    assert "Safety tips" in page
    assert "Risk level" in page


def _rows(page: str, builder: str) -> object:
    match = re.search(rf"riskMapKit\.{builder}\((.*?), map_\w+\);", page)
    assert match is not None
    return json.loads(match.group(1))


def test_over_gcj02_tiles_everything_drawn_is_shifted(base: BaseLayers) -> None:
    tiles = TileSource(url_template="/tiles/amap/{z}/{x}/{y}.png", attribution="© 高德地图", crs="gcj02", max_zoom=18)
    plain, shifted = internal(base).html, internal(base, tiles=tiles).html
    lon, lat = rules.wgs84_to_gcj02(*GYM)
    row = _rows(shifted, "hazards")["rows"][0]  # type: ignore[index]
    assert row[1:3] == [round(lat, 6), round(lon, 6)]
    assert _rows(plain, "hazards")["rows"][0][1:3] == [round(GYM[1], 6), round(GYM[0], 6)]  # type: ignore[index]
    zone_ring = _rows(shifted, "zones")["rows"][0]["ring"]  # type: ignore[index]
    assert zone_ring[0] == [round(lat, 6), round(lon, 6)]
    boundary_lon, boundary_lat = base.boundary["features"][0]["geometry"]["coordinates"][0][0]
    drawn = _rows(shifted, "base")["data"]["features"][0]["geometry"]["coordinates"][0][0]  # type: ignore[index]
    assert drawn == pytest.approx(list(rules.wgs84_to_gcj02(boundary_lon, boundary_lat)))
    assert re.search(r"riskMapKit\.frame\(\w+, \[\[[^;]*\]\], true\);", shifted)
    assert re.search(r"riskMapKit\.frame\(\w+, \[\[[^;]*\]\], false\);", plain)
    assert _rows(shifted, "tiles") == {"url": "/tiles/amap/{z}/{x}/{y}.png", "attribution": "© 高德地图", "maxZoom": 18}
    assert "riskMapKit.tiles(" not in plain


def test_wgs84_tiles_draw_the_points_where_they_are(base: BaseLayers) -> None:
    tiles = TileSource(url_template="/tiles/osm/{z}/{x}/{y}.png", attribution="© OpenStreetMap", crs="wgs84")
    page = internal(base, tiles=tiles).html
    assert _rows(page, "hazards")["rows"][0][1:3] == [round(GYM[1], 6), round(GYM[0], 6)]  # type: ignore[index]


def test_the_scale_is_metric_only_and_building_names_are_written_on_both_maps(base: BaseLayers) -> None:
    labels = [MapLabel("体育馆", *GYM)]
    page = internal(base, labels=labels).html
    assert "L.control.scale()" not in page
    assert "L.control.scale({imperial: false})" in page
    assert _rows(page, "labels") == {"rows": [[round(GYM[1], 6), round(GYM[0], 6), "体育馆"]]}
    public = render_public(zones=[], tips=[], base=base, lang="zh-CN", title="t", labels=labels)
    assert _rows(public, "labels") == {"rows": [[round(GYM[1], 6), round(GYM[0], 6), "体育馆"]]}
    assert "riskMapKit.labels(" not in internal(base).html


def test_the_heat_layer_is_named_for_what_it_counts(base: BaseLayers) -> None:
    page = internal(base).html
    assert "近一年预警与事件密度" in page
    assert "隐患热力图" not in page


def test_editable_maps_let_the_page_make_hazards_draggable_and_load_the_page_script(base: BaseLayers) -> None:
    page = internal(base, editable=True, page_scripts=["/static/js/riskmap_edit.js"]).html
    assert _rows(page, "hazards")["editable"] is True  # type: ignore[index]
    assert page.rstrip().endswith('<script src="/static/js/riskmap_edit.js"></script>\n</html>')
    assert _rows(internal(base).html, "hazards")["editable"] is False  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hazards": [hazard(1, level="green")]}, "hazard 1: level 'green'"),  # type: ignore[arg-type]
        ({"hazards": [hazard(1, url="javascript:alert(1)")]}, "must be a path on this site"),
        ({"hazards": [hazard(1, lon=float("nan"))]}, "is not a WGS-84"),
        ({"incidents": [MapIncident(9, "x", "Ⅱ", "orange;x:y", "s", 116.35, 40.0, None)]}, "must be #rrggbb"),
        ({"page_scripts": ["https://cdn.example/x.js"]}, "page script"),
        ({"zones": [MapZone(1, "z", "red", "r", "w", True, ((116.35, 40.0), (116.36, 40.0)))]}, "3 distinct points"),
    ],
)
def test_bad_input_is_refused_with_what_and_why(base: BaseLayers, change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        internal(base, **change)


def test_5000_hazards_and_200_zones_render_in_well_under_a_second_or_two(base: BaseLayers) -> None:
    hazards = [
        hazard(i, level=rules.LEVELS[i % 4], lon=GYM[0] + (i % 70) * 1e-4, lat=GYM[1] + (i // 70) * 5e-5) for i in range(5000)
    ]
    zones = [zone(i, f"区域{i}", public=i % 2 == 0) for i in range(200)]
    started = time.perf_counter()
    page = internal(base, hazards=hazards, zones=zones).html
    assert time.perf_counter() - started < 2.0
    assert len(page) < 1_500_000


def test_a_broken_base_layer_file_is_named(tmp_path: Path) -> None:
    for name in ("boundary", "buildings", "roads"):
        (tmp_path / f"{name}.geojson").write_text((RISK_MAP / f"{name}.geojson").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "roads.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Point", "coordinates": [116.35, 40.0]}}]}',
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as caught:
        load_base_layers(tmp_path)
    assert caught.value.path == tmp_path / "roads.geojson"
    assert caught.value.field == "features.0.geometry"


def test_the_base_layers_span_the_campus(base: BaseLayers) -> None:
    min_lon, min_lat, max_lon, max_lat = base.bounds
    assert (min_lon, min_lat, max_lon, max_lat) == pytest.approx((116.3466, 39.99998, 116.35716, 40.00657), abs=1e-4)
    assert base.centre == pytest.approx(((min_lon + max_lon) / 2, (min_lat + max_lat) / 2))
    assert any(f["properties"].get("name") == "学生公寓3号楼" for f in base.buildings["features"])
