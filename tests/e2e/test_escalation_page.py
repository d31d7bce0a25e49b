"""On her phone the counsellor acknowledges a red warning from the inbox, opens its page, rings the student's
mother (the number shows only when she taps, and the read is audited), and hands it over to the college's
officer, who resolves it from his own phone with what was done."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import build_worker
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Student, User
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.e2e.test_inbox_page import Class, file_red
from tests.e2e.test_inbox_page import seed as seed_class

pytestmark = pytest.mark.browser


def seed(db: Session) -> tuple[Class, int]:
    """The inbox's class (a counsellor, a dorm head, a student), the college's officer, and phones for all; the
    class and the officer's id."""
    seeded = seed_class(db)
    college = db.execute(select(OrgUnit).where(OrgUnit.code == "C1")).scalar_one()
    officer = f.user(db, "officer", ("college_officer", college), name="赵书记")
    officer.phone = "13600136000"
    head = db.execute(select(User).where(User.username == "dorm_head")).scalar_one()
    head.phone = "13700137000"
    student = db.get(Student, seeded.student_id)
    assert student is not None
    student.guardians[0].phone = "13912345678"
    db.commit()
    return seeded, officer.id


def phone_of(browser: Browser, clock: ManualClock) -> BrowserContext:
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.clock.install(time=clock.now())
    return context


def fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_acknowledge_open_the_page_ring_the_mother_hand_over_and_the_officer_resolves(
    phone: BrowserContext,
    browser: Browser,
    live_server_ws: LiveServer,
    playwright_driver: Playwright,
    db: Session,
    sessions: sessionmaker[Session],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    seeded, officer_id = seed(db)
    escalation_id = file_red(playwright_driver, live_server_ws, seeded)
    build_worker(live_server_ws.app.state.ctx).run_once()  # the class is told

    # Acknowledge from the inbox card, then open the page from the same card.
    page = phone.new_page()
    sign_in(page, live_server_ws, "counselor")
    page.goto(live_server_ws.url + "/inbox")
    card = page.locator(f'.esc-card[data-id="{escalation_id}"]')
    expect(card).to_be_visible()
    card.get_by_role("button", name="确认").click()
    expect(card.locator(".esc-status")).to_contain_text("已确认")
    card.get_by_role("link", name="查看详情与处置").click()
    page.wait_for_url(f"{live_server_ws.url}/escalations/{escalation_id}")

    expect(page.locator(".esc-state")).to_have_text("已确认")
    expect(page.locator(".esc-status-line").first).to_contain_text("李老师 于")
    expect(page.locator(".tick-list")).to_contain_text("自杀计划或准备")
    expect(page.locator(".esc-note")).to_have_text("她说今晚想结束一切")
    expect(page.locator(".esc-room")).to_contain_text("单位C1K1R1")
    expect(page.locator(".story-list")).to_contain_text("李老师在系统中确认")
    fits(page)
    page.screenshot(path=str(tmp_path / "escalation-acknowledged-390x844.png"), full_page=True)

    # No number is on the page until she taps for the mother's; then one tap rings it.
    assert "tel:" not in page.content()
    assert "13912345678" not in page.content()
    mother = page.locator(".contact", has_text="家长（母亲）")
    button = mother.get_by_role("button", name="显示电话")
    assert button.bounding_box()["height"] >= 44  # type: ignore[index]
    button.click()
    call = mother.get_by_role("link", name=re.compile(r"^拨打 139 1234 5678$"))
    expect(call).to_have_attribute("href", "tel:+8613912345678")
    assert call.bounding_box()["height"] >= 44  # type: ignore[index]
    with sessions() as check:
        [read] = check.execute(select(AuditLog).where(AuditLog.action == "escalation.phone.read")).scalars().all()
        assert (read.actor, read.subject_type, read.subject_id) == ("counselor", "escalation", str(escalation_id))
        assert read.detail["contact"] == "guardian"

    # She hands it over to the college's officer, with a word for him.
    page.get_by_text("交接给同事").click()
    page.get_by_label("交给谁").select_option(label="赵书记 · 院系学工（单位C1）")
    page.get_by_label("交接说明（可不填）").fill("我在外地，请您接手")
    page.get_by_role("button", name="确认交接").click()
    expect(page.locator(".esc-status-line", has_text="现由 赵书记 负责")).to_be_visible()
    expect(page.locator(".story-list")).to_contain_text("李老师交接给赵书记：我在外地，请您接手")
    page.screenshot(path=str(tmp_path / "escalation-handed-over-390x844.png"), full_page=True)

    # The officer opens it on his own phone and resolves it with what was done.
    theirs = phone_of(browser, clock)
    try:
        his = theirs.new_page()
        sign_in(his, live_server_ws, "officer")
        his.goto(f"{live_server_ws.url}/escalations/{escalation_id}")
        his.get_by_text("填写处置结果").click()
        his.get_by_label("做了什么，结果如何").fill("已联系家长，学生由辅导员陪同就医")
        his.get_by_role("button", name="确认处置完毕").click()
        expect(his.locator(".esc-state")).to_have_text("已处置")
        expect(his.locator(".story-list")).to_contain_text("赵书记处置完毕：已联系家长，学生由辅导员陪同就医")
        fits(his)
        his.screenshot(path=str(tmp_path / "escalation-resolved-390x844.png"), full_page=True)
    finally:
        theirs.close()
    with sessions() as check:
        esc = check.get(Escalation, escalation_id)
        assert esc is not None
        assert (esc.status, esc.held_by, esc.resolved_by) == ("resolved", officer_id, officer_id)
