"""The commander runs a missing-student incident from a phone: moves it on, ticks a task with
evidence; a leader sees the same page without a single button."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, WebSocketRoute, expect
from sqlalchemy.orm import Session, sessionmaker

from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser


def seed(db: Session) -> int:
    campus = f.build_campus(db)
    f.user(db, "team", ("response_team", campus["S"]), name="应急队员")
    f.user(db, "boss", ("leader", campus["S"]), name="分管校领导")
    db.commit()
    return campus["C1K1"].id


def open_incident(playwright_driver: Playwright, server: LiveServer, class_id: int) -> int:
    api = playwright_driver.request.new_context(base_url=server.url)
    try:
        token = api.post("/api/v1/auth/token", data={"username": "team", "password": f.PASSWORD}).json()["access_token"]
        reply = api.post(
            "/api/v1/incidents",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "type": "missing_student",
                "level": "II",
                "title": "夜不归宿且联系不上",
                "unit_id": class_id,
                "location": "东区",
            },
        )
        assert reply.status == 201, reply.text()
        incident_id: int = reply.json()["id"]
        return incident_id
    finally:
        api.dispose()


def test_the_commander_moves_the_incident_on_and_ticks_a_task_from_a_phone(
    phone: BrowserContext, playwright_driver: Playwright, live_server_ws: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        class_id = seed(db)
    incident_id = open_incident(playwright_driver, live_server_ws, class_id)
    page = phone.new_page()
    sign_in(page, live_server_ws, "team")
    page.goto(f"{live_server_ws.url}/incidents/{incident_id}")
    expect(page.locator("#inc-state")).to_have_text("接报")
    expect(page.locator("#inc-level")).to_contain_text("Ⅱ")
    # 接报 has its task: send someone, and say who went; the form is not sent without that.
    dispatch = page.locator("li.inc-task[data-task=dispatch]")
    expect(dispatch.locator("input[name=evidence]")).to_have_attribute("required", "")
    dispatch.get_by_role("button", name="完成").click()
    expect(dispatch.locator("input[name=evidence]:invalid")).to_have_count(1)
    expect(dispatch.locator(".countdown")).to_be_visible()  # still open
    dispatch.locator("input[name=evidence]").fill("保卫处两人已出发")
    dispatch.get_by_role("button", name="完成").click()
    expect(page.locator("li.inc-task[data-task=dispatch]")).to_contain_text("应急队员")
    # Claiming control on site cannot be taken back: one click only asks.
    page.get_by_role("button", name="到达现场并控制").click()
    expect(page.locator("#inc-confirm-note")).to_be_visible()
    expect(page.locator("#inc-confirm-note")).to_contain_text("无法撤回")
    expect(page.locator("#inc-reason-field")).to_be_hidden()
    expect(page.locator("#inc-state")).to_have_text("接报")
    page.locator("#inc-trigger-form").get_by_role("button", name="确认").click()
    expect(page.locator("#inc-state")).to_have_text("现场控制")
    task = page.locator("li.inc-task[data-task=start_search]")
    countdown = task.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"剩余 \d+:\d\d"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3000)  # it ticks
    task.locator("input[name=evidence]").fill("已组织保卫处与室友分头寻找")
    task.get_by_role("button", name="完成").click()
    expect(page.locator("li.inc-task[data-task=start_search]")).to_contain_text("应急队员")
    # The timeline names the task by its label, never its code, and says when on the school's clock.
    newest = page.locator("#inc-timeline li").first
    expect(newest).to_contain_text("完成：组织多渠道联系并就近查找")
    expect(newest.locator("time")).to_have_text(re.compile(r"^\d+\. (\d+月\d+日 )?\d\d:\d\d $"))
    expect(page.locator("#inc-timeline")).not_to_contain_text("start_search")
    expect(page.locator("#inc-timeline")).not_to_contain_text("incident.")
    # The page fits the phone: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


def test_a_leader_sees_the_incident_without_buttons(
    browser: Browser, playwright_driver: Playwright, live_server_ws: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        class_id = seed(db)
    incident_id = open_incident(playwright_driver, live_server_ws, class_id)
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        sign_in(page, live_server_ws, "boss")
        page.goto(f"{live_server_ws.url}/incidents/{incident_id}")
        expect(page.locator("#inc-state")).to_have_text("接报")
        expect(page.locator("#inc-actions")).to_be_hidden()
        expect(page.locator("#inc-note-form")).to_be_hidden()
        assert page.locator("#inc-triggers button").count() == 0
    finally:
        context.close()


def test_the_page_stops_reconnecting_and_asks_to_sign_in_once_the_session_is_gone(
    browser: Browser, playwright_driver: Playwright, live_server_ws: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        class_id = seed(db)
    incident_id = open_incident(playwright_driver, live_server_ws, class_id)
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        attempts: list[str] = []
        page.on("websocket", lambda socket: attempts.append(socket.url))
        servers: list[WebSocketRoute] = []

        def relay(socket: WebSocketRoute) -> None:
            servers.append(socket.connect_to_server())

        # Through a route, so the test can drop the connection as a restart or a proxy would.
        page.route_web_socket(re.compile(r"/ws/board$"), relay)
        sign_in(page, live_server_ws, "team")
        page.goto(f"{live_server_ws.url}/incidents/{incident_id}")
        expect(page.locator("#inc-state")).to_have_text("接报")  # loaded on the socket's snapshot
        assert len(attempts) == 1
        expect(page.locator("#auth-banner")).to_be_hidden()

        # The session is revoked (signed out elsewhere, or expired); the open socket does not notice
        # until it drops, and then every new handshake is refused.
        revoked = page.evaluate(
            """async () => (await fetch("/api/v1/auth/logout", {
                method: "POST",
                credentials: "same-origin",
                headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
            })).status"""
        )
        assert revoked == 204
        servers[0].close()

        banner = page.locator("#auth-banner")
        expect(banner).to_be_visible()
        expect(banner.get_by_role("link", name="重新登录")).to_have_attribute("href", "/login")
        # Real time, for the browser's own timers: retries would come after 1 s, then 2 s more.
        page.wait_for_timeout(4000)
        assert attempts == attempts[:1], f"the page kept reconnecting after sign-out: {len(attempts)} sockets"
    finally:
        context.close()
