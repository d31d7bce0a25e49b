"""Opinion (舆情) reports on the demo campus with a manual clock: the first report is due 15 minutes after discovery."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.observations.opinion_models import OpinionReport
from riskcontrol.people.models import User
from tests import factories as f
from tests.integration.conftest import SHANGHAI, Night

NINE_AM = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # Wednesday 09:00 in Shanghai, ISO week 2026-W49
BREACH_AUDIENCE = {"affairs", "affairs2", "leader", "leader2"}


def local(hh_mm: str, *, days: int = 0) -> datetime:
    hours, minutes = (int(x) for x in hh_mm.split(":"))
    return NINE_AM + timedelta(days=days, hours=hours - 9, minutes=minutes)


# The opinion deadlines; the worker also keeps rows of its own (the roster's daily gap check …).
OPINION_DEADLINE = Deadline.subject_type == "opinion_report"


@dataclass
class Morning(Night):
    """The demo campus of `night` with an opinion officer at CS and at ME; the tests move it to a Wednesday morning."""

    units: dict[str, int] = field(default_factory=dict)

    def at(self, hh_mm: str, *, days: int = 0) -> None:
        """Move the clock to hh:mm Shanghai time and let the worker do one round."""
        self.clock.set(local(hh_mm, days=days))
        self.worker.run_once()

    def token(self, username: str) -> dict[str, str]:
        password = f.PASSWORD if username.startswith("t_") else DEMO_PASSWORD
        reply = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    def file(self, username: str, discovered: str, *, days: int = 0, **fields: Any) -> Any:
        body = {
            "client_id": fields.pop("client_id", f"opinion-{discovered.replace(':', '')}-{len(fields)}"),
            "unit_id": self.units["CS"],
            "title": "网传我校食堂发生学生受伤事件",
            "platforms": ["weibo", "douyin"],
            "summary": "微博、抖音有视频称食堂排队时发生推搡，有学生受伤，已被地方主要媒体转载。",
            "discovered_at": local(discovered, days=days).astimezone(SHANGHAI).isoformat(),
            "reposts": 800,
            "views": 20_000,
            "media": "local_major",
            "trend": "rising",
        } | fields
        return self.client.post("/api/v1/opinion/reports", headers=self.token(username), json=body)

    def ack(self, report_id: int, username: str = "opinion") -> Any:
        return self.client.post(f"/api/v1/opinion/reports/{report_id}/ack", headers=self.token(username))

    def count(self, model: type[Any], *where: Any) -> int:
        with self.sessions() as db:
            return int(db.execute(select(func.count()).select_from(model).where(*where)).scalar_one())

    def report(self, report_id: int) -> Any:
        return self.client.get(f"/api/v1/opinion/reports/{report_id}", headers=self.token("opinion")).json()

    def close(self, report_id: int, username: str, outcome: str) -> Any:
        path = f"/api/v1/opinion/reports/{report_id}/close"
        return self.client.post(path, headers=self.token(username), json={"outcome": outcome})

    def weekly(self, week: str | None = None) -> Any:
        return self.client.get("/api/v1/opinion/weekly", params={"week": week} if week else {}, headers=self.token("opinion"))

    def told(self, kind: str) -> set[str]:  # usernames with an inbox item of `kind`
        with self.sessions() as db:
            stmt = select(User.username).join(Notification, Notification.user_id == User.id).where(Notification.kind == kind)
            return set(db.execute(stmt).scalars())

    def texted(self) -> set[str]:  # usernames whose phones the fake Twilio server got an SMS for
        numbers = {m["To"].removeprefix("+86") for m in self.twilio.messages}
        with self.sessions() as db:
            return set(db.execute(select(User.username).where(User.phone.in_(numbers))).scalars())


@pytest.fixture
def morning(night: Night) -> Morning:
    # `night` starts on Saturday 2026-11-28 at 22:00 (ISO week 48): the weekly review files last week's
    # items on the Sunday; every other test moves the clock on to Wednesday morning first.
    with night.sessions() as db:
        found = {code: db.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one() for code in ("CS", "ME", "CS2301")}
        f.user(db, "t_opinion_cs", ("opinion_officer", found["CS"]))
        f.user(db, "t_opinion_me", ("opinion_officer", found["ME"]))
        units = {code: unit.id for code, unit in found.items()}
        db.commit()
    return Morning(**vars(night), units=units)


def test_nobody_acknowledges_so_the_breach_is_recorded_at_nine_fifteen_and_student_affairs_and_the_leader_are_told(
    morning: Morning,
) -> None:
    morning.at("09:07")
    reply = morning.file("t_opinion_cs", "09:00", client_id="cs-weibo-canteen-01")
    retried = morning.file("t_opinion_cs", "09:00", client_id="cs-weibo-canteen-01")  # the phone sends it again
    assert (reply.status_code, retried.status_code, retried.json()) == (201, 200, reply.json())
    filed = reply.json()
    assert (filed["grade"], filed["major"], filed["overdue_when_filed"]) == ("II", True, False)
    assert datetime.fromisoformat(filed["first_report_due_at"]) == local("09:15")  # from discovery, not from 09:07
    assert filed["reasons"][0]["code"] == "local_major"

    morning.at("09:07")
    assert morning.told("opinion.first_report") == {"opinion"}
    assert morning.texted() == {"opinion"}  # the school's opinion officer, by SMS as well as in the app
    assert (len(morning.twilio.messages), morning.count(OpinionReport), morning.count(Deadline, OPINION_DEADLINE)) == (1, 1, 1)
    assert morning.count(OutboxMessage, OutboxMessage.channel == "in_app", OutboxMessage.status == "sent") == 1

    for minute in ("09:10", "09:14"):
        morning.at(minute)
        assert morning.report(filed["id"])["breached"] is False
    assert morning.report(filed["id"])["seconds_left"] == 60
    assert morning.told("opinion.breach") == set()

    morning.at("09:15")
    report = morning.report(filed["id"])
    assert (report["breached"], report["late_seconds"], report["status"], report["reported_at"]) == (True, 0, "open", None)
    assert datetime.fromisoformat(report["breached_at"]) == local("09:15")
    assert morning.told("opinion.breach") == BREACH_AUDIENCE
    assert morning.texted() == {"opinion"} | BREACH_AUDIENCE
    assert morning.count(Escalation) == 0  # told directly, not through the red observation chain
    with morning.sessions() as db:
        breach = db.execute(select(AuditLog).where(AuditLog.action == "opinion.breach")).scalar_one()
        assert (breach.actor, breach.detail["late_seconds"]) == ("system", 0)

    # The school's officer catches up at 09:20: the item is reported, the breach stays on record.
    morning.at("09:20")
    ack = morning.ack(filed["id"])
    assert (ack.status_code, ack.json()["status"], ack.json()["breached"]) == (200, "reported", True)
    morning.at("09:30")
    assert morning.told("opinion.breach") == BREACH_AUDIENCE


def test_acknowledged_at_nine_twelve_nothing_is_breached(morning: Morning) -> None:
    morning.at("09:07")
    filed = morning.file("t_opinion_cs", "09:00").json()
    refused = morning.ack(filed["id"], "t_opinion_cs")  # the college's officer filed it; the school acknowledges
    assert (refused.status_code, refused.json()["field"]) == (403, "report_id")
    assert morning.ack(filed["id"], "t_opinion_me").status_code == 404  # a neighbouring college does not see it
    mine = morning.client.get("/api/v1/opinion/reports", headers=morning.token("officer_cs")).json()
    assert [r["id"] for r in mine] == [filed["id"]]
    assert morning.client.get("/api/v1/opinion/reports", headers=morning.token("t_opinion_me")).json() == []
    morning.at("09:12")
    ack = morning.ack(filed["id"])
    assert datetime.fromisoformat(ack.json()["reported_at"]) == local("09:12")
    for minute in ("09:15", "09:30", "10:00"):
        morning.at(minute)
    report = morning.report(filed["id"])
    assert (report["status"], report["breached"], report["seconds_left"]) == ("reported", False, None)
    assert morning.told("opinion.breach") == set()
    # The school's confirmation of a major item opens an online-opinion incident, which pages the response team
    # (and runs its own SOP: its dispatch task, not done here, climbs when it falls due).
    assert morning.texted() == {"opinion"} | morning.told("incident.page") | morning.told("incident.task_overdue")
    assert morning.told("incident.page") == {"response2", "response4"}  # the day team on the demo roster
    incident = morning.client.get("/api/v1/incidents", headers=morning.token("affairs")).json()
    assert [(i["type"], i["level_numeral"], i["source"], i["source_id"]) for i in incident] == [
        ("online_opinion", "Ⅱ", "opinion", str(filed["id"]))
    ]
    assert (
        morning.count(Deadline, Deadline.status == "cancelled", OPINION_DEADLINE)
        == morning.count(Deadline, OPINION_DEADLINE)
        == 1
    )
    again = morning.ack(filed["id"], "affairs")
    assert datetime.fromisoformat(again.json()["reported_at"]) == local("09:12")  # a repeat changes nothing


def test_an_item_discovered_forty_minutes_ago_is_late_from_the_start_and_the_next_sweep_says_twenty_five_minutes(
    morning: Morning,
) -> None:
    morning.clock.set(local("09:40"))
    filed = morning.file("t_opinion_cs", "09:00").json()
    assert filed["overdue_when_filed"] is True
    assert datetime.fromisoformat(filed["first_report_due_at"]) == local("09:15")
    assert morning.report(filed["id"])["breached"] is False  # not yet: the breach is the sweeper's to record

    morning.at("09:40")
    report = morning.report(filed["id"])
    assert (report["breached"], report["late_seconds"]) == (True, 25 * 60)
    assert morning.told("opinion.breach") == BREACH_AUDIENCE
    assert any("已超时 25 分钟" in m["Body"] for m in morning.twilio.messages)
    assert morning.count(Deadline, Deadline.status == "fired", Deadline.late.is_(True), OPINION_DEADLINE) == 1
    assert morning.count(Notification, Notification.body_en.contains("25 minutes late")) == len(BREACH_AUDIENCE)


def test_an_acknowledgement_after_the_limit_but_before_the_sweep_still_records_the_breach(morning: Morning) -> None:
    morning.clock.set(local("09:40"))
    filed = morning.file("t_opinion_cs", "09:00").json()
    morning.clock.set(local("09:41"))
    ack = morning.ack(filed["id"]).json()
    assert (ack["status"], ack["breached"], ack["late_seconds"]) == ("reported", True, 26 * 60)
    morning.at("09:42")
    assert morning.told("opinion.breach") == BREACH_AUDIENCE
    assert morning.count(AuditLog, AuditLog.action == "opinion.breach") == 1


def test_a_minor_item_is_stored_and_listed_without_a_deadline(morning: Morning) -> None:
    morning.clock.set(local("09:00"))
    reply = morning.file("t_opinion_cs", "08:30", platforms=["campus_forum"], reposts=5, views=200, media=None, trend=None)
    assert reply.status_code == 201, reply.text
    assert (reply.json()["grade"], reply.json()["major"], reply.json()["first_report_due_at"]) == ("minor", False, None)
    morning.at("10:00")
    assert (morning.count(Deadline, OPINION_DEADLINE), morning.count(Notification)) == (0, 0)
    listed = morning.client.get("/api/v1/opinion/reports", headers=morning.token("t_opinion_cs")).json()
    assert [r["id"] for r in listed] == [reply.json()["id"]]


def test_filed_by_the_school_opinion_officer_the_first_report_arrives_with_the_filing(morning: Morning) -> None:
    morning.at("09:10")
    on_time = morning.file("opinion", "09:00", client_id="school-own-1", unit_id=morning.units["CS"]).json()
    late = morning.file("opinion", "08:30", client_id="school-own-2").json()
    morning.at("09:30")
    first, second = morning.report(on_time["id"]), morning.report(late["id"])
    assert (first["status"], first["breached"]) == ("reported", False)
    assert datetime.fromisoformat(first["reported_at"]) == local("09:10")
    assert (second["status"], second["breached"], second["late_seconds"]) == ("reported", True, 25 * 60)
    assert morning.told("opinion.first_report") == set()  # nobody is asked to confirm their own filing
    assert morning.told("opinion.breach") == BREACH_AUDIENCE  # the late one is on record and told
    assert morning.count(Deadline, OPINION_DEADLINE) == 0


def test_with_no_opinion_officer_at_the_school_those_who_hear_of_breaches_are_told_at_once(morning: Morning) -> None:
    with morning.sessions() as db:
        db.execute(update(User).where(User.username == "opinion").values(active=False))
        db.commit()
    morning.at("09:07")
    assert morning.file("t_opinion_cs", "09:00").status_code == 201
    assert morning.told("opinion.first_report") == BREACH_AUDIENCE


@pytest.mark.parametrize(
    ("username", "fields", "status", "field"),
    [
        ("t_opinion_cs", {"discovered_at": (NINE_AM + timedelta(hours=2)).isoformat()}, 422, "discovered_at"),
        ("t_opinion_cs", {"discovered_at": "2026-12-02T09:00:00"}, 422, "discovered_at"),
        ("t_opinion_cs", {"topics": ["death", "aliens"]}, 422, "topics"),
        ("t_opinion_cs", {"platforms": ["weibo", "myspace"]}, 422, "platforms"),
        ("t_opinion_cs", {"platforms": []}, 422, "platforms"),
        ("t_opinion_cs", {"media": "tabloid"}, 422, "media"),
        ("t_opinion_cs", {"trend": "viral"}, 422, "trend"),
        ("t_opinion_cs", {"reposts": -3}, 422, "reposts"),
        ("t_opinion_cs", {"title": "   "}, 422, "title"),
        ("t_opinion_cs", {"url": "javascript:alert(1)"}, 422, "url"),
        ("t_opinion_cs", {"unit_id": "ME"}, 403, "unit_id"),
        ("t_opinion_cs", {"unit_id": "CS2301"}, 422, "unit_id"),
        ("t_opinion_cs", {"unit_id": 2_000_000_000}, 404, "unit_id"),
        ("t_opinion_cs", {"colour": "red"}, 422, "colour"),
        ("monitor_cs2301", {}, 403, "unit_id"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    morning: Morning, username: str, fields: dict[str, Any], status: int, field: str
) -> None:
    morning.at("09:07")
    if isinstance(fields.get("unit_id"), str):
        fields["unit_id"] = morning.units[fields["unit_id"]]
    reply = morning.file(username, "09:00", **fields)
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
    morning.at("09:30")
    assert [morning.count(model) for model in (OpinionReport, Notification, OutboxMessage)] == [0, 0, 0]
    assert morning.count(Deadline, OPINION_DEADLINE) == 0


def test_the_weekly_review_ranks_the_week_by_risk(morning: Morning) -> None:
    # Last week: one item closed then (left out), one still open (carried into this week).
    morning.clock.set(local("10:00", days=-3))
    old_closed = morning.file("t_opinion_cs", "09:00", days=-3, client_id="w48-closed", media=None, topics=["food_safety"]).json()
    old_open = morning.file("t_opinion_cs", "09:00", days=-3, client_id="w48-still-open", media=None, trend="steady").json()
    closed = morning.close(old_closed["id"], "opinion", "已澄清").json()
    assert (closed["status"], closed["reported_at"] is not None) == ("closed", True)
    # This week: a spreading Ⅱ, a dying Ⅰ already closed, a minor one.
    morning.clock.set(local("10:00"))
    rising = morning.file("t_opinion_cs", "09:40", client_id="this-rising-1").json()
    central = morning.file("t_opinion_cs", "09:30", client_id="this-central-1", media="central", trend="falling").json()
    minor = morning.file("t_opinion_cs", "09:50", client_id="this-minor-1", platforms=["tieba"], media=None, reposts=0).json()
    morning.clock.set(local("11:00"))
    assert morning.close(central["id"], "affairs", "已删帖并回应").is_success
    assert morning.close(central["id"], "affairs", "again").status_code == 409

    review = morning.weekly("2026-W49").json()
    assert datetime.fromisoformat(review["starts_at"]) == datetime(2026, 11, 30, tzinfo=SHANGHAI)
    ranked = [(e["report"]["id"], e["risk_score"], e["band"], e["active"]) for e in review["items"]]
    assert ranked == [
        (rising["id"], 40 + 20 + 15, "high", True),
        (central["id"], 60, "elevated", False),
        (old_open["id"], 20 + 10 + 15, "elevated", True),
        (minor["id"], 5 + 20 + 15, "moderate", True),
    ]
    assert [e["rank"] for e in review["items"]] == [1, 2, 3, 4]
    assert morning.weekly().json() == review  # by default this week, in the school's time zone
    last_week = morning.weekly("2026-W48").json()
    assert {e["report"]["id"] for e in last_week["items"]} == {old_closed["id"], old_open["id"]}
    bad = morning.weekly("2026-W60")
    assert (bad.status_code, bad.json()["field"]) == (422, "week")
