"""The on-duty team has the incident board open; an incident is opened and moved, and the board follows live.

A missing-student report comes in on the hotline while the board is up on the wall (and on the
team lead's phone): the card appears with its level and a ticking clock, and moves to 现场控制 when
the team takes control, without a reload. A push lost on the way shows as a gap in the incident's
sequence numbers, and the board fetches itself again; so does a "resync" from the server. A
screen whose connection dropped fetches the board again once it is back, so what changed meanwhile
shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Browser, Page, Playwright, ViewportSize, WebSocketRoute, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.app import build_worker
from riskcontrol.core.bus import MemoryBus
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.http import AppContext
from riskcontrol.incidents import opening
from riskcontrol.incidents.board import BOARD_CHANNEL, add_note
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import DutyShift
from riskcontrol.incidents.moves import transition
from riskcontrol.incidents.schemas import IncidentIn, TransitionIn
from riskcontrol.people.models import RoleAssignment, User
from tests import factories as f
from tests.conftest import START
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.signin import form_token

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1600, "height": 900}
TEAM, LEADER = "duty_team", "leader"
COUNTDOWN = r"剩余 (\d+:)?\d\d:\d\d"
ELAPSED = r"已持续 (\d+:)?\d\d:\d\d"


@dataclass(frozen=True)
class Campus:
    """Where the incidents happen: class C1K1 of the test campus (the team and the leader watch the whole school)."""

    class_id: int


def seed(db: Session) -> Campus:
    campus = f.build_campus(db)
    team = f.user(db, TEAM, ("response_team", campus["S"]), name="张队长")
    f.user(db, LEADER, ("leader", campus["S"]), name="刘校长")
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    now = START  # the live server runs on the test's clock, which starts here
    db.add(
        DutyShift(
            user_id=team.id,
            position="lead",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=11),
            created_at=now,
        )
    )
    db.commit()
    return Campus(class_id=campus["C1K1"].id)


@contextmanager
def screen(browser: Browser, viewport: ViewportSize, locale: str = "zh-CN") -> Iterator[Page]:
    phone = viewport == PHONE
    context = browser.new_context(
        viewport=viewport,
        locale=locale,
        timezone_id="Asia/Shanghai",
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@contextmanager
def team_api(playwright_driver: Playwright, server: LiveServer) -> Iterator[tuple[APIRequestContext, dict[str, str]]]:
    """The hotline desk: the response team's API client and bearer header."""
    api = playwright_driver.request.new_context(base_url=server.url)
    try:
        token = api.post("/api/v1/auth/token", data={"username": TEAM, "password": f.PASSWORD}).json()["access_token"]
        yield api, {"Authorization": f"Bearer {token}"}
    finally:
        api.dispose()


def open_incident(api: APIRequestContext, headers: dict[str, str], campus: Campus, title: str) -> dict[str, Any]:
    reply = api.post(
        "/api/v1/incidents",
        headers=headers,
        data={"type": "missing_student", "level": "II", "unit_id": campus.class_id, "title": title, "location": "东区1号楼"},
    )
    assert reply.status == 201, reply.text()
    body: dict[str, Any] = reply.json()
    return body


def open_board(page: Page, server: LiveServer, username: str, query: str = "") -> None:
    sign_in(page, server, username)
    page.goto(f"{server.url}/board{query}")
    page.wait_for_selector("#board[data-live]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#board-empty")).to_be_visible()


def live_connection(page: Page) -> str:
    """Wait until the board says it is live (its socket subscribed, the board fetched since); which connection that is."""
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return page.get_attribute("#board", "data-connections") or ""


def syncs(page: Page) -> int:
    """How many whole boards the page has shown (fetched, or its socket's snapshots)."""
    return int(page.get_attribute("#board", "data-syncs") or "0")


def assert_ticks(page: Page, selector: str, pattern: str) -> None:
    """The text of `selector` has the form `pattern`, then by itself, within a few seconds, another text of that form."""
    shown = page.locator(selector)
    first = shown.inner_text()
    assert re.fullmatch(pattern, first), first
    expect(shown).not_to_have_text(first, timeout=3000)
    second = shown.inner_text()
    assert re.fullmatch(pattern, second), second
    assert first != second


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["wall-screen", "phone"])
def test_a_new_incident_appears_live_and_its_card_follows_the_sop(
    browser: Browser,
    live_server_ws: LiveServer,
    playwright_driver: Playwright,
    db: Session,
    tmp_path: Path,
    viewport: ViewportSize,
) -> None:
    campus = seed(db)
    with screen(browser, viewport) as page, team_api(playwright_driver, live_server_ws) as (api, team):
        sign_in(page, live_server_ws, TEAM)
        page.click("a[href='/board']")  # the home page offers the board to the response team
        page.wait_for_selector("#board[data-live]")
        expect(page.locator("#board h1")).to_have_text("应急指挥看板")
        expect(page.locator("#board-empty")).to_be_visible()
        duty = page.locator("#duty-list .duty-item")
        expect(duty).to_have_count(1)
        expect(duty).to_contain_text("张队长")
        expect(duty.locator(".duty-position")).to_have_text("值班组长")
        page.evaluate("window.sameDocument = true")

        incident = open_incident(api, team, campus, "学生晚归未归、电话无法接通")
        selector = f'.incident-card[data-id="{incident["id"]}"]'
        card = page.locator(selector)
        expect(card).to_be_visible()
        expect(card.locator(".incident-title")).to_have_text("学生晚归未归、电话无法接通")
        expect(card.locator(".incident-numeral")).to_have_text("Ⅱ")
        expect(card.locator(".incident-level")).to_have_text("重大")
        expect(card).to_have_class(re.compile(r"\bcolour-orange\b"))
        expect(card.locator(".incident-type")).to_have_text("学生失联")
        expect(card.locator(".drill-badge")).to_be_hidden()
        expect(card.locator(".state-label")).to_have_text("接报")
        expect(card.locator(".progress .segment")).to_have_count(6)
        expect(card.locator(".progress .segment.done, .progress .segment.current")).to_have_count(0)
        # Nothing is due in 接报 itself; the time since the report runs from the start.
        assert_ticks(page, f"{selector} .incident-elapsed", ELAPSED)

        moved = api.post(f"/api/v1/incidents/{incident['id']}/transitions/take_control", headers=team, data={"confirm": True})
        assert moved.status == 200, moved.text()
        expect(card.locator(".state-label")).to_have_text("现场控制")
        expect(card.locator(".state-step")).to_have_text("第 1 / 6 步")
        expect(card.locator(".progress .segment.current")).to_have_count(1)
        countdown = card.locator(".countdown-time")
        expect(countdown).to_have_text(re.compile(COUNTDOWN))
        assert_ticks(page, f"{selector} .countdown-time", COUNTDOWN)
        expect(card.locator(".countdown-task")).not_to_be_empty()  # the task it counts down

        assert page.evaluate("window.sameDocument") is True  # all of it without a reload
        assert page.locator("#board button").count() == 0  # read-only
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(tmp_path / f"board-{viewport['width']}x{viewport['height']}.png"), full_page=True)


def silent(ctx: AppContext) -> IncidentConfig:
    """The incident engine wired to a bus nobody listens to: its changes commit but no push goes out."""
    cfg: IncidentConfig = ctx.extras["incidents"]
    return replace(cfg, bus=MemoryBus())


def test_a_lost_push_or_a_resync_message_makes_the_board_fetch_itself_again(
    browser: Browser, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session
) -> None:
    campus = seed(db)
    ctx: AppContext = live_server_ws.app.state.ctx
    with screen(browser, DESKTOP, locale="en-GB") as page, team_api(playwright_driver, live_server_ws) as (api, team):
        open_board(page, live_server_ws, LEADER, "?lang=en")  # a leader's screen: the same board, read-only
        seen = page.locator(".incident-card")
        first = open_incident(api, team, campus, "Roommate not back after 23:00")
        card = page.locator(f'.incident-card[data-id="{first["id"]}"]')
        expect(card.locator(".incident-level")).to_have_text("Serious")
        expect(card.locator(".state-label")).to_have_text("Reported")
        connection = live_connection(page)
        before = syncs(page)

        # Two changes commit but are never pushed: a note on the first incident, and a second
        # incident (at level Ⅳ, which pages nobody, so no failed SMS to a phoneless user reports it).
        principal = ctx.principals.get(ctx.sessions, ctx.clock, team["Authorization"].removeprefix("Bearer "))
        assert principal is not None
        with ctx.sessions() as quiet:
            add_note(quiet, ctx.clock, silent(ctx), principal, first["id"], "监控显示23:40出校门")
            unseen = opening.open_incident(
                quiet,
                ctx.clock,
                silent(ctx),
                principal,
                IncidentIn.model_validate(
                    {"type": "missing_student", "level": "IV", "unit_id": campus.class_id, "title": "Second student unreachable"}
                ),
            )
            quiet.commit()
            unseen_id = unseen.id
        expect(seen).to_have_count(1)

        # The next push about the first incident skips a number: the board fetches itself again
        # (the second incident was never pushed: only a fetch can show it), on the same connection.
        noted = api.post(f"/api/v1/incidents/{first['id']}/notes", headers=team, data={"text": "家长已到校"})
        assert noted.status == 201, noted.text()
        unseen_card = page.locator(f'.incident-card[data-id="{unseen_id}"]')
        expect(unseen_card).to_be_visible()
        expect(unseen_card.locator(".incident-title")).to_have_text("Second student unreachable")
        expect(seen).to_have_count(2)
        # Ⅱ above Ⅳ, whatever came first.
        expect(seen.first).to_have_attribute("data-id", str(first["id"]))
        assert syncs(page) > before
        assert live_connection(page) == connection  # not a reconnect's fetch: the gap's

        # The second one is called off quietly; the server says it lost its subscription: fetch again.
        with ctx.sessions() as quiet:
            transition(
                quiet,
                ctx.clock,
                silent(ctx),
                principal,
                unseen_id,
                "false_alarm",
                TransitionIn(reason="已联系上，误报", confirm=True),
            )
            quiet.commit()
        expect(unseen_card).to_be_visible()
        # Published once the page says its socket is subscribed, so the message reaches it.
        assert live_connection(page) == connection
        before = syncs(page)
        ctx.bus.publish(BOARD_CHANNEL, {"type": "resync"})
        expect(unseen_card).to_have_count(0)
        expect(seen).to_have_count(1)
        assert syncs(page) > before
        assert live_connection(page) == connection  # the message's fetch, not a reconnect's
        assert page.locator("#board button").count() == 0


def test_what_changed_while_the_board_was_disconnected_shows_once_it_reconnects(
    browser: Browser, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session
) -> None:
    campus = seed(db)
    ctx: AppContext = live_server_ws.app.state.ctx
    servers: list[WebSocketRoute] = []  # the server end of each connection the board made, in order
    meanwhile: dict[str, int] = {}  # what happened while it was away → the incident's id

    with screen(browser, DESKTOP) as page, team_api(playwright_driver, live_server_ws) as (api, team):
        principal = ctx.principals.get(ctx.sessions, ctx.clock, team["Authorization"].removeprefix("Bearer "))
        assert principal is not None

        def open_quietly(title: str, cfg: IncidentConfig) -> int:
            with ctx.sessions() as desk:
                data = {"type": "missing_student", "level": "IV", "unit_id": campus.class_id, "title": title}
                incident = opening.open_incident(desk, ctx.clock, cfg, principal, IncidentIn.model_validate(data))
                desk.commit()
                return incident.id

        def connect(socket: WebSocketRoute) -> None:
            if not servers:
                servers.append(socket.connect_to_server())
                return
            # The board is coming back after its socket dropped. An incident is opened now, while
            # it is not connected: its push reaches nobody.
            meanwhile["down"] = open_quietly("宿舍楼顶有人逗留", ctx.extras["incidents"])
            server = socket.connect_to_server()

            def relay(message: str | bytes) -> None:
                if "between" not in meanwhile:
                    # The server subscribed the new socket and took its snapshot; before the board
                    # reads it, another incident commits and its push is lost.
                    meanwhile["between"] = open_quietly("操场东侧围墙有人翻越", silent(ctx))
                socket.send(message)

            server.on_message(relay)
            servers.append(server)

        page.route_web_socket(re.compile(r"/ws/board$"), connect)
        open_board(page, live_server_ws, TEAM)
        first = open_incident(api, team, campus, "学生晚归未归、电话无法接通")
        cards = page.locator(".incident-card")
        expect(cards).to_have_count(1)
        expect(cards.first).to_have_attribute("data-id", str(first["id"]))
        assert live_connection(page) == "1"

        servers[0].close()  # the server end goes away: a restart, a proxy closing the socket
        expect(page.locator("#board")).to_have_attribute("data-connections", "2", timeout=10_000)
        assert sorted(meanwhile) == ["between", "down"], "the board did not reconnect through the test's route"
        down = page.locator(f'.incident-card[data-id="{meanwhile["down"]}"]')
        expect(down).to_be_visible()
        expect(down.locator(".incident-title")).to_have_text("宿舍楼顶有人逗留")
        between = page.locator(f'.incident-card[data-id="{meanwhile["between"]}"]')
        expect(between).to_be_visible()
        expect(between.locator(".incident-title")).to_have_text("操场东侧围墙有人翻越")
        expect(cards).to_have_count(3)
        expect(cards.first).to_have_attribute("data-id", str(first["id"]))  # Ⅱ above Ⅳ
        assert live_connection(page) == "2"

        # And it is live again: the next change is pushed to it.
        moved = api.post(f"/api/v1/incidents/{first['id']}/transitions/take_control", headers=team, data={"confirm": True})
        assert moved.status == 200, moved.text()
        expect(cards.first.locator(".state-label")).to_have_text("现场控制")


def test_the_home_page_offers_the_board_to_those_who_run_or_oversee_incidents(
    live_server: LiveServer, playwright_driver: Playwright, db: Session
) -> None:
    seed(db)
    for username, offered in ((TEAM, True), (LEADER, True), ("dorm_head", False)):
        web = playwright_driver.request.new_context(base_url=live_server.url)
        try:
            token = form_token(web.get("/login").text())
            home = web.post("/login", form={"username": username, "password": f.PASSWORD, "csrf": token})
            assert home.url == live_server.url + "/", home.url
            assert ('href="/board"' in home.text()) is offered, username
            assert web.get("/board").ok  # anyone signed in may open it; the API limits what it shows
        finally:
            web.dispose()
    stranger = playwright_driver.request.new_context(base_url=live_server.url)
    try:
        assert stranger.get("/board", max_redirects=0).headers["location"].endswith("/login")
    finally:
        stranger.dispose()


def test_an_incident_opened_by_a_warning_told_late_shows_by_how_much(
    browser: Browser, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session, clock: ManualClock
) -> None:
    seed(db)
    held = select(RoleAssignment.unit_id).join(User, User.id == RoleAssignment.user_id).where(User.username == "dorm_head")
    report = {"client_id": "phone-late-1", "unit_id": db.execute(held).scalar_one(), "checklist": ["suicide_plan"]}
    db.rollback()  # let the server write
    with screen(browser, DESKTOP) as page:
        open_board(page, live_server_ws, TEAM)
        api = playwright_driver.request.new_context(base_url=live_server_ws.url)
        try:
            token = api.post("/api/v1/auth/token", data={"username": "dorm_head", "password": f.PASSWORD}).json()["access_token"]
            filed = api.post(
                "/api/v1/observations",
                headers={"Authorization": f"Bearer {token}"},
                data={**report, "observed_at": clock.now().isoformat()},
            )
            assert filed.status == 201, filed.text()
        finally:
            api.dispose()
        clock.advance(timedelta(minutes=3))  # nothing swept for 3 minutes: the worker was down
        build_worker(live_server_ws.app.state.ctx).run_once()
        card = page.locator(".incident-card")
        expect(card).to_have_count(1)
        expect(card.locator(".warning-late")).to_be_visible()
        expect(card.locator(".warning-late")).to_contain_text("预警上报晚了 3 分钟")


WALL: ViewportSize = {"width": 1920, "height": 1080}
LEVELS = ("I", "II", "III", "IV")
# Serif faces whose Ⅰ–Ⅳ have serifs; in the sans faces system-ui picks, Ⅱ is two bars: a ⏸ sign.
SERIF_NUMERALS = ("Noto Serif CJK", "Source Han Serif", "SimSun", "Songti", "DejaVu Serif")


def open_and_take_control(api: APIRequestContext, headers: dict[str, str], campus: Campus, level: str, title: str) -> int:
    """An incident reported at `level` whose team is on site: a task of 现场控制 is counting down."""
    reply = api.post(
        "/api/v1/incidents",
        headers=headers,
        data={"type": "missing_student", "level": level, "unit_id": campus.class_id, "title": title, "location": "东区1号楼"},
    )
    assert reply.status == 201, reply.text()
    incident_id: int = reply.json()["id"]
    moved = api.post(f"/api/v1/incidents/{incident_id}/transitions/take_control", headers=headers, data={"confirm": True})
    assert moved.status == 200, moved.text()
    return incident_id


def watch_for_flashes(page: Page) -> None:
    """Record in the page the id of every card that starts flashing, however briefly."""
    page.evaluate(
        """() => {
          window.flashed = new Set();
          new MutationObserver((changes) => {
            for (const change of changes) {
              const node = change.target;
              if (node.classList && node.classList.contains("is-new")) window.flashed.add(Number(node.dataset.id));
            }
          }).observe(document.getElementById("incident-list"), { attributes: true, attributeFilter: ["class"], subtree: true });
        }"""
    )


def countdowns(page: Page) -> list[dict[str, Any]]:
    """Each card's countdown: its whole text, the font size of its time, and of its task's name."""
    shown: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll(".incident-card")].map((card) => ({
          id: Number(card.dataset.id),
          left: card.getBoundingClientRect().left,
          text: card.querySelector(".countdown").innerText,
          time: parseFloat(getComputedStyle(card.querySelector(".countdown-time")).fontSize),
          task: parseFloat(getComputedStyle(card.querySelector(".countdown-task")).fontSize),
          // Boxes whose content is wider than they are: cut off at the card's edge, or scrolling.
          overflowing: [...card.querySelectorAll(".incident-body, .incident-body :not(.segment-label)")]
            .filter((node) => node.clientWidth > 0 && node.scrollWidth > node.clientWidth + 1)
            .map((node) => node.className),
        }))"""
    )
    return shown


def fonts_drawing(page: Page, selector: str) -> list[str]:
    """The families of the fonts Chromium actually drew the text of `selector` with."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return [str(font["familyName"]) for font in fonts]


def test_twelve_incidents_on_the_wall_each_countdown_large_naming_its_task_and_no_sideways_scroll(
    browser: Browser,
    live_server_ws: LiveServer,
    playwright_driver: Playwright,
    db: Session,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    campus = seed(db)
    with screen(browser, WALL) as page, team_api(playwright_driver, live_server_ws) as (api, team):
        open_board(page, live_server_ws, TEAM)
        watch_for_flashes(page)
        # A bad night: twelve incidents come in while the board is up on the wall, three at each level.
        levels = {open_and_take_control(api, team, campus, LEVELS[n % 4], f"事件 {n + 1}"): LEVELS[n % 4] for n in range(12)}
        cards = page.locator(".incident-card")
        expect(cards).to_have_count(12)
        for incident_id in levels:
            expect(page.locator(f'.incident-card[data-id="{incident_id}"] .countdown-time')).to_have_text(re.compile(COUNTDOWN))

        tasks = {i["id"]: i["next_task"]["label_zh"] for i in api.get("/api/v1/board", headers=team).json()["incidents"]}
        shown = countdowns(page)
        assert {c["id"] for c in shown} == set(levels)
        for countdown in shown:
            assert countdown["time"] >= 48, countdown  # readable from 3 m
            assert not countdown["overflowing"], countdown
            assert countdown["task"] >= 20, countdown
            assert tasks[countdown["id"]] in countdown["text"], countdown  # it says what it counts down
            assert re.search(COUNTDOWN, countdown["text"]), countdown
        assert len({c["left"] for c in shown}) >= 3  # a grid that uses the screen, not a column
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        # Every label on a card is readable from across the room too.
        labels = ".incident-level, .incident-type, .incident-meta span, .state-label, .state-step, .count-name, .count-value"
        smallest = page.evaluate(
            """(labels) => Math.min(...[...document.querySelectorAll(`.incident-card :is(${labels})`)]
              .map((node) => parseFloat(getComputedStyle(node).fontSize)))""",
            labels,
        )
        assert smallest >= 20

        # The serious ones flashed as they came in; the others did not.
        assert set(page.evaluate("[...window.flashed]")) == {i for i, level in levels.items() if level in ("I", "II")}
        page.screenshot(path=str(tmp_path / "board-1920x1080.png"))

        # An hour on, nobody has reported from the scene: every clock counts up past its task's time,
        # still saying which task, as large, and the longer figures still fit across.
        clock.advance(timedelta(minutes=65))
        ctx: AppContext = live_server_ws.app.state.ctx
        ctx.bus.publish(BOARD_CHANNEL, {"type": "resync"})
        overdue = page.locator(".incident-card .countdown.overdue")
        expect(overdue).to_have_count(12)
        for countdown in countdowns(page):
            assert countdown["time"] >= 48, countdown
            assert not countdown["overflowing"], countdown  # nothing cut off at the card's edge
            assert tasks[countdown["id"]] in countdown["text"], countdown
            assert re.search(r"已超时 \+(\d+:)?\d\d:\d\d", countdown["text"]), countdown
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / "board-1920x1080-overdue.png"))


def test_the_level_numeral_is_drawn_from_a_serif_face_not_as_a_pause_sign(
    browser: Browser, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session
) -> None:
    campus = seed(db)
    with screen(browser, WALL) as page, team_api(playwright_driver, live_server_ws) as (api, team):
        open_board(page, live_server_ws, TEAM)
        incident_id = open_and_take_control(api, team, campus, "II", "学生晚归未归")
        numeral = page.locator(f'.incident-card[data-id="{incident_id}"] .incident-numeral')
        expect(numeral).to_have_text("Ⅱ")
        page.evaluate("document.fonts.ready")
        [family] = fonts_drawing(page, f'.incident-card[data-id="{incident_id}"] .incident-numeral')
        assert family.startswith(SERIF_NUMERALS), family

        # The incident's own page draws the same badge.
        page.goto(f"{live_server_ws.url}/incidents/{incident_id}")
        expect(page.locator("#inc-level")).to_contain_text("Ⅱ")
        page.evaluate("document.fonts.ready")
        # "Ⅱ 重大": the serif face draws only the numeral (its range is Ⅰ–Ⅻ), the page's own font the rest.
        drawn = fonts_drawing(page, "#inc-level")
        assert any(family.startswith(SERIF_NUMERALS) for family in drawn), drawn


def test_on_a_phone_the_board_stays_one_column_and_each_countdown_names_its_task(
    browser: Browser, live_server_ws: LiveServer, playwright_driver: Playwright, db: Session, tmp_path: Path
) -> None:
    campus = seed(db)
    with screen(browser, PHONE) as page, team_api(playwright_driver, live_server_ws) as (api, team):
        open_board(page, live_server_ws, TEAM)
        opened = [open_and_take_control(api, team, campus, level, f"事件 {level}") for level in ("I", "III", "IV")]
        for incident_id in opened:
            expect(page.locator(f'.incident-card[data-id="{incident_id}"] .countdown-time')).to_have_text(re.compile(COUNTDOWN))
        tasks = {i["id"]: i["next_task"]["label_zh"] for i in api.get("/api/v1/board", headers=team).json()["incidents"]}
        shown = countdowns(page)
        assert len({c["left"] for c in shown}) == 1  # one column
        for countdown in shown:
            assert tasks[countdown["id"]] in countdown["text"], countdown
            assert countdown["time"] < 48  # a phone keeps its compact card
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / "board-390x844.png"), full_page=True)
