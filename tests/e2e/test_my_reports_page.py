"""The dorm head of 东1-101 files a red report from her phone at 22:00, and follows it in "我的报告": it waits,
the counsellor acknowledges at 22:05, and when she looks at the page again it says who acknowledged it and when.

Her phone is 390×844; nothing is wider than the screen, every link and button is a big enough target, and the
page never shows the student's number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from riskcontrol.demo import DEMO_PASSWORD
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.integration import conftest as scenario
from tests.integration.conftest import Night
from tests.integration.test_my_reports import roommate

pytestmark = pytest.mark.browser

# The demo campus on a manual clock, as the integration scenarios have it; the live server shares its database.
night = scenario.night

MIN_TARGET_PX = 44


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def small_targets(page: Page) -> list[str]:
    """The links and buttons in the page's main part less than 44 px high."""
    found: list[str] = page.evaluate(
        """(min) => [...document.querySelectorAll("main a, main button")]
             .filter((el) => el.getBoundingClientRect().height < min)
             .map((el) => el.textContent.trim())""",
        MIN_TARGET_PX,
    )
    return found


def test_the_dorm_head_sees_her_red_report_acknowledged_in_my_reports(
    night: Night, live_server: LiveServer, phone: BrowserContext, tmp_path: Path
) -> None:
    student, _ = roommate(night)
    counsellor = night.user("counselor_cs")
    page = phone.new_page()
    sign_in(page, live_server, "dorm_e1_101", DEMO_PASSWORD)

    page.goto(live_server.url + "/observe")
    page.wait_for_selector("#observe[data-ready]")
    page.fill("#student-q", student.name)
    page.locator("#student-options button.suggestion").first.click()
    page.check("input[name=checklist][value=suicide_plan]")
    page.fill("#note", "桌上有很多药瓶，写了信")
    page.click("#submit")
    receipt = page.locator(".result-delivered")
    expect(receipt).to_have_count(1)
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "observe-receipt-390x844.png"), full_page=False)

    # From the receipt to her reports: the report waits for a teacher.
    receipt.locator("a.result-mine-link").click()
    page.wait_for_selector("#my-reports[data-ready]")
    card = page.locator(".mr-card")
    expect(card).to_have_count(1)
    expect(card).to_have_class("card mr-card level-red mr-state-open")
    expect(card).to_contain_text("已上报，等待确认")
    expect(card).to_contain_text(student.name)
    expect(card).to_contain_text("22:00 提交")
    expect(card.locator(".level-badge")).to_have_text("紧急")
    page.screenshot(path=str(tmp_path / "my-reports-waiting-390x844.png"), full_page=False)

    # The counsellor acknowledges from her own phone at 22:05.
    night.at("22:05")
    waiting = night.client.get("/api/v1/escalations?mine=true", headers=night.token("counselor_cs")).json()
    assert len(waiting) == 1
    acked = night.client.post(f"/api/v1/escalations/{waiting[0]['id']}/ack", headers=night.token("counselor_cs"))
    assert acked.status_code == 200, acked.text

    # She comes back to the page (the phone shows the tab again): it says who acknowledged, and when.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(card).to_contain_text(f"已由 {counsellor.name} 于 22:05 确认")
    expect(page.locator("#my-reports")).to_have_attribute("data-refreshed", re.compile(r"^[1-9]"))
    assert student.student_no not in page.content()
    fits_the_phone(page)
    assert small_targets(page) == []
    page.screenshot(path=str(tmp_path / "my-reports-acknowledged-390x844.png"), full_page=True)

    # And from the home page's tile, the next time.
    page.goto(live_server.url + "/")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "home-390x844.png"), full_page=False)
    page.locator("a.action-my-reports").click()
    expect(page.locator(".mr-card")).to_contain_text(f"已由 {counsellor.name} 于 22:05 确认")
    fits_the_phone(page)
