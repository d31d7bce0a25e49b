"""A counselor has the inbox open on her phone; a red observation is filed; the card appears live and she acknowledges it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import build_worker
from riskcontrol.core.clock import ManualClock
from riskcontrol.escalation.models import Escalation
from riskcontrol.notify.models import Notification
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Class:
    """A class with a counselor, and a dorm room with its dorm head and one student."""

    counselor_id: int
    room_id: int
    student_id: int


def seed(db: Session) -> Class:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    counselor = f.user(db, "counselor", ("counselor", campus["C1K1"]), name="李老师")
    counselor.phone = "13800138000"
    db.commit()
    return Class(counselor.id, campus["C1K1R1"].id, campus.students["C1K1R1"].id)


def file_red(playwright_driver: Playwright, server: LiveServer, seeded: Class) -> int:
    """The dorm head files a red observation through the API; returns the escalation id."""
    api = playwright_driver.request.new_context(base_url=server.url)
    try:
        token = api.post("/api/v1/auth/token", data={"username": "dorm_head", "password": f.PASSWORD}).json()["access_token"]
        filed = api.post(
            "/api/v1/observations",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "client_id": "phone-e2e-0001",
                "unit_id": seeded.room_id,
                "student_id": seeded.student_id,
                "checklist": ["suicide_plan"],
                "note": "她说今晚想结束一切",
                "observed_at": server.app.state.ctx.clock.now().isoformat(),
            },
        )
        assert filed.status == 201, filed.text()
        return int(filed.json()["escalation_id"])
    finally:
        api.dispose()


def open_inbox(phone: BrowserContext, server: LiveServer) -> Page:
    page = phone.new_page()
    sign_in(page, server, "counselor")
    page.goto(server.url + "/inbox")
    page.wait_for_selector("#inbox[data-live]")
    expect(page.locator("#inbox-empty")).to_be_visible()
    return page


def test_a_red_warning_appears_live_with_a_countdown_and_one_tap_acknowledges_it(
    phone: BrowserContext,
    live_server_ws: LiveServer,
    playwright_driver: Playwright,
    db: Session,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    seeded = seed(db)
    page = open_inbox(phone, live_server_ws)
    escalation_id = file_red(playwright_driver, live_server_ws, seeded)
    expect(page.locator(".esc-card")).to_have_count(0)  # nothing until the message goes out

    build_worker(live_server_ws.app.state.ctx).run_once()  # the dispatcher sends the in-app message

    card = page.locator(f'.esc-card[data-id="{escalation_id}"]')
    expect(card).to_be_visible()
    expect(card).to_have_class(re.compile(r"\blevel-red\b"))
    expect(card.locator(".level-badge")).to_have_text("紧急")
    expect(card.locator(".esc-title")).to_contain_text("异常情况报告")
    countdown = card.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^剩余 0[45]:\d\d$"))
    before = countdown.inner_text()
    page.wait_for_function(
        "before => document.querySelector('.esc-card .countdown').textContent !== before", arg=before, timeout=3000
    )
    expect(page.locator("#recent-list")).to_contain_text("异常情况报告")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "inbox-live-390x844.png"), full_page=False)

    def delivered() -> bool:
        with sessions() as check:
            items = check.execute(select(Notification).where(Notification.user_id == seeded.counselor_id)).scalars().all()
            return bool(items) and all(item.delivered_at is not None for item in items)

    # The page sends a receipt for each item it shows, and marks the item once the server stored it.
    with sessions() as check:
        shown = check.execute(select(Notification.id).where(Notification.user_id == seeded.counselor_id)).scalars().all()
    assert shown
    for item_id in shown:
        expect(page.locator(f'#recent-list .recent-item[data-id="{item_id}"]')).to_have_attribute("data-delivered", "1")
    assert delivered()  # the page sent a receipt for what it showed

    card.get_by_role("button", name="确认").click()
    expect(card.locator(".esc-status")).to_contain_text("已确认")
    expect(card.get_by_role("button", name="确认")).to_be_hidden()
    with sessions() as check:
        esc = check.get(Escalation, escalation_id)
        assert esc is not None
        assert (esc.status, esc.acknowledged_by, esc.acknowledged_via) == ("acknowledged", seeded.counselor_id, "app")
    page.screenshot(path=str(tmp_path / "inbox-acknowledged-390x844.png"), full_page=False)


def test_a_warning_sent_while_the_phone_was_offline_shows_once_it_reconnects(
    phone: BrowserContext, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session
) -> None:
    seeded = seed(db)
    page = open_inbox(phone, live_server_ws)
    phone.set_offline(True)
    expect(page.locator("#conn-banner")).to_have_text("当前离线，恢复网络后自动更新。")

    escalation_id = file_red(playwright_driver, live_server_ws, seeded)
    build_worker(live_server_ws.app.state.ctx).run_once()
    phone.set_offline(False)

    # Back online the page opens a fresh connection; its snapshot (and the list) catch up.
    expect(page.locator(f'.esc-card[data-id="{escalation_id}"]')).to_be_visible(timeout=10_000)
    expect(page.locator("#conn-banner")).to_be_hidden()
    expect(page.locator("#recent-list")).to_contain_text("异常情况报告")


def test_a_warning_told_late_after_an_outage_says_so_and_counts_down_from_its_schedule(
    phone: BrowserContext, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session, clock: ManualClock
) -> None:
    seeded = seed(db)
    page = open_inbox(phone, live_server_ws)
    escalation_id = file_red(playwright_driver, live_server_ws, seeded)
    clock.advance(timedelta(minutes=2))  # nothing swept for two minutes: the worker was down
    build_worker(live_server_ws.app.state.ctx).run_once()

    card = page.locator(f'.esc-card[data-id="{escalation_id}"]')
    expect(card).to_be_visible()
    expect(card).to_have_class(re.compile(r"\bis-late\b"))
    expect(card.locator(".esc-meta")).to_contain_text("晚了 2 分钟送达")
    # The class's 5-minute window ran from the report, so 3 minutes are left, not 5.
    expect(card.locator(".countdown")).to_have_text(re.compile(r"^剩余 0[23]:\d\d$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
