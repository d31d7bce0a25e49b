"""Retention (PIPL) on the demo campus with a manual clock: each kind goes when its period passes, what is
held or under review stays, the counts are logged and the audit chain still verifies; legal holds by API.

The test policy keeps sessions 7 days, observation notes 30, resolved escalations 60, incident people 90,
audit rows 120 and contact reads 150, so that each period passes in turn.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskcontrol.app import build_worker
from riskcontrol.cli import app as cli
from riskcontrol.core import audit
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.core.security import hash_token
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident, IncidentPerson
from riskcontrol.notify.models import Notification
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import AuthSession, Student, User
from riskcontrol.privacy import report, retention
from riskcontrol.privacy.models import LegalHold, RetentionRun
from riskcontrol.privacy.rules import Kind
from riskcontrol.reviews.models import ReviewMeeting
from tests import factories
from tests.integration.conftest import TEN_PM, Night, a_night

DAY = timedelta(days=1)
TEST_POLICY = """\
version: 1
run_at: "03:30"
batch: 2
periods:
  sessions: {keep: 7d, basis: test, label: {zh: 会话, en: sessions}}
  observation_notes: {keep: 30d, basis: test, label: {zh: 观察, en: notes}}
  resolved_escalations: {keep: 60d, basis: test, label: {zh: 预警, en: escalations}}
  incident_people: {keep: 90d, basis: test, label: {zh: 当事人, en: people}}
  audit: {keep: 120d, basis: test, label: {zh: 审计, en: audit}}
  contact_reads: {keep: 150d, basis: test, label: {zh: 查阅, en: reads}}
  notifications: {keep: 100d, basis: test, label: {zh: 消息, en: messages}}
"""


@pytest.fixture
def night(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[Night]:
    """The demo night, with the test retention policy in a copy of the standing rules."""
    sop = tmp_path / "sop"
    shutil.copytree(Path(__file__).resolve().parents[2] / "sop", sop)
    (sop / "retention.yaml").write_text(TEST_POLICY, encoding="utf-8")
    with a_night(sessions, database_url, tmp_path, ManualClock(TEN_PM), sop_dir=sop) as it:
        yield it


@dataclass
class Seeded:
    done_obs: int
    open_obs: int
    held_obs: int
    resolved_esc: int
    open_esc: int
    photo: Path
    closed_person: int
    reviewing_person: int
    held_person: int
    held_incident: int
    held_student: int
    old_session: int


def _notification(night: Night, subject_type: str, subject_id: int, words: str) -> tuple[int, int]:
    """An inbox item to the counsellor and the text sent for it, both naming the student: their ids."""
    now = night.clock.now()
    with night.sessions() as db:
        to = db.execute(select(User).where(User.username == "counselor_cs")).scalar_one()
        item = Notification(
            user_id=to.id,
            kind="escalation",
            level="red",
            subject_type=subject_type,
            subject_id=str(subject_id),
            title_zh=words,
            title_en=words,
            body_zh=words,
            body_en=words,
            data={"words": words},
            channels="in_app,sms",
            created_at=now,
        )
        db.add(item)
        db.flush()
        text = OutboxMessage(
            channel="sms",
            recipient_user_id=to.id,
            address="+8613900000000",
            payload={"body": words, "notification_id": item.id},
            subject_type="notification",
            subject_id=str(item.id),
            status="sent",
            attempts=1,
            created_at=now,
            next_attempt_at=now,
            sent_at=now,
        )
        db.add(text)
        db.commit()
        return item.id, text.id


def _student(db: Session, n: int) -> Student:
    return db.execute(select(Student).order_by(Student.id).offset(n).limit(1)).scalar_one()


def _observation(db: Session, night: Night, student: Student, esc: Escalation | None, photo: Path | None) -> int:
    now = night.clock.now()
    filer = db.execute(select(User.id).where(User.username == "dorm_e1_101")).scalar_one()
    obs = Observation(
        client_id=f"seed-{student.id}-{esc.id if esc else 0}",
        filed_by=filer,
        unit_id=student.class_id,
        student_id=student.id,
        checklist=["low_mood"],
        note=f"{student.name} 最近情绪低落",
        photo_path=str(photo) if photo else None,
        photo_type="image/png" if photo else None,
        observed_at=now,
        filed_at=now,
        suggested_level="blue",
        score=1,
        reasons=[],
        level="blue",
        escalation_id=esc.id if esc else None,
    )
    db.add(obs)
    db.flush()
    return obs.id


def _escalation(db: Session, night: Night, student: Student, *, resolved: bool) -> Escalation:
    now = night.clock.now()
    esc = Escalation(
        subject_type="observation",
        subject_id="0",
        level="blue",
        unit_id=student.class_id,
        title_zh=f"{student.name} 异常情况报告",
        title_en=f"Report about {student.name}",
        summary_zh=f"{student.name}（{student.student_no}）情绪低落",
        summary_en="low mood",
        status="resolved" if resolved else "open",
        policy={},
        current_step=0,
        step_late_seconds=0,
        started_at=now,
        resolved_at=now if resolved else None,
        outcome="已谈心，情绪平稳" if resolved else None,
        delivery_problem=False,
    )
    db.add(esc)
    db.flush()
    return esc


def _closed_incident(db: Session, night: Night, student: Student, title: str) -> tuple[int, int]:
    now = night.clock.now()
    unit = db.get(OrgUnit, student.class_id)
    assert unit is not None
    incident = Incident(
        type="psych_crisis",
        playbook_version=1,
        playbook={},
        sop_version=1,
        sop={},
        level=3,
        state="closed",
        is_open=False,
        title=title,
        unit_id=unit.id,
        unit_path=unit.path,
        source="hotline",
        started_at=now - timedelta(hours=3),
        closed_at=now,
    )
    db.add(incident)
    db.flush()
    person = IncidentPerson(
        incident_id=incident.id,
        student_id=student.id,
        name=student.name,
        involvement="subject",
        note=f"{student.name} 的母亲电话 13900000000",
        added_at=now - timedelta(hours=3),
    )
    db.add(person)
    db.flush()
    return incident.id, person.id


def seed(night: Night, tmp_path: Path) -> Seeded:
    """At 22:00 on day 0: one record of each kind that will fall due, and its twin that is kept."""
    photo = tmp_path / "observation-photo.png"
    photo.write_bytes(b"png")
    now = night.clock.now()
    with night.sessions() as db:
        a, b, c, d, e = (_student(db, n) for n in range(5))
        resolved, still_open = _escalation(db, night, a, resolved=True), _escalation(db, night, b, resolved=False)
        done_obs = _observation(db, night, a, resolved, photo)
        open_obs = _observation(db, night, b, still_open, None)
        held_obs = _observation(db, night, c, None, None)
        _, closed_person = _closed_incident(db, night, d, "宿舍冲突")
        reviewing, reviewing_person = _closed_incident(db, night, e, "心理危机（待复盘）")
        unit = db.get(OrgUnit, e.class_id)
        assert unit is not None
        db.add(
            ReviewMeeting(
                incident_id=reviewing,
                unit_path=unit.path,
                level=3,
                drill=False,
                closed_at=now,
                due_at=now + 200 * DAY,
                status="due",
                created_at=now,
            )
        )
        held_incident, held_person = _closed_incident(db, night, a, "校外纠纷（诉讼中）")
        user = db.execute(select(User).where(User.username == "leader")).scalar_one()
        old = AuthSession(user_id=user.id, token_hash=hash_token("old"), kind="bearer", created_at=now - DAY, expires_at=now)
        db.add(old)
        db.commit()
        ids = (done_obs, open_obs, held_obs, resolved.id, still_open.id, closed_person, reviewing_person, held_person)
        held_student, old_session = c.id, old.id
    for subject_type, subject_id in (("student", held_student), ("incident", held_incident)):
        reply = night.client.post(
            "/api/v1/privacy/holds",
            headers=night.token("affairs"),
            json={"subject_type": subject_type, "subject_id": subject_id, "reason": "公安机关调查中，保留全部记录"},
        )
        assert reply.status_code == 201, reply.text
    return Seeded(*ids[:5], photo, *ids[5:], held_incident, held_student, old_session)


def day(night: Night, n: int) -> None:
    """Day `n` after the seeding, at 04:00 school time: the retention run of the day has fired."""
    night.clock.set(TEN_PM + n * DAY + timedelta(hours=6))
    night.worker.run_once()


def get(night: Night, model: type[Any], ident: int) -> Any:
    with night.sessions() as db:
        row = db.get(model, ident)
        if row is not None:
            db.expunge(row)
        return row


def last_counts(night: Night) -> dict[str, int]:
    """What the runs of the latest day removed, per kind (a full batch brings further rounds)."""
    with night.sessions() as db:
        latest = db.execute(select(func.max(RetentionRun.ran_at))).scalar_one()
        runs = db.execute(select(RetentionRun).where(RetentionRun.ran_at == latest)).scalars().all()
        return {kind: sum(run.counts[kind] for run in runs) for kind in runs[0].counts}


def chain_ok(night: Night) -> bool:
    ctx = night.app.state.ctx
    audit.seal_all(ctx.sessions)
    with ctx.sessions() as db:
        return audit.verify_chain(db).ok


def audit_count(night: Night, *where: Any) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).select_from(AuditLog).where(*where)).scalar_one())


def test_each_kind_goes_when_its_period_passes_and_what_is_held_stays(
    night: Night, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    night.worker.run_once()
    s = seed(night, tmp_path)
    day(night, 1)
    contacts = night.client.get(f"/api/v1/people/students/{s.held_student}/contacts", headers=night.token("affairs"))
    assert contacts.status_code == 200, contacts.text
    read_at = night.clock.now()
    told = _notification(night, "escalation", s.resolved_esc, "【紧急】刘铭翔（2023010101）异常情况报告")
    told_held = _notification(night, "incident", s.held_incident, "【事件】刘铭翔 失联")
    caplog.set_level(logging.INFO, logger=retention.__name__)

    day(night, 8)  # sessions: 7 days after expiry
    assert get(night, AuthSession, s.old_session) is None
    assert last_counts(night)["sessions"] >= 1
    assert "retention run: " in caplog.text
    assert "sessions=" in caplog.text
    assert get(night, Observation, s.done_obs).note is not None

    day(night, 31)  # observation notes: resolved ones go, with their photo; open or held ones stay
    done = get(night, Observation, s.done_obs)
    assert (done.note, done.photo_path, done.checklist, done.level) == (None, None, ["low_mood"], "blue")
    assert not s.photo.exists()
    assert get(night, Observation, s.open_obs).note is not None
    assert get(night, Observation, s.held_obs).note is not None
    assert last_counts(night)["observation_notes"] == 1
    assert get(night, Escalation, s.resolved_esc).summary_zh != ""

    day(night, 61)  # resolved escalations are anonymised; the open one and the figures stay
    esc = get(night, Escalation, s.resolved_esc)
    assert (esc.title_zh, esc.summary_zh, esc.outcome, esc.level) == (retention.ANONYMISED_ZH, "", None, "blue")
    assert get(night, Escalation, s.open_esc).summary_zh != ""
    assert last_counts(night)["resolved_escalations"] == 1

    day(night, 91)  # a closed incident's people: anonymised; under review or held: kept
    person = get(night, IncidentPerson, s.closed_person)
    assert (person.name, person.note, person.student_id) == (retention.STAND_IN, "", None)
    assert get(night, Incident, person.incident_id).title == "宿舍冲突"  # the facts stay for statistics
    assert get(night, IncidentPerson, s.reviewing_person).name != retention.STAND_IN
    assert get(night, IncidentPerson, s.held_person).name != retention.STAND_IN
    assert last_counts(night)["incident_people"] == 1

    day(night, 102)  # the words of inbox items and texts (sent on day 1): anonymised; about a held incident, kept
    item, text = get(night, Notification, told[0]), get(night, OutboxMessage, told[1])
    assert (item.title_zh, item.body_zh, item.data, text.payload) == (retention.ANONYMISED_ZH, "", {}, {})
    assert (item.created_at, text.status) == (read_at, "sent")  # who was told, when, and that it went stay
    assert get(night, Notification, told_held[0]).title_zh == "【事件】刘铭翔 失联"
    assert get(night, OutboxMessage, told_held[1]).payload["body"] == "【事件】刘铭翔 失联"
    assert last_counts(night)["notifications"] >= 1  # with those the seeding itself sent

    day(night, 121)  # audit rows past 120 days, but the hold placed on day 0 keeps the chain from there
    assert last_counts(night)["audit"] == 0
    assert chain_ok(night)
    with night.sessions() as db:
        hold_id = db.execute(select(LegalHold.id).where(LegalHold.subject_type == "incident")).scalar_one()
    reply = night.client.post(
        f"/api/v1/privacy/holds/{hold_id}/release", headers=night.token("affairs"), json={"reason": "案件已审结"}
    )
    assert reply.status_code == 200, reply.text
    reply = night.client.post(
        f"/api/v1/privacy/holds/{hold_id}/release", headers=night.token("affairs"), json={"reason": "again"}
    )
    assert (reply.status_code, reply.json()["field"]) == (409, "hold_id")

    day(night, 122)  # released: the incident's people go; the held student's audit rows still stop the cut
    assert get(night, IncidentPerson, s.held_person).name == retention.STAND_IN
    assert get(night, Observation, s.held_obs).note is not None
    with night.sessions() as db:
        student_hold = db.execute(select(LegalHold.id).where(LegalHold.subject_type == "student")).scalar_one()
    reply = night.client.post(
        f"/api/v1/privacy/holds/{student_hold}/release", headers=night.token("affairs"), json={"reason": "调查结束"}
    )
    assert reply.status_code == 200, reply.text

    day(night, 123)  # rows older than 120 days go, up to the contact read of day 1 (kept 150 days)
    assert get(night, Observation, s.held_obs).note is None
    assert last_counts(night)["audit"] > 0
    assert audit_count(night, AuditLog.at < read_at - timedelta(minutes=1)) == 0
    assert audit_count(night, AuditLog.action == "student.contacts.read") == 1
    assert chain_ok(night)

    day(night, 152)  # the contact read is past its 150 days
    assert audit_count(night, AuditLog.action == "student.contacts.read") == 0
    assert last_counts(night)["contact_reads"] == 1
    assert chain_ok(night)


def test_a_full_batch_brings_another_round_at_once(night: Night, tmp_path: Path) -> None:
    night.worker.run_once()
    with night.sessions() as db:
        user_id = db.execute(select(User.id).where(User.username == "leader")).scalar_one()
        now = night.clock.now()
        for n in range(5):
            db.add(AuthSession(user_id=user_id, token_hash=hash_token(f"t{n}"), kind="bearer", created_at=now, expires_at=now))
        db.commit()
    day(night, 8)
    with night.sessions() as db:
        runs = db.execute(select(RetentionRun).order_by(RetentionRun.id)).scalars().all()
        left = db.execute(select(func.count()).select_from(AuthSession).where(AuthSession.expires_at <= now)).scalar_one()
    assert [r.counts["sessions"] for r in runs][:3] == [2, 2, 1]  # batch 2: three rounds, each its own commit
    assert left == 0


def test_two_workers_run_the_day_once(night: Night) -> None:
    other = build_worker(night.app.state.ctx)
    night.worker.run_once()
    other.run_once()
    night.clock.set(TEN_PM + 2 * DAY)
    night.worker.run_once()
    other.run_once()
    with night.sessions() as db:
        runs = db.execute(select(func.count()).select_from(RetentionRun)).scalar_one()
    assert runs == 1


def test_the_report_counts_what_is_held_by_age_and_what_is_past_due(night: Night, tmp_path: Path) -> None:
    night.worker.run_once()
    s = seed(night, tmp_path)
    night.clock.set(TEN_PM + 40 * DAY)
    ctx = night.app.state.ctx
    with ctx.sessions() as db:
        found = report.build(db, night.clock, ctx.extras["retention"].policy())
    lines = {line.kind: line for line in found.lines}
    notes = lines[Kind.OBSERVATION_NOTES]
    assert (notes.held, notes.bands["<1y"], notes.past_due) == (3, 3, 1)
    assert lines[Kind.SESSIONS].past_due >= 1
    assert {(h.subject_type, h.subject_id) for h in found.holds} == {("student", s.held_student), ("incident", s.held_incident)}


def test_the_privacy_report_command_prints_kinds_bands_and_holds(night: Night, tmp_path: Path, database_url: str) -> None:
    night.worker.run_once()
    seed(night, tmp_path)
    env = {"RISKCONTROL_DATABASE_URL": database_url, "RISKCONTROL_SOP_DIR": str(tmp_path / "sop")}
    result = CliRunner().invoke(cli, ["privacy", "report"], env=env)
    assert result.exit_code == 0, result.output
    assert "observation_notes" in result.output
    assert "past due" in result.output
    assert "open legal holds: 2" in result.output


# --- the hold API ------------------------------------------------------------------------------


def test_only_student_affairs_place_holds(night: Night) -> None:
    with night.sessions() as db:
        student_id = _student(db, 0).id
    body = {"subject_type": "student", "subject_id": student_id, "reason": "诉讼保全"}
    reply = night.client.post("/api/v1/privacy/holds", headers=night.token("counselor_cs"), json=body)
    assert reply.status_code == 403
    reply = night.client.post("/api/v1/privacy/holds", headers=night.token("affairs"), json=body)
    assert reply.status_code == 201
    assert audit_count(night, AuditLog.action == "privacy.hold.place") == 1
    listed = night.client.get("/api/v1/privacy/holds", headers=night.token("affairs")).json()
    assert [h["subject_id"] for h in listed] == [student_id]


def test_a_college_student_affairs_officer_holds_only_inside_the_college(night: Night) -> None:
    with night.sessions() as db:
        colleges = db.execute(select(OrgUnit).where(OrgUnit.kind == "college").order_by(OrgUnit.id)).scalars().all()
        inside, outside = colleges[0], colleges[1]
        factories.user(db, "affairs_college", ("student_affairs", inside))
        students = db.execute(select(Student, OrgUnit.path).join(OrgUnit, OrgUnit.id == Student.class_id)).all()
        mine = next(st.id for st, path in students if path.startswith(inside.path))
        theirs = next(st.id for st, path in students if path.startswith(outside.path))
        db.commit()
    headers = factories.bearer(night.client, "affairs_college")
    for student_id, status in ((mine, 201), (theirs, 404)):
        body = {"subject_type": "student", "subject_id": student_id, "reason": "保全"}
        reply = night.client.post("/api/v1/privacy/holds", headers=headers, json=body)
        assert reply.status_code == status, reply.text
    assert reply.json()["field"] == "subject_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject_type": "hazard", "subject_id": 1, "reason": "x"}, "subject_type"),
        ({"subject_type": "student", "subject_id": 0, "reason": "x"}, "subject_id"),
        ({"subject_type": "student", "subject_id": 1, "reason": ""}, "reason"),
        ({"subject_type": "student", "subject_id": 1}, "reason"),
        ({"subject_type": "incident", "subject_id": 999999, "reason": "x"}, "subject_id"),
    ],
)
def test_a_bad_hold_is_refused_naming_the_field(night: Night, body: dict[str, Any], field: str) -> None:
    reply = night.client.post("/api/v1/privacy/holds", headers=night.token("affairs"), json=body)
    assert 400 <= reply.status_code < 500, reply.text
    assert field in (reply.json().get("field") or str(reply.json().get("errors"))), reply.text
    assert audit_count(night, AuditLog.action == "privacy.hold.place") == 0
