"""The home page's tiles carry the number that matters to the person on each tile's page, within their part
of the grid, read in one query; and the home page names her post in words she knows.

At 22:00 the dorm head of E1-101 reports a suicide plan. The people told of it see 1 to acknowledge on their
inbox tile, as their inbox lists it, and the dorm head sees her report open on 我的报告; once it is
acknowledged the inbox tiles go back to 0, and her report stays open until it is resolved. Student affairs
sees an incident opened on the board's tile, and when it is walked to closed, its review meeting to hold on
复盘与整改. The overdue hazards on the risk map's tile are those of the reader's own part of the campus.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.escalation.models import EscalationRecipient
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.rules import OPEN_STATES
from riskcontrol.kpi import home
from riskcontrol.kpi.home import Tile
from riskcontrol.people import auth
from riskcontrol.people.models import User
from tests.integration.conftest import Night, file_red_observation
from tests.integration.test_review_meetings import open_incident, walk
from tests.signin import post_login

TILE = re.compile(r'<a class="action action-(?P<tile>[a-z-]+)".*?</a>', re.S)
COUNT = re.compile(r'<span class="action-count[^"]*">([^<]*)</span>')


def home_page(night: Night, username: str, lang: str = "") -> str:
    """The home page as `username` reads it in a browser of her own."""
    browser = TestClient(night.app, base_url="http://testserver")
    assert post_login(browser, username, DEMO_PASSWORD).status_code == 303
    page = browser.get("/" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200
    return page.text


def tiles(html: str) -> dict[str, str | None]:
    """Each tile of the home page and the figure it carries in words (None: the tile has no figure)."""
    found = {}
    for match in TILE.finditer(html):
        count = COUNT.search(match.group(0))
        found[match.group("tile")] = count.group(1) if count else None
    return found


def told_of(night: Night, escalation_id: int) -> list[str]:
    with night.sessions() as db:
        stmt = (
            select(User.username)
            .join(EscalationRecipient, EscalationRecipient.user_id == User.id)
            .where(EscalationRecipient.escalation_id == escalation_id)
            .distinct()
        )
        return sorted(db.execute(stmt).scalars())


def waiting(night: Night, username: str) -> list[dict[str, Any]]:
    reply = night.client.get("/api/v1/escalations?mine=true", headers=night.token(username))
    assert reply.status_code == 200, reply.text
    listed: list[dict[str, Any]] = reply.json()
    return listed


def test_a_report_shows_on_the_inbox_tiles_of_those_told_and_on_the_filers_own_tile(night: Night) -> None:
    assert tiles(home_page(night, "dorm_e1_101"))["my-reports"] == "0 件未办结"
    escalation_id = int(file_red_observation(night)["escalation_id"])
    night.worker.run_once()  # the first step of the climb tells its people
    told = told_of(night, escalation_id)
    assert told, "someone is told at once"
    for username in told:
        assert len(waiting(night, username)) == 1
        assert tiles(home_page(night, username))["inbox"] == "1 条待确认", username
    assert tiles(home_page(night, "officer_cs"))["inbox"] == "0 条待确认"  # not told (yet)
    mine = tiles(home_page(night, "dorm_e1_101"))
    assert mine["my-reports"] == "1 件未办结"
    assert mine["observe"] is None  # filing has nothing to count

    reply = night.client.post(f"/api/v1/escalations/{escalation_id}/ack", headers=night.token(told[0]))
    assert reply.status_code == 200, reply.text
    for username in told:
        assert tiles(home_page(night, username))["inbox"] == "0 条待确认", username
    assert tiles(home_page(night, "dorm_e1_101"))["my-reports"] == "1 件未办结"  # acknowledged, not yet dealt with
    reply = night.client.post(
        f"/api/v1/escalations/{escalation_id}/resolve", headers=night.token(told[0]), json={"outcome": "已陪同就医"}
    )
    assert reply.status_code == 200, reply.text
    assert tiles(home_page(night, "dorm_e1_101"))["my-reports"] == "0 件未办结"


def test_the_board_and_reviews_tiles_follow_an_incident_from_open_to_its_review(night: Night) -> None:
    before = tiles(home_page(night, "affairs"))
    assert (before["board"], before["reviews"]) == ("0 起处置中", "0 场待召开")
    incident_id = open_incident(night, "II")
    opened = tiles(home_page(night, "affairs"))
    assert (opened["board"], opened["reviews"]) == ("1 起处置中", "0 场待召开")
    walk(night, incident_id)
    closed = tiles(home_page(night, "affairs"))
    assert (closed["board"], closed["reviews"]) == ("0 起处置中", "1 场待召开")
    assert tiles(home_page(night, "affairs", "en"))["reviews"] == "1 to hold"


def overdue_hazards_under(night: Night, code: str) -> int:
    with night.sessions() as db:
        path = db.execute(select(OrgUnit.path).where(OrgUnit.code == code)).scalar_one()
        stmt = select(func.count()).where(
            Hazard.unit_path.like(path + "%"), Hazard.overdue.is_(True), Hazard.state.in_([s.value for s in OPEN_STATES])
        )
        return int(db.execute(stmt).scalar_one())


def test_the_risk_maps_tile_counts_the_overdue_hazards_of_the_readers_own_part_of_the_campus(night: Night) -> None:
    with night.sessions() as db:
        hazards = db.execute(select(Hazard).where(Hazard.state.in_([s.value for s in OPEN_STATES])).order_by(Hazard.id)).scalars()
        for hazard in list(hazards)[:3]:
            hazard.overdue = True
        db.commit()
    school, college = overdue_hazards_under(night, "HDU"), overdue_hazards_under(night, "CS")
    assert school >= 3
    assert tiles(home_page(night, "affairs"))["risk-map"] == f"{school} 项隐患逾期"
    assert tiles(home_page(night, "officer_cs"))["risk-map"] == f"{college} 项隐患逾期"
    assert tiles(home_page(night, "dorm_e1_101"))["risk-map"] is None  # students read the public map


def test_every_figure_of_the_home_page_is_read_in_one_query(night: Night) -> None:
    ctx = night.app.state.ctx
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with night.sessions() as db:
        principal = auth.principal_of(db, "admin")
        event.listen(db.get_bind(), "before_cursor_execute", count)
        try:
            figures = home.figures(db, ctx, principal, list(Tile))
        finally:
            event.remove(db.get_bind(), "before_cursor_execute", count)
    assert set(figures) == set(Tile)
    assert len(statements) == 1


def test_the_home_page_names_each_post_with_the_unit_it_belongs_to(night: Night) -> None:
    dorm_head = home_page(night, "dorm_e1_101")
    assert "东1-101" in dorm_head
    assert "计科2301班的寝室" in dorm_head
    assert "个单位" not in dorm_head
    assert "全校" in home_page(night, "affairs")
    assert "Whole school" in home_page(night, "affairs", "en")
