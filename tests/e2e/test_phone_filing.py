"""A dorm head's phone loses the network, she files two observations, the network returns: both arrive exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.observations.models import Observation
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser

WAIT_MS = 30_000  # a retry comes at most 15 s apart; this leaves room for two


def observe_as(phone: BrowserContext, live_server: LiveServer, username: str) -> Page:
    """The phone form, signed in as `username`, ready."""
    page = phone.new_page()
    sign_in(page, live_server, username)
    page.goto(live_server.url + "/observe")
    page.wait_for_selector("#observe[data-ready]")
    return page


def campus_with_a_dorm_head(db: Session) -> f.Campus:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    f.user(db, "counselor", ("counselor", campus["C1K1"]), name="李老师")
    db.commit()
    return campus


def stored(sessions: sessionmaker[Session]) -> list[Observation]:
    with sessions() as db:
        return list(db.execute(select(Observation).order_by(Observation.id)).scalars())


def test_two_observations_filed_offline_arrive_exactly_once_when_the_network_returns(
    phone: BrowserContext, live_server: LiveServer, db: Session, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    campus = campus_with_a_dorm_head(db)
    page = observe_as(phone, live_server, "dorm_head")
    expect(page.locator("#unit")).to_have_value(str(campus["C1K1R1"].id))
    expect(page.locator("#net-banner")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "observe-390x844.png"), full_page=False)

    phone.set_offline(True)
    expect(page.locator("#net-banner")).to_be_visible()

    page.check("input[name=checklist][value=long_isolation]")
    page.check("input[name=checklist][value=eating_sleeping_change]")
    page.fill("#note", "最近一周都没去上课")
    page.click("#submit")
    expect(page.locator("#queue-count")).to_have_text("1")

    page.check("input[name=checklist][value=sudden_mood_change]")
    page.fill("#note", "晚上在走廊里哭")
    page.click("#submit")
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page.locator("#queue-banner")).to_contain_text("已保存，联网后自动发送")
    expect(page.locator("input[name=checklist]:checked")).to_have_count(0)  # the form is ready for the next one
    assert stored(sessions) == []
    page.screenshot(path=str(tmp_path / "observe-offline-queued-390x844.png"), full_page=False)

    # The first send reaches the server, which stores it, but the answer is lost on the way
    # back: the phone cannot tell, so it must retry with the same client id.
    sent: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        body = route.request.post_data_json
        assert isinstance(body, dict)
        sent.append(body["client_id"])
        if len(sent) == 1:
            assert route.fetch().status == 201
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/observations", lose_the_first_answer)
    phone.set_offline(False)

    expect(page.locator("#queue-count")).to_have_text("0", timeout=WAIT_MS)
    expect(page.locator("#queue-banner")).to_be_hidden()
    expect(page.locator("#net-banner")).to_be_hidden()
    expect(page.locator(".result-delivered")).to_have_count(2)
    expect(page.locator(".result-delivered").first).to_contain_text("已送达")

    rows = stored(sessions)
    assert len(rows) == 2
    assert len({row.client_id for row in rows}) == 2
    assert {row.client_id for row in rows} == set(sent)
    assert sent[0] == sent[1], "the send whose answer was lost is retried with the same client id"
    assert sorted(row.note or "" for row in rows) == sorted(["最近一周都没去上课", "晚上在走廊里哭"])
    assert all(row.unit_id == campus["C1K1R1"].id for row in rows)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "observe-delivered-390x844.png"), full_page=False)


def test_a_dorm_head_filing_a_red_report_is_told_what_to_do_now_with_tap_to_call_links(
    phone: BrowserContext, live_server: LiveServer, db: Session, tmp_path: Path
) -> None:
    campus_with_a_dorm_head(db)
    page = observe_as(phone, live_server, "dorm_head")
    page.check("input[name=checklist][value=suicide_plan]")
    page.fill("#note", "桌上有很多药瓶，写了信")
    page.click("#submit")
    result = page.locator(".result-delivered")
    expect(result).to_have_count(1)
    # What a student does now, not the staff procedure.
    expect(result).to_contain_text("不要让他/她独处")
    expect(result).not_to_contain_text("报告学校领导")
    expect(result.locator("a.call-button[href='tel:120']")).to_have_text("拨打 120")
    expect(result.locator("a.call-button[href='tel:110']")).to_have_text("拨打 110")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "observe-red-390x844.png"), full_page=False)


def test_a_counselor_filing_reads_the_staff_procedure_without_call_links(
    phone: BrowserContext, live_server: LiveServer, db: Session
) -> None:
    campus_with_a_dorm_head(db)
    page = observe_as(phone, live_server, "counselor")
    page.check("input[name=checklist][value=suicide_plan]")
    page.click("#submit")
    result = page.locator(".result-delivered")
    expect(result).to_contain_text("报告学校领导")
    expect(result.locator("a.call-button")).to_have_count(0)
