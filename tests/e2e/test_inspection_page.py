"""On his phone the safety officer of East Block 1 walks this month's dorm inspection and files one hazard.

He signs in, opens 安全检查 and sees his building's round, amber (待检查). He starts it: the checklist
shows each item with 合格 / 不合格, and a counter. He finds e-bikes charging on the third floor, ticks that
item failed, and the box for what he found opens; he writes it down. The phone locks and the page
reloads: what he ticked is still there. He tries to hand in too early and is told how many items are
left; he ticks the rest OK with one tap and hands in. He is back on his list with the round green and
told that one failed item is on the hazard ledger, which holds it at East Block 1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.grid import service as grid_service
from riskcontrol.grid.rules import UnitKind
from riskcontrol.hazards import inspections
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.hazards.inspections import InspectionConfig
from riskcontrol.hazards.models import Hazard
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser

EBIKES = "电动车进楼入户充电"


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_e1_safety_officer_walks_his_building_on_his_phone_and_files_one_hazard(
    phone: BrowserContext, live_server: LiveServer, db: Session, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    campus = f.build_campus(db)
    e1 = grid_service.create_unit(
        db, code="E1", kind=UnitKind.BUILDING, name_zh="东区1号楼", name_en="East Block 1", parent=campus["S"]
    )
    f.user(db, "safety_e1", ("safety_officer", e1), name="王安全")
    cfg: InspectionConfig = live_server.app.state.ctx.extras["inspections"]
    assert inspections.open_rounds(db, live_server.app.state.ctx.clock, cfg) > 0
    db.commit()
    with sessions() as check:
        round_id = check.execute(select(InspectionRound.id).where(InspectionRound.place_code == "E1")).scalar_one()

    page = phone.new_page()
    sign_in(page, live_server, "safety_e1")
    page.goto(live_server.url + "/inspections")
    rounds = page.locator(".insp-round")
    expect(rounds).to_have_count(1)  # his building's round alone
    mine = rounds.first
    expect(mine.locator(".pv-round-label")).to_have_text("东区1号楼")
    expect(mine).to_have_class(re.compile(r"\bpv-due\b"))
    expect(mine.locator(".pv-status")).to_have_text("待检查")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "inspections-list-390x844.png"), full_page=True)

    mine.locator("a.insp-walk").click()
    page.wait_for_url(re.compile(rf".*/inspections/{round_id}$"))
    items = page.locator(".insp-item")
    total = items.count()
    assert total == 9
    expect(page.locator("#insp-progress")).to_have_text(f"已检查 0/{total} 项 · 不合格 0 项")
    expect(page.locator(".insp-failed").first).to_be_hidden()  # only a failed item asks what was found

    ebikes = page.locator(".insp-item", has_text=EBIKES)
    ebikes.locator(".insp-choice-failed").click()
    expect(ebikes.locator("textarea")).to_be_visible()
    ebikes.locator("textarea").fill("3楼东侧楼道2辆电动车充电")
    ebikes.locator(".insp-failed input").fill("3F")
    expect(page.locator("#insp-progress")).to_have_text(f"已检查 1/{total} 项 · 不合格 1 项")
    fits_the_phone(page)

    # The phone locked and the page came back: the walk so far is kept.
    page.reload()
    ebikes = page.locator(".insp-item", has_text=EBIKES)
    expect(ebikes.locator(".insp-choice-failed input")).to_be_checked()
    expect(ebikes.locator("textarea")).to_have_value("3楼东侧楼道2辆电动车充电")
    expect(page.locator("#insp-restored")).to_be_visible()

    page.click("#insp-submit")
    expect(page.locator("#insp-check")).to_have_text(f"还有 {total - 1} 项没有勾选，请逐项检查。")
    assert page.url.endswith(f"/inspections/{round_id}")

    page.click("#insp-rest-ok")
    expect(page.locator("#insp-progress")).to_have_text(f"已检查 {total}/{total} 项 · 不合格 1 项")
    expect(page.locator("#insp-rest-ok")).to_be_hidden()
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "inspection-walk-390x844.png"), full_page=True)
    page.click("#insp-submit")

    page.wait_for_url(re.compile(rf".*/inspections\?done={round_id}$"))
    expect(page.locator(".pv-flash")).to_have_text("已提交：东区1号楼，1 项不合格已登记为隐患。")
    done = page.locator(".insp-done .insp-round")
    expect(done).to_have_class(re.compile(r"\bpv-done\b"))
    expect(done.locator(".pv-round-done")).to_contain_text("王安全")
    expect(done.locator(".pv-round-done")).to_contain_text("发现隐患 1 处")
    fits_the_phone(page)

    with sessions() as check:
        row = check.get_one(InspectionRound, round_id)
        hazard = check.execute(select(Hazard).where(Hazard.origin_ref == f"round:{round_id}:ebike_charging")).scalar_one()
    assert (row.status, row.late, row.hazard_ids) == ("done", False, [hazard.id])
    assert (hazard.building, hazard.floor, hazard.level) == ("东区1号楼", "3F", "red")
    assert hazard.geometry is not None
    assert hazard.geometry["coordinates"] == [row.lon, row.lat]

    # The round reads back with its results, and nothing is left to tick.
    done.locator("a").click()
    expect(page.locator(".insp-result", has_text=EBIKES).locator(".pv-status")).to_have_text("不合格")
    expect(page.locator("#insp-form")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "inspection-results-390x844.png"), full_page=True)
