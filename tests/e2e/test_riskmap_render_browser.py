"""The rendered risk maps in Chromium: served from 127.0.0.1 under the pages' strict CSP, and the public file from disk.

A safety officer opens the internal map: the campus with its building names, the clustered hazards,
the zones, the open incident, the density of past reports and a legend entry for each, and a metric
scale all draw, nothing is blocked, and no request leaves this machine. Hazards are draggable only
while the page has editing on. The public file, opened straight from disk, draws its zones without asking for anything.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.responses import Response as HTTPResponse
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

from riskcontrol.app import STATIC_DIR
from riskcontrol.riskmap import rules
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
from riskcontrol.web.templating import CONTENT_SECURITY_POLICY
from tests.e2e.conftest import serve

pytestmark = pytest.mark.browser

RISK_MAP = Path(__file__).resolve().parents[2] / "risk_map"
GYM = (116.35301, 40.002379)
# Recorded before any page script runs: CSP violations and the moment the map says it is ready.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
document.addEventListener("riskmap:ready", function () { window.__readyAt = performance.now(); });
"""


@pytest.fixture(scope="module")
def base() -> BaseLayers:
    return load_base_layers(RISK_MAP)


@dataclass
class Watched:
    """What one page asked for and complained about."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(page: Page) -> Watched:
    seen = Watched()
    page.add_init_script(WATCH)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("requestfailed", lambda r: seen.failed.append(f"{r.url} {r.failure}"))

    def refused(response: Response) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.url} {response.status}")

    def complained(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    page.on("response", refused)
    page.on("console", complained)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    return seen


@contextmanager
def map_site(pages: dict[str, RenderedMap]) -> Iterator[str]:
    """The maps at their paths with the policy they would be served with, the static files, and local tiles."""
    app = FastAPI()
    tile = (STATIC_DIR / "vendor" / "leaflet" / "images" / "layers.png").read_bytes()

    def page_route(rendered: RenderedMap) -> HTMLResponse:
        policy = rendered.content_security_policy(CONTENT_SECURITY_POLICY)
        return HTMLResponse(rendered.html, headers={"Content-Security-Policy": policy})

    for path, rendered in pages.items():
        app.add_api_route(path, lambda rendered=rendered: page_route(rendered), response_class=HTMLResponse)
    app.add_api_route("/tiles/{z}/{x}/{y}.png", lambda z, x, y: HTTPResponse(tile, media_type="image/png"))
    app.add_api_route("/favicon.ico", lambda: HTTPResponse(status_code=204))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    with serve(app, ws="none") as live:
        yield live.url


def hazard(id: int, lon: float, lat: float, level: rules.Level, *, overdue: bool = False) -> MapHazard:
    return MapHazard(
        id=id,
        title=f"隐患{id}：消防通道堵塞",
        level=level,
        level_label=rules.level_label(level, "zh-CN"),
        category_label="消防",
        state_label="整改中",
        lon=lon,
        lat=lat,
        overdue=overdue,
        deadline_label="2026-12-01",
        url=f"/hazards/{id}",
    )


def square(id: int, name: str, lon: float, lat: float, *, public: bool, level: rules.Level = "orange") -> MapZone:
    ring = ((lon, lat), (lon + 0.0004, lat), (lon + 0.0004, lat + 0.0003), (lon, lat + 0.0003))
    return MapZone(id=id, name=name, level=level, reason="夜间施工", windows_label="每日 22:00–06:00", public=public, ring=ring)


def campus_hazards(count: int) -> list[MapHazard]:
    rnd = random.Random(5)
    return [
        hazard(i, 116.3480 + rnd.random() * 0.0080, 40.0010 + rnd.random() * 0.0045, rules.LEVELS[i % 4], overdue=i % 9 == 0)
        for i in range(1, count + 1)
    ]


ZONES = [
    square(1, "体育馆北侧施工区", *GYM, public=True),
    square(2, "东区2号楼天台", 116.3556, 40.0019, public=False, level="red"),
    square(3, "新图书馆南广场", 116.3525, 40.0043, public=True, level="yellow"),
]
INCIDENT = MapIncident(9, "学生失联", "Ⅱ", "#f57c00", "现场控制", 116.3520, 40.0030, "/incidents/9")


def only_local(seen: Watched, origin: str) -> None:
    assert [url for url in seen.requests if not url.startswith(origin + "/")] == []
    assert seen.failed == []
    assert seen.errors == []


@contextmanager
def opened(
    browser: Browser, rendered: RenderedMap, *, width: int = 1280, height: int = 800
) -> Iterator[tuple[Page, Watched, str]]:
    """`rendered` served at /map and opened until the map is ready; nothing so far left this machine."""
    page = browser.new_page(viewport={"width": width, "height": height})
    seen = watch(page)
    try:
        with map_site({"/map": rendered}) as origin:
            page.goto(origin + "/map")
            page.wait_for_function("window.riskMapReady === true")
            only_local(seen, origin)
            yield page, seen, origin
    finally:
        page.close()


def test_the_internal_map_draws_everything_under_the_strict_policy_and_stays_on_this_machine(
    browser: Browser, base: BaseLayers
) -> None:
    hazards = campus_hazards(300)
    heat = [HeatPoint(h.lon, h.lat, 1.0) for h in hazards[:100]]
    rendered = render_internal(
        hazards=hazards,
        zones=ZONES,
        incidents=[INCIDENT],
        heat=heat,
        base=base,
        lang="zh-CN",
        tiles=None,
        editable=False,
        labels=[MapLabel("体育馆", *GYM), MapLabel("新图书馆", 116.352674, 40.004731)],
    )
    with opened(browser, rendered) as (page, seen, origin):
        assert page.evaluate("window.__csp") == []
        assert page.locator(".rc-cluster").count() > 0
        assert page.locator("path.rc-zone").count() == len(ZONES)
        assert page.locator(".rc-incident").count() == 1
        assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
        legend = page.locator(".rc-legend")
        assert legend.is_visible()
        assert [line.strip() for line in legend.inner_text().split("\n") if line.strip()] == [
            "图例",
            "风险等级",
            "重大风险",
            "较大风险",
            "一般风险",
            "低风险",
            "隐患（圆点，颜色为风险等级）",
            "粗黑边：整改已逾期",
            "风险区域（颜色为风险等级）",
            "处置中的事件（数字为事件等级）",
            "近一年预警与事件密度（越红越多）",
            "建筑",
            "道路（虚线为步行道）",
            "校园边界",
        ]
        assert "© OpenStreetMap contributors (ODbL)" in page.locator(".leaflet-control-attribution").inner_text()
        overlays = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert [name.strip() for name in overlays] == [
            "校园边界",
            "建筑",
            "道路",
            "建筑名称",
            "风险区域",
            "近一年预警与事件密度",
            "隐患",
            "处置中的事件",
        ]
        # Metric only: one scale line, in metres.
        assert page.locator(".leaflet-control-scale-line").count() == 1
        assert page.locator(".leaflet-control-scale-line").inner_text().endswith(" m")
        labels = page.locator(".rc-label span").all_inner_texts()
        assert "体育馆" in labels
        assert page.evaluate("riskMapLayers.hazards.getLayers().length") == len(hazards)
        assert page.evaluate("riskMapIndex.zones[2].options.zoneId") == 2

        page.evaluate("riskMapIndex.zones[2].openPopup()")
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert "东区2号楼天台" in popup
        assert "夜间施工" in popup
        assert "每日 22:00–06:00" in popup
        assert "仅内部" in popup
        page.evaluate("riskMap.closePopup()")
        page.locator(".leaflet-popup").wait_for(state="detached")  # it fades out first

        overdue_red = next(h for h in hazards if h.overdue and h.level == "red")
        page.evaluate(
            "id => new Promise(done => riskMapLayers.hazards.zoomToShowLayer(riskMapIndex.hazards[id], done))", overdue_red.id
        )
        marker = page.locator(f'.rc-hz[title="{overdue_red.title}"]')
        assert "rc-overdue" in (marker.get_attribute("class") or "")
        marker.click()
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert overdue_red.title in popup
        assert "已逾期" in popup
        assert "重大风险" in popup
        assert page.locator(".leaflet-popup-content a").get_attribute("href") == f"/hazards/{overdue_red.id}"
        only_local(seen, origin)


def test_over_gcj02_tiles_a_dragged_hazard_reports_its_new_place_in_wgs84(browser: Browser, base: BaseLayers) -> None:
    tiles = TileSource(url_template="/tiles/{z}/{x}/{y}.png", attribution="校园底图", crs="gcj02", max_zoom=19)
    one = hazard(7, *GYM, "red", overdue=True)
    rendered = render_internal(
        hazards=[one], zones=ZONES[:1], incidents=[], heat=[], base=base, lang="en", tiles=tiles, editable=True
    )
    with opened(browser, rendered, width=1000, height=700) as (page, seen, origin):
        assert any("/tiles/" in url for url in seen.requests)
        assert page.locator(".rc-legend").inner_text().startswith("Legend")
        # The browser's GCJ-02 agrees with the Python one, both ways.
        shown = page.evaluate("(([lon, lat]) => { const p = riskMapFromWgs84(lon, lat); return [p.lng, p.lat]; })", list(GYM))
        assert shown == pytest.approx(list(rules.wgs84_to_gcj02(*GYM)), abs=1e-9)
        stored = page.evaluate("riskMapToWgs84(riskMapIndex.hazards[7].getLatLng())")
        assert (stored["lon"], stored["lat"]) == pytest.approx(GYM, abs=2e-6)

        page.evaluate("riskMapLayers.hazards.on('hazardmove', e => { window.__moved = [e.hazardId, e.lon, e.lat, e.from]; })")
        before = page.evaluate("(() => { const p = riskMapIndex.hazards[7].getLatLng(); return [p.lng, p.lat]; })()")

        # Until the page turns editing on, a drag moves nothing.
        drag(page)
        page.wait_for_timeout(200)
        assert page.evaluate("window.__moved === undefined")
        assert page.evaluate("(() => { const p = riskMapIndex.hazards[7].getLatLng(); return [p.lng, p.lat]; })()") == before

        assert page.evaluate("riskMapLayers.hazards.setEditing(true)") is True
        drag(page)
        page.wait_for_function("window.__moved !== undefined")
        hazard_id, lon, lat, came_from = page.evaluate("window.__moved")
        now = page.evaluate("(() => { const p = riskMapIndex.hazards[7].getLatLng(); return [p.lng, p.lat]; })()")
        assert hazard_id == 7
        assert lon > GYM[0]
        assert lat < GYM[1]
        assert (lon, lat) == pytest.approx(rules.gcj02_to_wgs84(*now), abs=1e-9)
        assert (came_from["lon"], came_from["lat"]) == pytest.approx(GYM, abs=2e-6)
        only_local(seen, origin)


def drag(page: Page) -> None:
    """Drag the one hazard dot 80 px right and 20 px down with the mouse."""
    box = page.locator(".rc-hz").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 10, steps=8)
    page.mouse.move(x + 80, y + 20, steps=8)
    page.mouse.up()


def test_a_map_that_cannot_be_edited_never_lets_a_dot_be_dragged(browser: Browser, base: BaseLayers) -> None:
    one = hazard(7, *GYM, "red")
    rendered = render_internal(hazards=[one], zones=[], incidents=[], heat=[], base=base, lang="en", tiles=None, editable=False)
    with opened(browser, rendered) as (page, _, _):
        assert page.evaluate("riskMapLayers.hazards.setEditing(true)") is False
        before = page.evaluate("(() => { const p = riskMapIndex.hazards[7].getLatLng(); return [p.lng, p.lat]; })()")
        drag(page)
        after = page.evaluate("(() => { const p = riskMapIndex.hazards[7].getLatLng(); return [p.lng, p.lat]; })()")
        assert after == before
        assert page.locator(".rc-legend").inner_text().startswith("Legend")


def test_the_public_file_draws_its_zones_from_disk_asking_for_nothing(browser: Browser, base: BaseLayers, tmp_path: Path) -> None:
    path = tmp_path / "campus-safety.html"
    tips = ["夜间请结伴出行，避开施工区域", "遇到危险请拨打校园110"]
    path.write_text(render_public(zones=ZONES, tips=tips, base=base, lang="zh-CN", title="校园安全地图"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    seen = watch(page)
    page.goto(path.as_uri())
    page.wait_for_function("window.riskMapReady === true")
    assert [url for url in seen.requests if not url.startswith(("file://", "data:"))] == []
    assert seen.failed == []
    assert seen.errors == []
    assert page.locator("path.rc-zone").count() == 2
    assert page.locator(".leaflet-interactive").count() > 50  # the buildings and the zones
    assert page.locator(".rc-legend").is_visible()
    assert page.locator(".rc-tips li").all_inner_texts() == tips
    assert "东区2号楼天台" not in page.content()
    assert page.locator("h1").inner_text() == "校园安全地图"
    page.close()


def test_5000_hazards_and_200_zones_are_ready_within_two_seconds(browser: Browser, base: BaseLayers) -> None:
    hazards = campus_hazards(5000)
    zones = [square(i, f"区域{i}", 116.3480 + (i % 20) * 4e-4, 40.0010 + (i // 20) * 4e-4, public=i % 2 == 0) for i in range(200)]
    heat = [HeatPoint(h.lon, h.lat, 1.0 + h.id % 3) for h in hazards]
    rendered = render_internal(
        hazards=hazards, zones=zones, incidents=[INCIDENT], heat=heat, base=base, lang="zh-CN", tiles=None, editable=True
    )
    with opened(browser, rendered) as (page, _, _):
        ready_ms = page.evaluate("window.__readyAt")
        assert page.locator("path.rc-zone").count() == 200
        assert page.evaluate("riskMapLayers.hazards.getLayers().length") == 5000
        assert math.isfinite(ready_ms)
        assert ready_ms < 2000, f"ready after {ready_ms:.0f} ms"
