"""Improvement actions (整改措施): what a review decided to change — a rule, a process, a facility, training —
each with an owner and a due date, reminded before, escalated when overdue, closed only with evidence.

An action may put a hazard right: it names a hazard on the ledger, or puts a new one there (origin
"review"), and it can be closed only once that hazard has been accepted on site and struck off. The
leaders' list is every open action across the incidents in their scope, overdue first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards import service as hazards
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.rules import State as HazardState
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.incidents import board, reading
from riskcontrol.incidents.models import Incident
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.reviews.models import ImprovementAction, PlaybookRevision, ReviewMeeting
from riskcontrol.reviews.schemas import ActionDoneIn, ActionIn
from riskcontrol.reviews.service import RECORDERS, ReviewConfig, tell

SUBJECT: Final = "improvement_action"
REMIND: Final = "action.remind"
DUE: Final = "action.due"
REMIND_BEFORE: Final = timedelta(days=3)
OPEN, DONE = "open", "done"


def _tell(db: Session, clock: Clock, cfg: ReviewConfig, action: ImprovementAction, users: list[User], kind: str) -> list[int]:
    """Tell `users` of the action: a message of `kind` (`action.overdue`) says when it is, or was, due."""
    said = i18n.phrase(f"notice.{kind}.body", due=i18n.Day(action.due_at, cfg.tz))
    return tell(
        db,
        clock,
        cfg,
        users,
        kind=kind,
        title=i18n.phrase("notice.action.title", title=action.title),
        body=said,
        sms=i18n.phrase("notice.action.sms", title=action.title, body=said),
        data={"action_id": action.id, "incident_id": action.incident_id},
        subject=(SUBJECT, action.id),
    )


def create(
    db: Session, clock: Clock, cfg: ReviewConfig, hazard_cfg: HazardConfig, principal: Principal, incident_id: int, data: ActionIn
) -> ImprovementAction:
    """Record an action from the review of a closed incident; with `new_hazard` the hazard goes on the ledger too."""
    incident = reading.get(db, principal, incident_id)
    if not principal.has_role(*RECORDERS):
        raise Forbidden(phrase("refusal.action.record_forbidden"))
    if incident.is_open:
        raise Conflict(phrase("refusal.action.incident_open"), field="incident_id")
    now = clock.now()
    if data.due_at <= now:
        raise InvalidInput(phrase("refusal.action.due_past"), field="due_at")
    owner = db.get(User, data.owner_user_id)
    if owner is None or not owner.active:
        raise InvalidInput(phrase("refusal.people.no_active_user", id=data.owner_user_id), field="owner_user_id")
    if data.hazard_id is not None and data.new_hazard is not None:
        raise InvalidInput(phrase("refusal.action.hazard_both"), field="new_hazard")
    hazard_id = data.hazard_id
    if hazard_id is not None:
        hazards.get(db, principal, hazard_id)
    review = db.execute(
        select(ReviewMeeting.id).where(ReviewMeeting.incident_id == incident.id).order_by(ReviewMeeting.id.desc()).limit(1)
    ).scalar_one_or_none()
    action = ImprovementAction(
        incident_id=incident.id,
        review_id=review,
        unit_path=incident.unit_path,
        title=data.title,
        detail=data.detail,
        type=data.type,
        owner_user_id=owner.id,
        due_at=data.due_at,
        status=OPEN,
        overdue=False,
        hazard_id=hazard_id,
        evidence="",
        created_by=principal.user_id,
        created_at=now,
    )
    db.add(action)
    db.flush()
    if data.new_hazard is not None:
        hazard = hazards.create_hazard(
            db, clock, hazard_cfg, principal, data.new_hazard, origin="review", origin_ref=f"action:{action.id}"
        )
        action.hazard_id = hazard.id
    if data.due_at - REMIND_BEFORE > now:
        remind_at = data.due_at - REMIND_BEFORE
        deadlines.schedule(
            db, clock, kind=REMIND, subject_type=SUBJECT, subject_id=action.id, due_at=remind_at, stale_at=data.due_at
        )
    deadlines.schedule(db, clock, kind=DUE, subject_type=SUBJECT, subject_id=action.id, due_at=data.due_at)
    board.record(
        db,
        clock,
        cfg.incidents,
        incident,
        "action_added",
        principal.user_id,
        action_id=action.id,
        title=data.title,
        type=data.type,
    )
    _tell(
        db,
        clock,
        cfg,
        action,
        [owner],
        "action.assigned",
    )
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="action.create",
        subject_type=SUBJECT,
        subject_id=action.id,
    )
    return action


def get(db: Session, principal: Principal, action_id: int) -> ImprovementAction:
    action = db.get(ImprovementAction, action_id)
    if action is None or not (principal.covers(action.unit_path) or action.owner_user_id == principal.user_id):
        refusal = phrase("refusal.action.not_found", id=action_id)
        raise missing_or_private(db, ImprovementAction, action_id, message=refusal, field="action_id")
    return action


def complete(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, action_id: int, data: ActionDoneIn
) -> ImprovementAction:
    """Close an action with its evidence (its owner, or those who record reviews); an action that puts a hazard
    right is closed only once the hazard has been struck off, and one that proposed a playbook revision only once
    a leader has decided on it."""
    action = get(db, principal, action_id)
    if action.owner_user_id != principal.user_id and not principal.has_role(*RECORDERS):
        raise Forbidden(phrase("refusal.action.close_forbidden"))
    if action.status == DONE:
        raise Conflict(phrase("refusal.action.closed"), field="action_id")
    if action.hazard_id is not None:
        hazard = db.get(Hazard, action.hazard_id)
        if hazard is not None and hazard.state != HazardState.CLOSED:
            state = phrase(f"hazard_report.state.{hazard.state}")
            raise Conflict(phrase("refusal.action.hazard_open", id=hazard.id, state=state), field="hazard_id")
    waiting = db.execute(
        select(PlaybookRevision.id).where(PlaybookRevision.action_id == action.id, PlaybookRevision.status == "proposed").limit(1)
    ).scalar_one_or_none()
    if waiting is not None:
        raise Conflict(phrase("refusal.action.revision_waiting", id=waiting), field="playbook_revision")
    now = clock.now()
    action.status, action.evidence, action.done_at, action.done_by = DONE, data.evidence, now, principal.user_id
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=action.id)
    incident = db.get(Incident, action.incident_id)
    assert incident is not None
    board.record(
        db, clock, cfg.incidents, incident, "action_done", principal.user_id, action_id=action.id, late=now > action.due_at
    )
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="action.done",
        subject_type=SUBJECT,
        subject_id=action.id,
    )
    return action


def open_actions(db: Session, principal: Principal) -> list[ImprovementAction]:
    """Every open action across the incidents in scope: overdue first, then by due date (the leaders' list)."""
    stmt = select(ImprovementAction).where(ImprovementAction.status == OPEN, scope_clause(principal, ImprovementAction.unit_path))
    return list(db.execute(stmt.order_by(ImprovementAction.overdue.desc(), ImprovementAction.due_at)).scalars())


def of_incident(db: Session, incident_id: int) -> list[ImprovementAction]:
    return list(
        db.execute(
            select(ImprovementAction).where(ImprovementAction.incident_id == incident_id).order_by(ImprovementAction.id)
        ).scalars()
    )


def on_remind(cfg: ReviewConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        action = db.get(ImprovementAction, int(deadline.subject_id))
        if action is None or action.status != OPEN:
            return
        owner = db.get(User, action.owner_user_id)
        _tell(
            db,
            clock,
            cfg,
            action,
            [owner] if owner else [],
            "action.reminder",
        )

    return handle


def on_due(cfg: ReviewConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        action = db.get(ImprovementAction, int(deadline.subject_id))
        if action is None or action.status != OPEN:
            return
        action.overdue = True
        owner = db.get(User, action.owner_user_id)
        people = ([owner] if owner else []) + people_service.holders_at_root(db, action.unit_path, cfg.policy().escalate_to)
        told = _tell(
            db,
            clock,
            cfg,
            action,
            people,
            "action.overdue",
        )
        incident = db.get(Incident, action.incident_id)
        assert incident is not None
        board.record(db, clock, cfg.incidents, incident, "action_overdue", None, action_id=action.id, told=told)

    return handle


def register(cfg: ReviewConfig, handlers: DeadlineHandlers) -> None:
    handlers.register(REMIND, on_remind(cfg))
    handlers.register(DUE, on_due(cfg))
