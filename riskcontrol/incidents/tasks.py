"""An incident's playbook tasks: opened per state against deadlines, re-timed, completed, and the overdue ladder."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from riskcontrol.core import deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.incidents.board import append, record
from riskcontrol.incidents.config import IncidentConfig, playbook_of
from riskcontrol.incidents.models import Incident, IncidentTask
from riskcontrol.incidents.paging import duty_team, message, tell
from riskcontrol.incidents.playbook_rules import IcsRole, Level
from riskcontrol.incidents.reading import CANCELLED, DONE, OPEN, get, holders, may_command, wall_title
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role

TASK_OVERDUE: Final = "incident.task_overdue"
# The roles the "level above" is: the first ancestor unit where someone holds one of these is told.
ABOVE: Final = (Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS, Role.LEADER)


def _due(incident: Incident, after_start: timedelta) -> datetime:
    """A playbook deadline counted from the incident's start (compressed on a drill's scaled clock)."""
    return incident.started_at + after_start / incident.drill_scale


def open_tasks(db: Session, clock: Clock, incident: Incident, state: str, actor_id: int | None) -> None:
    """Create the playbook's tasks for `state` at the incident's level, each with its deadline row."""
    playbook = playbook_of(incident)
    existing = set(db.execute(select(IncidentTask.code).where(IncidentTask.incident_id == incident.id)).scalars())
    made: list[str] = []
    for task in playbook.tasks_for(state, Level(incident.level)):
        if task.code in existing:
            continue
        after = task.due_after_start(Level(incident.level))
        assert after is not None  # tasks_for only returns tasks listed at this level
        row = IncidentTask(
            incident_id=incident.id,
            code=task.code,
            state=state,
            stream=task.stream,
            label_zh=task.label.zh,
            label_en=task.label.en,
            owner_role=task.owner.value,
            checklist=[c.model_dump() for c in task.checklist],
            needs_evidence=task.needs_evidence,
            due_at=_due(incident, after),
            status=OPEN,
            created_at=clock.now(),
            overdue_step=0,
        )
        db.add(row)
        db.flush()
        deadlines.schedule(db, clock, kind=TASK_OVERDUE, subject_type="incident_task", subject_id=row.id, due_at=row.due_at)
        made.append(task.code)
    if made:
        append(db, clock, incident, "tasks_opened", actor_id, state=state, tasks=made)


def cancel_open_tasks(db: Session, incident: Incident) -> None:
    """Cancel every open task of a finished incident, and its deadline."""
    ids = list(
        db.execute(select(IncidentTask.id).where(IncidentTask.incident_id == incident.id, IncidentTask.status == OPEN)).scalars()
    )
    deadlines.cancel(db, subject_type="incident_task", subject_id=ids)
    if ids:
        db.execute(
            update(IncidentTask)
            .where(IncidentTask.id.in_(ids))
            .values(status=CANCELLED)
            .execution_options(synchronize_session="fetch")
        )


def retime_open_tasks(db: Session, clock: Clock, incident: Incident) -> None:
    """A change of level re-times the open tasks to the new level's deadlines (where the playbook has one)."""
    playbook = playbook_of(incident)
    level = Level(incident.level)
    retimed: list[IncidentTask] = []
    for row in db.execute(
        select(IncidentTask).where(IncidentTask.incident_id == incident.id, IncidentTask.status == OPEN)
    ).scalars():
        task = playbook.task(row.code)
        after = task.due_after_start(level) if task is not None else None
        if after is not None and _due(incident, after) != row.due_at:
            row.due_at, row.overdue_step = _due(incident, after), 0
            retimed.append(row)
    deadlines.cancel(db, subject_type="incident_task", subject_id=[row.id for row in retimed])
    for row in retimed:
        deadlines.schedule(db, clock, kind=TASK_OVERDUE, subject_type="incident_task", subject_id=row.id, due_at=row.due_at)


def complete_task(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, task_id: int, evidence: str | None
) -> IncidentTask:
    """Mark a task done (by its owner or the incident's command), with evidence where the playbook asks for it."""
    incident = get(db, principal, incident_id, lock=True)
    task = db.get(IncidentTask, task_id)
    if task is None or task.incident_id != incident.id:
        raise missing_or_private(db, IncidentTask, task_id, message=phrase("refusal.task.not_found", id=task_id), field="task_id")
    if not may_command(db, principal, incident) and holders(db, incident.id).get(task.owner_role) != principal.user_id:
        raise Forbidden(phrase("refusal.task.complete_forbidden"))
    named = i18n.Both(task.label_zh, task.label_en)
    if task.status != OPEN:
        raise Conflict(phrase(f"refusal.task.already_{task.status}", task=named), field="task_id")
    text = (evidence or "").strip()
    if task.needs_evidence and not text:
        raise InvalidInput(phrase("refusal.task.evidence", task=named), field="evidence")
    now = clock.now()
    task.status, task.done_at, task.done_by, task.evidence = DONE, now, principal.user_id, text or None
    deadlines.cancel(db, subject_type="incident_task", subject_id=task.id)
    late = now > task.due_at
    record(
        db,
        clock,
        cfg,
        incident,
        "task_done",
        principal.user_id,
        task_id=task.id,
        code=task.code,
        late=late,
        evidence=text or None,
    )
    return task


def on_task_overdue(cfg: IncidentConfig) -> deadlines.Handler:
    """A task passed its due time: tell its owner; 5 minutes on, the commander; then the level above."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        task = db.get(IncidentTask, int(deadline.subject_id), with_for_update=True)
        if task is None or task.status != OPEN:
            return
        incident = db.get(Incident, task.incident_id, with_for_update=True)
        if incident is None or not incident.is_open:
            return
        step = task.overdue_step + 1
        held = holders(db, incident.id)
        if step == 1:
            owner_id = held.get(task.owner_role) or held.get(IcsRole.COMMANDER.value)
            users = [u for u in [db.get(User, owner_id)] if u is not None] if owner_id else []
            whom = "owner"
        elif step == 2:
            commander_id = held.get(IcsRole.COMMANDER.value)
            users = [u for u in [db.get(User, commander_id)] if u is not None] if commander_id else []
            whom = "commander"
        else:
            users = people_service.holders(db, incident.unit_path, ABOVE, above=True)
            whom = "level_above"
        if not users:
            # Nobody holds the role (unfilled roles stay with the commander; no commander yet): the on-duty team.
            users, _rostered = duty_team(db, clock, incident)
        step_of = {
            "title": wall_title(db, incident),
            "task": i18n.Both(task.label_zh, task.label_en),
            "due": i18n.moment(task.due_at, cfg.tz, clock.now()),
        }
        overdue = message(
            cfg,
            incident,
            "incident.task_overdue",
            title=i18n.phrase("notice.incident.task_overdue.title", task=step_of["task"]),
            body=i18n.phrase("notice.incident.task_overdue.body", **step_of),
            sms=i18n.phrase("notice.incident.task_overdue.sms", **step_of),
            task_id=task.id,
            step=step,
        )
        told = tell(db, clock, cfg, incident, users, overdue)
        task.overdue_step = step
        record(
            db,
            clock,
            cfg,
            incident,
            "task_overdue",
            None,
            task_id=task.id,
            code=task.code,
            step=step,
            whom=whom,
            users=told,
            due_at=task.due_at.isoformat(),
            late=bool(deadline.late),
        )
        if step < 3:
            deadlines.schedule(
                db,
                clock,
                kind=TASK_OVERDUE,
                subject_type="incident_task",
                subject_id=task.id,
                # The ladder keeps its own schedule: after an outage every rung already due is told at once.
                due_at=deadline.due_at + cfg.overdue_step / incident.drill_scale,
            )

    return handle
