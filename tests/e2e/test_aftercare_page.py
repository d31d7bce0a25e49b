"""善后与复盘 in Chromium on a counsellor's phone.

A student of CS2301 went missing last night; the incident was walked through recovery to closed, so its recovery
plan is open. The counsellor, on her phone, opens the incident page, follows 善后与复盘 in its header, and records
the one-week follow-up done with a note: the task reads 完成, the page says a note exists but not what it says, and
nothing is wider than the phone, logs an error or reaches beyond this machine. Student affairs, on a phone too,
opens every form of the page (schedule, record as held, add an action): they fit the screen as well.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from riskcontrol.demo import DEMO_PASSWORD
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.e2e.test_risk_map_page import watch_from_here
from tests.integration import conftest as scenario
from tests.integration.conftest import Night
from tests.integration.test_aftercare_page import NOTE, closed_incident, item_id

pytestmark = pytest.mark.browser

# The demo campus on a manual clock, as the integration scenarios have it; the live server shares its database.
night = scenario.night


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_counsellor_records_a_follow_up_done_from_her_phone(
    night: Night, live_server_ws: LiveServer, phone: BrowserContext, tmp_path: Path
) -> None:
    iid = closed_incident(night)
    follow_up = item_id(night, iid, "follow_up_1w")
    page = phone.new_page()
    sign_in(page, live_server_ws, "counselor_cs", DEMO_PASSWORD)
    network = watch_from_here(page, live_server_ws.url)
    page.goto(f"{live_server_ws.url}/incidents/{iid}")
    expect(page.locator("#inc-state")).to_have_text("结案")
    page.get_by_role("link", name="善后与复盘").click()
    page.wait_for_url(re.compile(rf".*/incidents/{iid}/aftercare$"))
    expect(page.locator("h1")).to_have_text("善后与复盘")
    expect(page.locator(".ac-incident-title")).to_have_text("学生失联")
    expect(page.locator(".ac-person").first).to_have_text("学生甲（失联）")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "aftercare-390x844.png"), full_page=True)

    item = page.locator(f"li.ac-item[data-item='{follow_up}']")
    expect(item).to_contain_text("一周随访")
    expect(item.locator(".ac-badge")).to_have_text("进行中")
    item.locator("summary").click()
    note = item.get_by_label("记录（仅心理中心可见）")
    expect(note).to_be_visible()
    fits_the_phone(page)
    note.fill(NOTE)
    item.get_by_role("button", name="确认完成").click()

    page.wait_for_url(re.compile(rf".*/incidents/{iid}/aftercare\?done=recovery$"))
    expect(page.locator(".pv-flash")).to_have_text("已记录完成。")
    item = page.locator(f"li.ac-item[data-item='{follow_up}']")
    expect(item.locator(".ac-badge")).to_have_text("完成")
    expect(item.locator(".ac-note-hidden")).to_have_text("已有记录（仅心理中心可见）")
    expect(item.locator("summary")).to_have_count(0)
    assert NOTE not in page.locator("body").inner_text()
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "aftercare-done-390x844.png"), full_page=True)
    page.wait_for_load_state("networkidle")
    network.clean()


def test_student_affairs_forms_fit_the_phone(night: Night, live_server: LiveServer, browser: Browser) -> None:
    iid = closed_incident(night)
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    sign_in(page, live_server, "affairs", DEMO_PASSWORD)
    network = watch_from_here(page, live_server.url)
    page.goto(f"{live_server.url}/incidents/{iid}/aftercare")
    folds = page.locator("details.ac-fold > summary")
    expect(folds).to_have_count(7 + 3)  # the seven tasks of the plan; schedule, record as held, add an action
    for index in range(folds.count()):
        folds.nth(index).click()
    expect(page.locator("input[name=scheduled_for]")).to_be_visible()
    expect(page.locator("input[name=due]")).to_be_visible()
    fits_the_phone(page)
    network.clean()
    context.close()
