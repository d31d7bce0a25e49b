"""随手拍 in Chromium on a dorm head's phone.

The dorm head of E1-101 signs in on her phone (390×844), taps 随手拍 on the home page, writes what she sees,
picks 消防 and East Block 1, says where on the floor, attaches the photo she took and sends it. She lands on
我上报的隐患 told its number, and the hazard is on the ledger with her photo. Nothing is wider than the phone,
logs an error or reaches beyond this machine.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, FilePayload, Page, expect
from sqlalchemy import select

from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.hazards.models import Hazard
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.e2e.test_risk_map_page import watch_from_here
from tests.integration import conftest as scenario
from tests.integration.conftest import Night

pytestmark = pytest.mark.browser

# The demo campus, as the integration scenarios have it; the live server shares its database.
night = scenario.night

TITLE = "东区1号楼3楼消防门关不上"


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def test_the_dorm_head_reports_a_broken_fire_door_from_her_phone(
    night: Night, live_server: LiveServer, phone: BrowserContext, tmp_path: Path
) -> None:
    picture = photo()
    page = phone.new_page()
    sign_in(page, live_server, "dorm_e1_101", DEMO_PASSWORD)
    network = watch_from_here(page, live_server.url)
    fits_the_phone(page)
    page.locator("a.action-hazard-report").click()
    page.wait_for_url(live_server.url + "/hazards/report")
    expect(page.locator("h1")).to_have_text("随手拍 · 隐患上报")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "hazard-report-390x844.png"), full_page=True)

    page.get_by_label("隐患名称", exact=True).fill(TITLE)
    page.get_by_label("类别", exact=True).select_option("fire")
    page.get_by_label("地点", exact=True).select_option("E1")
    page.get_by_label("具体位置 / 其他地点", exact=True).fill("东侧楼梯间")
    page.get_by_label("楼层或房间（选填）", exact=True).fill("3F")
    door: FilePayload = {"name": "door.jpg", "mimeType": "image/jpeg", "buffer": picture}
    page.get_by_label("照片", exact=True).set_input_files(files=[door])
    page.get_by_label("补充说明（选填）", exact=True).fill("闭门器坏了，门一直开着。")
    fits_the_phone(page)
    page.get_by_role("button", name="提交上报").click()

    page.wait_for_url(re.compile(r".*/hazards/mine\?reported=\d+$"))
    hazard_id = int(page.url.rsplit("=", 1)[1])
    expect(page.locator(".hr-flash")).to_contain_text(f"已上报，编号 #{hazard_id}")
    mine = page.locator(f"#hazard-{hazard_id}")
    expect(mine.locator(".hr-item-title")).to_have_text(TITLE)
    expect(mine.locator(".hr-state")).to_have_text("待评估")
    expect(mine.locator(".hr-place")).to_have_text("东区1号楼 · 东侧楼梯间 · 3F")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "hazard-mine-390x844.png"), full_page=True)

    with night.sessions() as db:
        hazard = db.get(Hazard, hazard_id)
        assert hazard is not None
        assert (hazard.title, hazard.origin, hazard.state, hazard.place) == (TITLE, "report", "reported", "E1")
        assert [p["type"] for p in hazard.photos] == ["image/jpeg"]
        with Image.open(Path(hazard.photos[0]["file"])) as stored:  # re-encoded, without metadata
            assert (stored.format, stored.size) == ("JPEG", (64, 48))
        assert db.execute(select(Hazard.id).where(Hazard.title == TITLE)).scalars().all() == [hazard_id]
    page.wait_for_load_state("networkidle")
    network.clean()
