"""The risk map in Chromium, with nothing reachable beyond this machine.

The school's safety officer opens 风险地图: the campus is drawn from the shipped geometry, hazards and
zones are on it with the Chinese legend, and not one request fails or leaves 127.0.0.1. She clicks the
map to place a new hazard and saves it. Nothing moves while the editor is closed; with it open a drag
asks first, can be cancelled or undone, and a move the server refuses puts the dot back. A class
monitor on her phone sees only the public zones. The public file exported for the official account opens from disk
and shows the public zones and nothing internal.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect
from sqlalchemy.orm import Session

from riskcontrol.hazards.models import Hazard, Zone
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser

LAB = (116.350289, 40.005229)  # a lab building of the shipped campus
PUBLIC_ZONE = "西区湖边小路（夜间）"
INTERNAL_ZONE = "实验楼危化品库"
HAZARD = "实验楼气瓶未固定"


def square(lon: float, lat: float, half: float = 0.0004) -> list[list[float]]:
    return [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half]]


@pytest.fixture
def seeded(live_server: LiveServer, db: Session) -> dict[str, Any]:
    campus = f.build_campus(db)
    f.user(db, "safety", ("safety_officer", campus["S"]), name="保卫处王老师")
    f.user(db, "monitor", ("class_monitor", campus["C1K1"]), name="陈班长")
    db.commit()
    with httpx.Client(base_url=live_server.url) as api:
        token = api.post("/api/v1/auth/token", json={"username": "safety", "password": f.PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        hazard = api.post(
            "/api/v1/hazards",
            headers=headers,
            json={
                "title": HAZARD,
                "category": "lab",
                "unit_id": campus["C1"].id,
                "location": {"type": "Point", "coordinates": list(LAB)},
                "likelihood": 4,
                "impact": 4,
            },
        )
        assert hazard.status_code == 201, hazard.text
        for name, public, where in ((PUBLIC_ZONE, True, (116.3481, 40.0036)), (INTERNAL_ZONE, False, (116.3515, 40.0046))):
            zone = api.post(
                "/api/v1/zones",
                headers=headers,
                json={
                    "name": name,
                    "level": "red",
                    "reason": "照明不足" if public else "危险化学品集中存放",
                    "public": public,
                    "tip": "夜间请绕行主路" if public else "",
                    "windows": [{"start": "22:00", "end": "06:00"}] if public else [],
                    "location": {"type": "Polygon", "coordinates": [square(*where)]},
                },
            )
            assert zone.status_code == 201, zone.text
    return {"hazard_id": hazard.json()["id"], "campus": campus}


class Network:
    """Every request the page made, the failed ones and those that left this machine; console errors."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.failed: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.on("requestfailed", lambda request: self.failed.append(request.url))
        page.on("request", self._request)
        page.on(
            "response",
            lambda response: self.failed.append(f"{response.status} {response.url}") if response.status >= 400 else None,
        )
        page.on(
            "console",
            lambda message: self.errors.append(message.text + " " + str(message.location)) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request: Request) -> None:
        if not request.url.startswith((self.origin, "data:", "file:")):
            self.foreign.append(request.url)

    def clean(self) -> None:
        assert (self.failed, self.foreign, self.errors) == ([], [], [])


def watch_from_here(page: Page, origin: str) -> Network:
    """Watch the network once the page in hand (the home page after signing in) has settled, so that
    its own requests, cut short by the next navigation, are not counted against the map."""
    page.wait_for_load_state("networkidle")
    return Network(page, origin)


def open_map(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/risk-map")
    page.wait_for_function("window.riskMapReady === true")


def test_the_safety_officer_sees_the_map_offline_and_places_a_new_hazard(
    browser: Browser, live_server: LiveServer, seeded: dict[str, Any], db: Session, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    sign_in(page, live_server, "safety")
    network = watch_from_here(page, live_server.url)
    open_map(page, live_server)
    index = page.evaluate(
        "({hazards: Object.keys(riskMapIndex.hazards), zones: Object.keys(riskMapIndex.zones).length,"
        " buildings: riskMapLayers.buildings.getLayers().length})"
    )
    assert index["hazards"] == [str(seeded["hazard_id"])]
    assert index["zones"] == 2
    assert index["buildings"] > 50  # the real campus geometry
    legend = page.locator(".rc-legend")
    expect(legend).to_contain_text("重大风险")
    expect(legend).to_contain_text("低风险")
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
    expect(page.locator(".leaflet-interactive").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "risk-map-1280.png"))

    # Place a new hazard by clicking the map; the coordinates fill in; save; it is on the map after the reload.
    page.click(".rm-editor summary")
    page.fill(".rm-panel input[name=title]", "东门路灯损坏")
    page.select_option(".rm-panel select[name=category]", "traffic")
    page.select_option(".rm-panel select[name=likelihood]", "3")
    page.select_option(".rm-panel select[name=impact]", "3")
    box = page.locator("#" + page.evaluate("riskMap.getContainer().id")).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.35)
    expect(page.locator(".rm-panel input[name=lon]")).not_to_have_value("")
    with page.expect_navigation():
        page.click(".rm-save")
    page.wait_for_function("window.riskMapReady === true")
    titles = page.evaluate("Object.keys(riskMapIndex.hazards).length")
    assert titles == 2
    created = db.query(Hazard).filter(Hazard.title == "东门路灯损坏").one()
    assert (created.state, created.level, created.origin) == ("assessed", "yellow", "report")
    assert created.lon is not None
    assert 116.3 < created.lon < 116.4
    db.commit()  # end the read, so that the server may write (SQLite)

    # Redrawing a zone: pick it on the map in zone mode, click its new corners, save.
    zone = db.query(Zone).filter(Zone.name == INTERNAL_ZONE).one()
    before = zone.geometry
    db.commit()
    page.click(".rm-editor summary")
    page.click(".rm-mode >> nth=1")
    page.evaluate(f"riskMapIndex.zones[{zone.id}].fire('click')")
    expect(page.locator(".rm-redraw")).to_contain_text(f"#{zone.id}")
    for fx, fy in ((0.3, 0.3), (0.4, 0.3), (0.4, 0.45), (0.3, 0.45)):
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    expect(page.locator(".rm-corners")).to_contain_text("4")
    with page.expect_navigation():
        page.click(".rm-save")
    page.wait_for_function("window.riskMapReady === true")
    db.expire_all()
    redrawn = db.get(Zone, zone.id)
    assert redrawn is not None
    assert redrawn.geometry != before
    assert len(redrawn.geometry["coordinates"][0]) == 5  # four corners, closed
    assert redrawn.name == INTERNAL_ZONE
    network.clean()
    context.close()


def test_a_monitor_on_her_phone_sees_only_public_zones(
    phone: BrowserContext, live_server: LiveServer, seeded: dict[str, Any], tmp_path: Path
) -> None:
    page = phone.new_page()
    sign_in(page, live_server, "monitor")
    network = watch_from_here(page, live_server.url)
    page.goto(live_server.url + "/risk-map")
    expect(page.get_by_text(PUBLIC_ZONE).first).to_be_attached()
    content = page.content()
    assert INTERNAL_ZONE not in content
    assert HAZARD not in content
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "risk-map-public-390x844.png"))
    network.clean()


def test_the_exported_public_map_opens_from_disk_with_public_zones_only(
    browser: Browser, live_server: LiveServer, seeded: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    out = tmp_path / "public.html"
    env = {"RISKCONTROL_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "riskcontrol"), "riskmap", "export", "--public", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert PUBLIC_ZONE in html
    assert "夜间请绕行主路" in html
    for internal in (INTERNAL_ZONE, "危险化学品集中存放", HAZARD, "保卫处王老师", "/static/", "http://127.0.0.1"):
        assert internal not in html, internal
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    network = Network(page, "file://")
    page.goto(out.as_uri())
    expect(page.get_by_text(PUBLIC_ZONE).first).to_be_attached()
    expect(page.locator(".leaflet-interactive").first).to_be_visible()
    network.clean()
    context.close()


# ---- moving a hazard: only in edit mode, asked first, undoable, put back when not saved -----------------


def desk_page(browser: Browser, live_server: LiveServer) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    sign_in(page, live_server, "safety")
    open_map(page, live_server)
    return context, page


def drag_the_dot(page: Page, dx: float = 80, dy: float = 20) -> None:
    """Press on the hazard's dot and drag it by (dx, dy) pixels, as a hand on a mouse would."""
    box = page.locator(".rc-hz").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=8)
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


def stored(db: Session, hazard_id: int) -> tuple[float | None, float | None]:
    """Where the ledger has the hazard now (a fresh read, ended so that the server may write)."""
    db.expire_all()
    hazard = db.get(Hazard, hazard_id)
    assert hazard is not None
    where = (hazard.lon, hazard.lat)
    db.commit()
    return where


def shown(page: Page, hazard_id: int) -> list[float]:
    return list(page.evaluate(f"(() => {{ const p = riskMapIndex.hazards[{hazard_id}].getLatLng(); return [p.lng, p.lat]; }})()"))


def test_dragging_a_dot_with_the_editor_closed_moves_nothing(
    browser: Browser, live_server: LiveServer, seeded: dict[str, Any], db: Session
) -> None:
    context, page = desk_page(browser, live_server)
    hid = seeded["hazard_id"]
    network = Network(page, live_server.url)
    drag_the_dot(page)
    page.wait_for_timeout(300)  # a save, were one sent, would be under way by now
    assert stored(db, hid) == pytest.approx(LAB)
    assert shown(page, hid) == pytest.approx(list(LAB))
    expect(page.locator(".rm-move")).to_be_hidden()

    # A click on the map picks nothing either while the editor is closed.
    box = page.locator("#" + page.evaluate("riskMap.getContainer().id")).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    assert page.locator(".rm-pick").count() == 0
    expect(page.locator(".rm-panel input[name=lon]")).to_have_value("")
    network.clean()
    context.close()


def test_a_drag_in_edit_mode_asks_first_and_a_saved_move_can_be_undone(
    browser: Browser, live_server: LiveServer, seeded: dict[str, Any], db: Session
) -> None:
    context, page = desk_page(browser, live_server)
    hid = seeded["hazard_id"]
    network = Network(page, live_server.url)
    page.click(".rm-editor summary")
    bar = page.locator(".rm-move")

    # Dropped, then cancelled: nothing saved and the dot is back.
    drag_the_dot(page)
    expect(bar).to_contain_text(f"把“{HAZARD}”移到这里？")
    assert stored(db, hid) == pytest.approx(LAB)
    page.click(".rm-move-cancel")
    expect(bar).to_be_hidden()
    assert shown(page, hid) == pytest.approx(list(LAB))
    assert stored(db, hid) == pytest.approx(LAB)

    # Dropped and confirmed: saved where it was dropped, east and a little south.
    drag_the_dot(page)
    page.click(".rm-move-confirm")
    expect(bar).to_contain_text(f"已移动：{HAZARD}")
    expect(page.locator(".rm-status")).to_contain_text(f"已移动：{HAZARD}")
    lon, lat = stored(db, hid)
    assert lon is not None
    assert lat is not None
    assert lon > LAB[0]
    assert lat < LAB[1]
    assert [lon, lat] == pytest.approx(shown(page, hid), abs=1e-6)

    # Undone: back on the ledger and on the map where it was.
    page.click(".rm-move-undo")
    expect(page.locator(".rm-status")).to_contain_text(f"已移回原处：{HAZARD}")
    assert stored(db, hid) == pytest.approx(LAB)
    assert shown(page, hid) == pytest.approx(list(LAB))
    network.clean()
    context.close()


def test_a_move_the_server_refuses_puts_the_dot_back_and_says_why(
    browser: Browser, live_server: LiveServer, seeded: dict[str, Any], db: Session
) -> None:
    context, page = desk_page(browser, live_server)
    hid = seeded["hazard_id"]

    def refuse(route: Route) -> None:
        if route.request.method == "PATCH":
            route.fulfill(status=500, content_type="application/json", json={"error": "x", "message": "数据库暂时不可用"})
        else:
            route.continue_()

    page.route(f"**/api/v1/hazards/{hid}", refuse)
    page.click(".rm-editor summary")
    drag_the_dot(page)
    page.click(".rm-move-confirm")
    expect(page.locator(".rm-status")).to_contain_text("数据库暂时不可用")
    expect(page.locator(".rm-status")).to_have_class(re.compile("rm-bad"))
    expect(page.locator(".rm-move")).to_contain_text("移动未保存，圆点已放回原处")
    assert shown(page, hid) == pytest.approx(list(LAB))
    assert stored(db, hid) == pytest.approx(LAB)

    # No answer at all (the network is down): the same.
    page.unroute(f"**/api/v1/hazards/{hid}")
    page.route(f"**/api/v1/hazards/{hid}", lambda route: route.abort())
    drag_the_dot(page)
    page.click(".rm-move-confirm")
    expect(page.locator(".rm-status")).to_contain_text("无法连接服务器")
    assert shown(page, hid) == pytest.approx(list(LAB))
    assert stored(db, hid) == pytest.approx(LAB)
    context.close()
