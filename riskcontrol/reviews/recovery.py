"""Recovery plans (善后恢复): when an incident first enters its recovery stage, the plan of `sop/recovery_plan.yaml`
opens as tasks on the incident — sessions and follow-ups per person involved, a group session for the class —
each with its owner (the nearest holder of the role above the incident's unit) and a deadline row. A task
not done in time is overdue once and its owner and student affairs are told.

Session notes are clinical: only the psychological centre reads them, and each such read is audited;
everyone else sees whether a session happened and when. Reopening an incident keeps its plan (the people
still need the care); a plan is opened once per incident.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden
from riskcontrol.core.events import Events
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.incidents import board, reading
from riskcontrol.incidents.models import Incident, IncidentPerson
from riskcontrol.incidents.moves import RecoveryBegan
from riskcontrol.people import service as people_service
from riskcontrol.people.disclosure_rules import sees_texts
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role
from riskcontrol.reviews.models import RecoveryItem
from riskcontrol.reviews.rules import PlanItem, RecoveryPlan
from riskcontrol.reviews.service import ReviewConfig, tell

PLAN_FILE: Final = "recovery_plan.yaml"
SUBJECT: Final = "recovery_item"
ITEM_DUE: Final = "recovery.item_due"
OPEN, DONE = "open", "done"
READS_NOTES: Final = (Role.PSYCH_CENTER,)
# Who may mark a task done besides its owner: the psych centre, counsellors and officers in scope, student affairs.
COMPLETERS: Final = (Role.PSYCH_CENTER, Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS, Role.ADMIN)


@functools.lru_cache(maxsize=4)
def _load(path: Path, _mtime: float) -> RecoveryPlan:
    return load_model(path, RecoveryPlan)


def load_plan(sop_dir: Path) -> RecoveryPlan:
    path = sop_dir / PLAN_FILE
    return _load(path, path.stat().st_mtime)


def _item(
    db: Session, clock: Clock, incident: Incident, plan_item: PlanItem, began_at: datetime, person_id: int | None
) -> RecoveryItem:
    owners = people_service.holders(db, incident.unit_path, [plan_item.owner])
    item = RecoveryItem(
        incident_id=incident.id,
        person_id=person_id,
        unit_path=incident.unit_path,
        code=plan_item.code,
        label_zh=plan_item.label.zh,
        label_en=plan_item.label.en,
        owner_role=plan_item.owner,
        owner_user_id=owners[0].id if owners else None,
        due_at=began_at + plan_item.within,
        status=OPEN,
        overdue=False,
        note="",
        created_at=clock.now(),
    )
    db.add(item)
    db.flush()
    deadlines.schedule(db, clock, kind=ITEM_DUE, subject_type=SUBJECT, subject_id=item.id, due_at=item.due_at)
    return item


def on_recovery_began(cfg: ReviewConfig) -> Callable[[Session, Clock, RecoveryBegan], None]:
    def handle(db: Session, clock: Clock, event: RecoveryBegan) -> None:
        if db.execute(select(RecoveryItem.id).where(RecoveryItem.incident_id == event.incident_id).limit(1)).first():
            return  # a plan is opened once per incident
        incident = db.get(Incident, event.incident_id)
        assert incident is not None
        plan = load_plan(cfg.sop_dir)
        made: list[RecoveryItem] = []
        people = db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident.id).order_by(IncidentPerson.id))
        for person in people.scalars():
            made.extend(
                _item(db, clock, incident, item, event.began_at, person.id) for item in plan.items_for(person.involvement)
            )
        made.extend(_item(db, clock, incident, item, event.began_at, None) for item in plan.per_incident)
        board.record(db, clock, cfg.incidents, incident, "recovery_plan", None, items=[i.code for i in made])

    return handle


def on_item_due(cfg: ReviewConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        item = db.get(RecoveryItem, int(deadline.subject_id))
        if item is None or item.status != OPEN:
            return
        item.overdue = True
        owner = db.get(User, item.owner_user_id) if item.owner_user_id is not None else None
        people = ([owner] if owner is not None and owner.active else []) + people_service.holders_at_root(
            db, item.unit_path, [Role.STUDENT_AFFAIRS]
        )
        incident = db.get(Incident, item.incident_id)
        assert incident is not None
        task = i18n.Both(item.label_zh, item.label_en)
        due = i18n.moment(item.due_at, cfg.tz, clock.now())
        told = tell(
            db,
            clock,
            cfg,
            people,
            kind="recovery.overdue",
            title=i18n.phrase("notice.recovery.overdue.title", task=task),
            body=i18n.phrase("notice.recovery.overdue.body", title=reading.wall_title(db, incident), task=task, due=due),
            sms=i18n.phrase("notice.recovery.overdue.title", task=task),
            data={"recovery_item_id": item.id, "incident_id": incident.id},
            subject=(SUBJECT, item.id),
        )
        board.record(
            db,
            clock,
            cfg.incidents,
            incident,
            "recovery_overdue",
            None,
            item_id=item.id,
            code=item.code,
            label=_label(item),
            told=told,
        )

    return handle


def _label(item: RecoveryItem) -> dict[str, str]:
    """The task's name on the incident's timeline, which the incident page words without the recovery plan."""
    return {"zh": item.label_zh, "en": item.label_en}


def register(cfg: ReviewConfig, handlers: DeadlineHandlers, events: Events) -> None:
    handlers.register(ITEM_DUE, on_item_due(cfg))
    events.subscribe(RecoveryBegan, on_recovery_began(cfg))


def plan_of(db: Session, clock: Clock, principal: Principal, incident_id: int) -> tuple[list[RecoveryItem], bool]:
    """The incident's recovery tasks, and whether the caller may read their notes (that read is audited)."""
    incident = reading.get(db, principal, incident_id)
    items = list(
        db.execute(
            select(RecoveryItem).where(RecoveryItem.incident_id == incident.id).order_by(RecoveryItem.due_at, RecoveryItem.id)
        ).scalars()
    )
    if not sees_texts(principal.grants, incident.unit_path):
        # A student's grid role sees only the recovery tasks given to them, never the plan.
        items = [item for item in items if item.owner_user_id == principal.user_id]
    # The notes' role checked at the unit where it is held.
    reads = principal.narrowed_to(*READS_NOTES).covers(incident.unit_path)
    if reads and any(item.note for item in items):
        audit.record(
            db,
            clock,
            actor_user_id=principal.user_id,
            actor=principal.username,
            action="recovery.notes_read",
            subject_type="incident",
            subject_id=incident.id,
        )
    return items, reads


def complete(db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, item_id: int, note: str) -> RecoveryItem:
    """Mark a recovery task done, with the session's note (clinical: kept from all but the psych centre)."""
    item = db.get(RecoveryItem, item_id)
    if item is None or not (principal.covers(item.unit_path) or item.owner_user_id == principal.user_id):
        refusal = phrase("refusal.recovery.not_found", id=item_id)
        raise missing_or_private(db, RecoveryItem, item_id, message=refusal, field="item_id")
    if item.owner_user_id != principal.user_id and not principal.has_role(*COMPLETERS):
        raise Forbidden(phrase("refusal.recovery.complete_forbidden"))
    if item.status == DONE:
        raise Conflict(phrase("refusal.recovery.done"), field="item_id")
    now = clock.now()
    item.status, item.done_at, item.done_by, item.note = DONE, now, principal.user_id, note.strip()
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=item.id)
    incident = db.get(Incident, item.incident_id)
    assert incident is not None
    # The timeline says that it happened, never what was said.
    board.record(
        db,
        clock,
        cfg.incidents,
        incident,
        "recovery_done",
        principal.user_id,
        item_id=item.id,
        code=item.code,
        label=_label(item),
        late=now > item.due_at,
    )
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="recovery.done",
        subject_type=SUBJECT,
        subject_id=item.id,
    )
    return item
