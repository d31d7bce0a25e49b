"""Recovery plans: when a missing-student incident reaches recovery, sessions and follow-ups open for the student
and the family and a group session for the class, each with its owner and deadline; late ones are escalated;
session notes are read by the psychological centre only (audited) and never reach the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from riskcontrol.core.audit import AuditLog
from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Student, User
from tests.integration.conftest import TEN_PM, Night
from tests.integration.test_review_meetings import walk

INTO_RECOVERY = ("take_control", "verify", "report_to_leaders", "activate_plan", "coordinate", "publish", "stabilise")
NOTE = "学生诉说近期学业压力大，评估为中度焦虑，建议每周咨询一次"


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment.astimezone(UTC))
    night.worker.run_once()


def plan(night: Night, iid: int, username: str) -> list[dict[str, Any]]:
    reply = night.client.get(f"/api/v1/incidents/{iid}/recovery", headers=night.token(username))
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()
    return items


def test_the_plan_opens_at_recovery_with_owners_deadlines_and_private_notes(night: Night) -> None:
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
        student = db.execute(select(Student).where(Student.class_id == cls.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        body = {
            "type": "missing_student",
            "level": "II",
            "title": "学生失联",
            "unit_id": cls.id,
            "people": [{"student_id": student.id, "involvement": "missing"}],
        }
    reply = night.client.post("/api/v1/incidents", headers=night.token("response1"), json=body)
    assert reply.status_code == 201, reply.text
    iid = reply.json()["id"]
    walk(night, iid, INTO_RECOVERY[:-1])
    assert plan(night, iid, "affairs") == []  # nothing before recovery
    walk(night, iid, ("stabilise",))

    items = plan(night, iid, "affairs")
    codes = sorted(i["code"] for i in items)
    assert codes == sorted(
        [
            "individual_session",
            "family_session",
            "follow_up_1w",
            "follow_up_1m",
            "follow_up_3m",
            "return_assessment",
            "group_session",
        ]
    )
    by_code = {i["code"]: i for i in items}
    psych, counselor = night.user("psych").id, night.user("counselor_cs").id
    assert by_code["individual_session"]["owner_user_id"] == psych
    assert by_code["follow_up_1w"]["owner_user_id"] == counselor
    assert datetime.fromisoformat(by_code["individual_session"]["due_at"]) == TEN_PM + timedelta(days=3)
    assert datetime.fromisoformat(by_code["follow_up_3m"]["due_at"]) == TEN_PM + timedelta(days=90)
    assert by_code["group_session"]["person_id"] is None

    # The family session is held in time, with a clinical note.
    family = by_code["family_session"]["id"]
    done = night.client.post(f"/api/v1/recovery/{family}/done", headers=night.token("psych"), json={"note": NOTE})
    assert done.status_code == 200, done.text
    assert done.json()["note"] == NOTE
    again = night.client.post(f"/api/v1/recovery/{family}/done", headers=night.token("psych"), json={"note": ""})
    assert again.status_code == 409
    # The counsellor sees that it happened, not what was said; the psych centre reads it, and that read is audited.
    seen = {i["code"]: i for i in plan(night, iid, "counselor_cs")}["family_session"]
    assert (seen["status"], seen["has_note"], seen["note"]) == ("done", True, None)
    with night.sessions() as db:
        before = db.execute(select(func.count()).where(AuditLog.action == "recovery.notes_read")).scalar_one()
    assert {i["code"]: i for i in plan(night, iid, "psych")}["family_session"]["note"] == NOTE
    with night.sessions() as db:
        assert db.execute(select(func.count()).where(AuditLog.action == "recovery.notes_read")).scalar_one() == before + 1
    timeline = night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=night.token("response1")).json()
    assert NOTE not in str(timeline)
    assert [e["kind"] for e in timeline if e["kind"].startswith("recovery_")] == ["recovery_plan", "recovery_done"]

    # The individual session is not held in 3 days: its owner and student affairs are told, once.
    individual = by_code["individual_session"]["id"]
    at(night, TEN_PM + timedelta(days=3, minutes=-1))
    at(night, TEN_PM + timedelta(days=3))
    at(night, TEN_PM + timedelta(days=3, hours=1))
    with night.sessions() as db:
        told = db.execute(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.subject_type == "recovery_item", Notification.subject_id == str(individual))
        ).scalars()
        assert sorted(told) == ["affairs", "affairs2", "psych"]
    assert {i["code"]: i for i in plan(night, iid, "affairs")}["individual_session"]["overdue"] is True

    # Another college's officer cannot see or close any of it; closing and reopening does not open a second plan.
    assert night.client.get(f"/api/v1/incidents/{iid}/recovery", headers=night.token("officer_me")).status_code == 404
    assert night.client.post(f"/api/v1/recovery/{individual}/done", headers=night.token("officer_me"), json={}).status_code == 404
    walk(night, iid, ("start_review", "close"))
    team = night.token("response1")
    assert (
        night.client.post(f"/api/v1/incidents/{iid}/transitions/reopen", headers=team, json={"reason": "新情况"}).status_code
        == 200
    )
    assert len(plan(night, iid, "affairs")) == 7
