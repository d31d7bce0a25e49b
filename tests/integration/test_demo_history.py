"""The demo history: on the demo campus at 22:00 on 28 November, a level Ⅱ missing-student incident of CS2301 from the
night of 10 November is walked to closed, reviewed on the 18th with two actions and put in the case library, and the
first worker round of the demo afterwards finds nothing of it to fire or send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskcontrol.cli import app as cli
from riskcontrol.core import deadlines, outbox
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.demo_history import CONCLUSIONS, TITLE, seed_history
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentTask
from riskcontrol.models import metadata
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Guardian, Student
from riskcontrol.reviews import report_rules
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, RecoveryItem
from tests.integration.conftest import SHANGHAI, TEN_PM, Night


def seeded(night: Night) -> int:
    summary = seed_history(night.app.state.ctx, night.clock)
    assert summary.created
    assert summary.incident_id is not None
    return summary.incident_id


def rows(db: Session) -> dict[str, int]:
    """How many rows every table holds."""
    return {t.name: int(db.execute(select(func.count()).select_from(t)).scalar_one()) for t in metadata.sorted_tables}


def test_the_incident_was_walked_on_time_but_for_two_steps_and_closed_16_days_ago(night: Night) -> None:
    iid = seeded(night)
    with night.sessions() as db:
        incident = db.get(Incident, iid)
        assert incident is not None
        assert (incident.type, incident.level, incident.state, incident.is_open) == ("missing_student", 2, "closed", False)
        assert incident.started_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "11-10 22:10"
        assert incident.closed_at is not None
        assert (TEN_PM - incident.closed_at).days == 16
        cls = db.get(OrgUnit, incident.unit_id)
        assert cls is not None
        assert cls.code == "CS2301"
        people = {p.involvement: p for p in db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == iid)).scalars()}
        assert set(people) == {"missing", "witness"}
        tasks = list(db.execute(select(IncidentTask).where(IncidentTask.incident_id == iid)).scalars())
    assert {t.status for t in tasks} == {"done"}
    verdicts = {t.code: report_rules.verdict(t.due_at, t.done_at, TEN_PM).text("zh") for t in tasks}
    late = {code: text for code, text in verdicts.items() if text != "按时"}
    assert late == {"report_in_writing": "超时 7分钟", "contact_family": "超时 4分钟"}
    timeline = night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=night.token("response1")).json()
    overdue = [(e["data"]["code"], e["data"]["whom"]) for e in timeline if e["kind"] == "task_overdue"]
    assert overdue == [("report_in_writing", "owner"), ("report_in_writing", "commander"), ("contact_family", "owner")]


def test_the_review_actions_recovery_plan_and_case_are_there_for_the_leaders(night: Night, tmp_path: Path) -> None:
    iid = seeded(night)
    leader = night.token("leader")
    [meeting] = [m for m in night.client.get("/api/v1/reviews", headers=leader).json() if m["incident_id"] == iid]
    assert (meeting["status"], meeting["days_late"]) == ("held", 0)
    assert meeting["held_at"].startswith("2026-11-18")
    assert len(meeting["attendees"]) == 7
    assert "门禁" in meeting["minutes"]
    assert len(meeting["conclusions"]) == 3
    with night.sessions() as db:
        actions = list(db.execute(select(ImprovementAction).where(ImprovementAction.incident_id == iid)).scalars())
        items = list(db.execute(select(RecoveryItem).where(RecoveryItem.incident_id == iid)).scalars())
    assert sorted((a.type, a.status) for a in actions) == [("facility", "open"), ("process", "done")]
    facility = next(a for a in actions if a.type == "facility")
    assert facility.title == "东区1号楼门禁夜间异常自动推送"
    assert timedelta(days=13) < facility.due_at - TEN_PM < timedelta(days=15)
    assert next(a for a in actions if a.type == "process").evidence
    done = [i for i in items if i.status == "done"]
    assert 0 < len(done) < len(items)
    assert all(i.note and i.done_by == i.owner_user_id for i in done)
    follow_up = next(i for i in items if i.code == "follow_up_1m")
    assert follow_up.status == "open"
    assert follow_up.due_at > TEN_PM

    pdf = night.client.get(f"/api/v1/incidents/{iid}/review-report.pdf", headers=leader)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    # The psych centre reads its own notes; the counsellor sees that the sessions took place.
    plan = night.client.get(f"/api/v1/incidents/{iid}/recovery", headers=night.token("psych")).json()
    assert {i["note"] for i in plan if i["status"] == "done"} >= {"已完成个体心理辅导，约定后续随访。"}
    seen = night.client.get(f"/api/v1/incidents/{iid}/recovery", headers=night.token("counselor_cs")).json()
    assert [(i["has_note"], i["note"]) for i in seen if i["status"] == "done"] == [(True, None)] * len(done)


def test_the_case_names_nobody(night: Night) -> None:
    iid = seeded(night)
    with night.sessions() as db:
        identifiers: list[str] = []
        for person in db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == iid)).scalars():
            student = db.get(Student, person.student_id)
            assert student is not None
            room = db.get(OrgUnit, student.dorm_id)
            assert room is not None
            identifiers += [student.name, student.student_no, student.phone or "", room.code, room.name_zh]
            for guardian in db.execute(select(Guardian).where(Guardian.student_id == student.id)).scalars():
                identifiers += [guardian.name, guardian.phone]
        case = db.execute(select(CaseStudy).where(CaseStudy.incident_id == iid)).scalar_one()
    staff = [night.user(name).name for name in ("response1", "leader", "counselor_cs", "affairs", "officer_cs", "safety")]
    [listed] = night.client.get("/api/v1/cases", headers=night.token("counselor_cs")).json()
    exported = night.client.get(f"/api/v1/cases/{case.id}/export.md", headers=night.token("counselor_cs"))
    assert exported.status_code == 200
    text = json.dumps(case.body, ensure_ascii=False) + case.text + json.dumps(listed, ensure_ascii=False) + exported.text
    for identifier in [*identifiers, *staff]:
        assert identifier, "every identifier of the people involved is known"
        assert identifier not in text, identifier
    # What a counsellor learns from is still there.
    assert case.body["conclusions"] == list(CONCLUSIONS)
    assert case.body["steps"]["late"] == ["书面报告（初报）", "联系家长，了解学生可能去向"]


def test_the_first_worker_round_after_seeding_sends_nothing_and_a_second_seeding_adds_nothing(night: Night) -> None:
    seeded(night)
    now = night.clock.now()
    with night.sessions() as db:
        overdue = db.execute(
            select(func.count()).select_from(Deadline).where(Deadline.status == deadlines.PENDING, Deadline.due_at < now)
        ).scalar_one()
        waiting = db.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != outbox.SENT)
        ).scalar_one()
        unread = db.execute(select(func.count()).select_from(Notification).where(Notification.read_at.is_(None))).scalar_one()
        before = rows(db)
    assert (overdue, waiting, unread) == (0, 0, 0)
    assert before["notification"] > 0
    assert before["outbox_message"] > 0

    night.worker.run_once()
    with night.sessions() as db:
        after = rows(db)
    assert {t: after[t] for t in ("notification", "outbox_message", "outbox_attempt")} == {
        t: before[t] for t in ("notification", "outbox_message", "outbox_attempt")
    }
    assert night.twilio.messages == []

    again = seed_history(night.app.state.ctx, night.clock)
    assert not again.created
    assert "nothing was added" in again.describe()
    with night.sessions() as db:
        assert rows(db) == after
        assert db.execute(select(func.count()).select_from(Incident).where(Incident.title == TITLE)).scalar_one() == 1


def test_the_demo_command_seeds_the_history_after_a_new_campus_only(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    env = {
        "RISKCONTROL_DATABASE_URL": database_url,
        "RISKCONTROL_VAR_DIR": str(tmp_path / "var"),
        "RISKCONTROL_SECRET_KEY": "demo-history-" + "s" * 40,
    }
    first = CliRunner().invoke(cli, ["demo", "--no-serve"], env=env)
    assert first.exit_code == 0, first.output
    assert "history: 1 incident reviewed (20 SOP tasks, 2 late)" in first.output
    second = CliRunner().invoke(cli, ["demo", "--no-serve"], env=env)
    assert second.exit_code == 0, second.output
    assert "history" not in second.output
    with sessions() as db:
        assert db.execute(select(func.count()).select_from(Incident)).scalar_one() == 1
        started = db.execute(select(Incident.started_at)).scalar_one()
    assert timedelta(days=17) < datetime.now(UTC) - started < timedelta(days=19)
    assert not (tmp_path / "var" / "sms-outbox.log").exists()  # nobody was texted
