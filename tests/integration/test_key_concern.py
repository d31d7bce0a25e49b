"""The key-concern register with a manual clock: weekly talks, a reminder, the college told a day later.

A yellow student added on Monday at 10:00 is due a talk by the next Monday at 10:00; with no talk
recorded the counsellor is reminded then, and a day later the college's student-work officer is
told. A talk on Friday moves the due time to the Friday after. Talk notes are read only by those
who answer for the student, and every read is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import build_worker
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.deadlines import PENDING, Deadline
from riskcontrol.notify.models import Notification
from riskcontrol.people.concern_models import KeyConcern, TalkRecord
from tests.factories import Scene, build_campus, user

MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
FRIDAY_15 = MONDAY_10 + timedelta(days=4, hours=5)
STAFF = {
    "counselor": ("counselor", "C1K1"),
    "college_counselor": ("counselor", "C1"),
    "other_counselor": ("counselor", "C1K2"),
    "officer": ("college_officer", "C1"),
    "other_officer": ("college_officer", "C2"),
    "dorm_head": ("dorm_head", "C1K1R1"),
    "affairs": ("student_affairs", "S"),
    "psych": ("psych_center", "S"),
}


@dataclass
class Register(Scene):
    """The key-concern register's scene."""

    def student(self, room: str = "C1K1R1") -> int:
        return self.campus.students[room].id

    def add(self, level: str = "yellow", *, by: str = "counselor", room: str = "C1K1R1") -> dict[str, Any]:
        body = {
            "student_id": self.student(room),
            "level": level,
            "reason_codes": ["recent_major_loss", "negative_speech"],
            "reasons": "失恋后情绪低落，言语消极",
        }
        reply = self.client.post("/api/v1/key-concerns", json=body, headers=self.as_(by))
        assert reply.status_code == 201, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def talk(self, entry_id: int, talked_at: datetime, *, by: str = "counselor") -> Any:
        body = {
            "talked_at": talked_at.isoformat(),
            "mode": "in_person",
            "summary": "谈话后情绪平稳，按时上课",
            "risk_change": "same",
        }
        return self.client.post(f"/api/v1/key-concerns/{entry_id}/talks", json=body, headers=self.as_(by))

    def told(self, username: str, kind: str) -> list[Notification]:
        with self.sessions() as db:
            stmt = select(Notification).where(Notification.user_id == self.users[username], Notification.kind == kind)
            return list(db.execute(stmt).scalars())

    def audited(self, action: str) -> int:
        with self.sessions() as db:
            return db.execute(select(func.count()).select_from(AuditLog).where(AuditLog.action == action)).scalar_one()


@pytest.fixture
def reg(client: TestClient, clock: ManualClock, sessions: sessionmaker[Session]) -> Register:
    with sessions() as db:
        campus = build_campus(db)
        users = {name: user(db, name, (role, campus[unit])).id for name, (role, unit) in STAFF.items()}
        db.commit()
    clock.set(MONDAY_10)
    return Register(client, clock, sessions, build_worker(client.app.state.ctx), campus, users)  # type: ignore[attr-defined]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_a_yellow_student_without_a_talk_reminds_the_counselor_after_a_week_and_tells_the_college_a_day_later(
    reg: Register,
) -> None:
    entry = reg.add("yellow")
    next_monday = MONDAY_10 + timedelta(days=7)
    assert at(entry["next_talk_due_at"]) == next_monday
    assert entry["overdue"] is False

    reg.at(next_monday - timedelta(minutes=1))
    assert reg.told("counselor", "key_concern.reminder") == []
    reg.at(next_monday)
    reminders = reg.told("counselor", "key_concern.reminder")
    assert len(reminders) == 1
    assert reminders[0].data["key_concern_id"] == entry["id"]
    listed = reg.client.get("/api/v1/key-concerns", headers=reg.as_("counselor")).json()
    assert [(e["id"], e["overdue"]) for e in listed] == [(entry["id"], True)]
    assert reg.told("officer", "key_concern.overdue") == []

    reg.at(next_monday + timedelta(days=1) - timedelta(minutes=1))
    assert reg.told("officer", "key_concern.overdue") == []
    reg.at(next_monday + timedelta(days=1))
    told = reg.told("officer", "key_concern.overdue")
    assert len(told) == 1
    assert "学生C1K1R1" in told[0].body_zh
    assert reg.told("other_officer", "key_concern.overdue") == []
    assert reg.audited("key_concern.talk.overdue") == 1

    reg.at(next_monday + timedelta(days=3))  # told once; the lapse stays flagged until a talk is recorded
    assert len(reg.told("officer", "key_concern.overdue")) == 1
    assert len(reg.told("counselor", "key_concern.reminder")) == 1


def test_a_talk_on_friday_moves_the_next_due_to_the_friday_after_and_no_reminder_fires(reg: Register) -> None:
    entry = reg.add("yellow")
    reg.at(FRIDAY_15)
    reply = reg.talk(entry["id"], FRIDAY_15)
    assert reply.status_code == 201, reply.text
    assert at(reply.json()["next_due_at"]) == FRIDAY_15 + timedelta(days=7)

    for moment in (MONDAY_10 + timedelta(days=7), MONDAY_10 + timedelta(days=8), FRIDAY_15 + timedelta(days=7, seconds=-1)):
        reg.at(moment)
    assert reg.told("counselor", "key_concern.reminder") == []
    assert reg.told("officer", "key_concern.overdue") == []
    reg.at(FRIDAY_15 + timedelta(days=7))
    assert len(reg.told("counselor", "key_concern.reminder")) == 1


def test_reading_talks_is_audited_and_kept_from_those_who_do_not_answer_for_the_student(reg: Register) -> None:
    entry = reg.add("yellow")
    reg.at(MONDAY_10 + timedelta(hours=2))
    assert reg.talk(entry["id"], MONDAY_10 + timedelta(hours=1)).status_code == 201
    path = f"/api/v1/key-concerns/{entry['id']}/talks"

    for reader in ("counselor", "officer", "affairs", "psych"):
        reply = reg.client.get(path, headers=reg.as_(reader))
        assert reply.status_code == 200, reply.text
        assert [t["summary"] for t in reply.json()] == ["谈话后情绪平稳，按时上课"]
    assert reg.audited("key_concern.talks.read") == 4

    denied = reg.audited("access.denied")
    for outsider, status in (("dorm_head", 404), ("other_counselor", 404), ("other_officer", 404), ("college_counselor", 403)):
        reply = reg.client.get(path, headers=reg.as_(outsider))
        assert reply.status_code == status, (outsider, reply.text)
    assert reg.audited("key_concern.talks.read") == 4
    assert reg.audited("access.denied") == denied + 4
    assert reg.client.get("/api/v1/key-concerns", headers=reg.as_("dorm_head")).status_code == 403
    assert reg.talk(entry["id"], MONDAY_10 + timedelta(hours=1), by="college_counselor").status_code == 403


def test_an_observation_about_a_student_on_the_register_at_orange_is_triaged_at_least_orange(reg: Register) -> None:
    reg.add("orange")
    body = {
        "client_id": "phone-kc-0001",
        "unit_id": reg.campus["C1K1R1"].id,
        "student_id": reg.student(),
        "checklist": ["long_isolation"],  # on its own: blue
        "observed_at": MONDAY_10.isoformat(),
    }
    reply = reg.client.post("/api/v1/observations", json=body, headers=reg.as_("dorm_head"))
    assert reply.status_code == 201, reply.text
    observation = reg.client.get(f"/api/v1/observations/{reply.json()['id']}", headers=reg.as_("counselor")).json()
    assert observation["level"] == "orange"
    assert observation["reasons"][0]["code"] == "key_concern"
    escalation = reg.client.get(f"/api/v1/escalations/{reply.json()['escalation_id']}", headers=reg.as_("counselor")).json()
    assert escalation["level"] == "orange"


def test_the_dorm_head_cannot_tell_from_any_answer_that_a_classmate_is_on_the_register(reg: Register) -> None:
    def file(client_id: str) -> dict[str, Any]:
        body = {
            "client_id": client_id,
            "unit_id": reg.campus["C1K1R1"].id,
            "student_id": reg.student(),
            "checklist": ["long_isolation"],
            "observed_at": MONDAY_10.isoformat(),
        }
        reply = reg.client.post("/api/v1/observations", json=body, headers=reg.as_("dorm_head"))
        assert reply.status_code == 201, reply.text
        again = reg.client.post("/api/v1/observations", json=body, headers=reg.as_("dorm_head"))
        assert again.json() == reply.json()  # a retried send answers the same
        answer: dict[str, Any] = reply.json()
        return answer

    def without_ids(answer: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in answer.items() if k not in ("id", "escalation_id", "client_id")}

    before = file("phone-kc-0101")  # the same tick about the same roommate, before ...
    reg.add("orange")
    after = file("phone-kc-0102")  # ... and after the counsellor put her on the register
    assert before["level"] == after["level"] == "blue"
    assert without_ids(before) == without_ids(after)
    reads = [reg.client.get(f"/api/v1/observations/{a['id']}", headers=reg.as_("dorm_head")).json() for a in (before, after)]
    assert [(r["level"], r["suggested_level"], [x["code"] for x in r["reasons"]]) for r in reads] == [
        ("blue", "blue", ["score"])
    ] * 2
    assert without_ids(reads[0]) | {"filed_at": None} == without_ids(reads[1]) | {"filed_at": None}
    assert reg.client.get("/api/v1/observations?level=orange", headers=reg.as_("dorm_head")).json() == []
    assert len(reg.client.get("/api/v1/observations?level=blue", headers=reg.as_("dorm_head")).json()) == 2
    # Staff see what the register added.
    staff = reg.client.get("/api/v1/observations?level=orange", headers=reg.as_("counselor")).json()
    assert [o["id"] for o in staff] == [after["id"]]
    assert staff[0]["reasons"][0]["code"] == "key_concern"


def test_a_counselors_own_yellow_filing_adds_the_student_but_a_dorm_heads_does_not(reg: Register) -> None:
    def file(by: str, unit: str, room: str, client_id: str) -> int:
        body = {
            "client_id": client_id,
            "unit_id": reg.campus[unit].id,
            "student_id": reg.student(room),
            "checklist": ["negative_speech"],
            "observed_at": MONDAY_10.isoformat(),
        }
        reply = reg.client.post("/api/v1/observations", json=body, headers=reg.as_(by))
        assert reply.status_code == 201, reply.text
        assert reply.json()["level"] == "yellow"
        return int(reply.json()["id"])

    file("dorm_head", "C1K1R1", "C1K1R1", "phone-kc-0002")
    observation_id = file("counselor", "C1K1", "C1K1R2", "phone-kc-0003")
    listed = reg.client.get("/api/v1/key-concerns", headers=reg.as_("officer")).json()
    assert [(e["student_id"], e["source"], e["source_id"], e["counselor_id"]) for e in listed] == [
        (reg.student("C1K1R2"), "observation", str(observation_id), reg.users["counselor"])
    ]
    assert at(listed[0]["next_talk_due_at"]) == MONDAY_10 + timedelta(days=7)
    entry = reg.client.get(f"/api/v1/key-concerns/{listed[0]['id']}", headers=reg.as_("officer")).json()
    assert entry["reason_codes"] == ["negative_speech"]  # the observation's ticks, as codes


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"reason_codes": []}, "reason_codes", 422),
        ({"reason_codes": ["heartbroken"]}, "reason_codes", 422),
        ({"level": "purple"}, "level", 422),
        ({"student_id": "1"}, "student_id", 422),
        ({"colour": "red"}, "colour", 422),
        ({"review_on": "2026-11-01"}, "review_on", 422),
        ({"counselor_id": "other_counselor"}, "counselor_id", 422),
        ({"student_id": "C2K1R1"}, "student_id", 404),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(reg: Register, change: dict[str, Any], field: str, status: int) -> None:
    body: dict[str, Any] = {"student_id": reg.student(), "level": "yellow", "reason_codes": ["sudden_mood_change"]} | change
    if change.get("counselor_id") in reg.users:
        body["counselor_id"] = reg.users[change["counselor_id"]]
    if change.get("student_id") in reg.campus.students:
        body["student_id"] = reg.student(change["student_id"])
    reply = reg.client.post("/api/v1/key-concerns", json=body, headers=reg.as_("counselor"))
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
    with reg.sessions() as db:
        assert db.execute(select(func.count()).select_from(KeyConcern)).scalar_one() == 0
        assert db.execute(select(func.count()).select_from(Deadline)).scalar_one() == 0


def test_refusals_on_an_entry_leave_it_as_it_was(reg: Register) -> None:
    entry = reg.add("yellow")
    path = f"/api/v1/key-concerns/{entry['id']}"
    again = reg.client.post(
        "/api/v1/key-concerns",
        json={"student_id": reg.student(), "level": "red", "reason_codes": ["suicide_plan"]},
        headers=reg.as_("officer"),
    )
    assert (again.status_code, again.json()["field"]) == (409, "student_id")
    by_dorm_head = {"student_id": reg.student(), "level": "red", "reason_codes": ["suicide_plan"]}
    assert reg.client.post("/api/v1/key-concerns", json=by_dorm_head, headers=reg.as_("dorm_head")).status_code == 403
    for body, named in (({}, "body"), ({"level": "orange"}, "reason"), ({"counselor_id": reg.users["officer"]}, "counselor_id")):
        reply = reg.client.patch(path, json=body, headers=reg.as_("counselor"))
        assert (reply.status_code, reply.json()["field"]) == (422, named), reply.text
    future = reg.talk(entry["id"], MONDAY_10 + timedelta(hours=1))
    assert (future.status_code, future.json()["field"]) == (422, "talked_at")
    odd_mode = {"talked_at": MONDAY_10.isoformat(), "mode": "carrier_pigeon", "summary": "x", "risk_change": "same"}
    reply = reg.client.post(f"{path}/talks", json=odd_mode, headers=reg.as_("counselor"))
    assert (reply.status_code, reply.json()["field"]) == (422, "mode")
    with reg.sessions() as db:
        stored = db.get(KeyConcern, entry["id"])
        assert stored is not None
        assert (stored.level, stored.counselor_id) == ("yellow", reg.users["counselor"])
        assert db.execute(select(func.count()).select_from(TalkRecord)).scalar_one() == 0
        pending = select(Deadline.kind).where(Deadline.status == PENDING)
        assert list(db.execute(pending).scalars()) == ["key_concern.talk_due"]


def test_raising_to_orange_restarts_the_cadence_at_daily_contact(reg: Register) -> None:
    entry = reg.add("yellow")
    reg.at(MONDAY_10 + timedelta(hours=5))
    body = {"level": "orange", "reason": "出现自伤念头，改为每日联系"}
    reply = reg.client.patch(f"/api/v1/key-concerns/{entry['id']}", json=body, headers=reg.as_("counselor"))
    assert reply.status_code == 200, reply.text
    tuesday_10 = MONDAY_10 + timedelta(days=1)
    assert at(reply.json()["next_talk_due_at"]) == tuesday_10
    reg.at(tuesday_10)
    assert len(reg.told("counselor", "key_concern.reminder")) == 1
    reg.at(tuesday_10 + timedelta(hours=4))
    assert len(reg.told("officer", "key_concern.overdue")) == 1
    detail = reg.client.get(f"/api/v1/key-concerns/{entry['id']}", headers=reg.as_("officer"))
    assert detail.json()["reasons"] == "失恋后情绪低落，言语消极"
    assert reg.audited("key_concern.read") == 1
    assert reg.audited("key_concern.update") == 1


def test_closing_stops_the_reminders_and_the_student_may_be_added_again(reg: Register) -> None:
    entry = reg.add("yellow")
    closed = reg.client.post(
        f"/api/v1/key-concerns/{entry['id']}/close", json={"reason": "经评估情况稳定"}, headers=reg.as_("counselor")
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["next_talk_due_at"]) == ("closed", None)
    reg.at(MONDAY_10 + timedelta(days=9))
    assert reg.told("counselor", "key_concern.reminder") == []
    assert reg.talk(entry["id"], MONDAY_10 + timedelta(days=8)).status_code == 409
    assert reg.client.get("/api/v1/key-concerns?status=closed", headers=reg.as_("affairs")).json()[0]["id"] == entry["id"]
    assert reg.add("orange")["id"] != entry["id"]
