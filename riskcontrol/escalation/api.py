"""HTTP API of escalations: what waits for me, acknowledge, resolve, close, and the signed one-tap link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.escalation import service
from riskcontrol.escalation.models import Escalation
from riskcontrol.escalation.schemas import EscalationDetailOut, EscalationOut, OutcomeIn, StepOut, TimelineEntry
from riskcontrol.notify import service as notify
from riskcontrol.people.disclosure import View
from riskcontrol.people.models import User

router = APIRouter(prefix="/api/v1/escalations", tags=["escalations"])


def shown(esc: Escalation, clock: Clock, view: View) -> EscalationOut:
    """The escalation as the reader may see it: its student as the disclosure policy allows, its words
    (the report, the outcome) only for staff who cover it."""
    left = None
    if esc.status == service.OPEN and esc.step_due_at is not None:
        left = int((esc.step_due_at - clock.now()).total_seconds())
    return EscalationOut(
        id=esc.id,
        subject_type=esc.subject_type,
        subject_id=esc.subject_id,
        level=esc.level,
        unit_id=esc.unit_id,
        title_zh=view.title(esc.title_zh),
        title_en=view.title(esc.title_en),
        summary_zh=view.text(esc.summary_zh),
        summary_en=view.text(esc.summary_en),
        status=esc.status,
        current_step=esc.current_step,
        step_due_at=esc.step_due_at,
        step_late_seconds=esc.step_late_seconds,
        seconds_left=left,
        started_at=esc.started_at,
        acknowledged_at=esc.acknowledged_at,
        acknowledged_by=esc.acknowledged_by,
        acknowledged_via=esc.acknowledged_via,
        outcome=view.text(esc.outcome) if esc.outcome is not None else None,
        delivery_problem=esc.delivery_problem,
    )


def _instant(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def detail(db: Session, esc: Escalation, clock: Clock, view: View) -> EscalationDetailOut:
    timeline = service.timeline(db, esc.id)
    events = [
        TimelineEntry(
            at=e.at,
            kind=e.kind,
            step=e.step,
            user_id=e.user_id,
            notification_id=e.notification_id,
            channel=e.channel,
            detail=e.detail,
        )
        for e in timeline
    ]
    steps = [
        StepOut(
            step=e.step or 0,
            grid_level=str(e.detail.get("grid_level", "")),
            scheduled_at=_instant(e.detail.get("scheduled_at")),
            told_at=e.at,
            late_seconds=int(e.detail.get("late_seconds", 0)),
            due_at=_instant(e.detail.get("due_at")),
        )
        for e in timeline
        if e.kind == "step"
    ]
    return EscalationDetailOut(
        **shown(esc, clock, view).model_dump(),
        steps=steps,
        timeline=events,
        deliveries=notify.deliveries(db, subject_type="escalation", subject_id=esc.id),
    )


@router.get("", response_model=list[EscalationOut])
def list_escalations(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[EscalationOut]:
    """`mine=true`: what waits for me (soonest deadline first); otherwise everything in my scope."""
    if mine:
        return [
            shown(e, ctx.clock, service.reader_view(db, principal, e, told=True))
            for e in service.waiting_for(db, principal.user_id)
        ]
    rows = db.execute(service.in_scope(principal).limit(limit).offset(offset)).scalars()
    return [shown(e, ctx.clock, service.reader_view(db, principal, e)) for e in rows]


@router.get("/{escalation_id}", response_model=EscalationDetailOut, responses=error_responses(404))
def get_escalation(escalation_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationDetailOut:
    """One escalation with its timeline and the delivery status of every message."""
    esc = service.get(db, principal, escalation_id)
    return detail(db, esc, ctx.clock, service.reader_view(db, principal, esc))


@router.post("/{escalation_id}/ack", response_model=EscalationOut, responses=error_responses(403, 404, 409))
def acknowledge(escalation_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationOut:
    """Stop the climb: I have it."""
    user = db.get(User, principal.user_id)
    assert user is not None
    esc = service.acknowledge(db, ctx.clock, escalation_id=escalation_id, user=user, principal=principal, via="app")
    db.commit()
    return shown(esc, ctx.clock, service.reader_view(db, principal, esc))


@router.post("/{escalation_id}/resolve", response_model=EscalationOut, responses=error_responses(403, 404, 409))
def resolve(escalation_id: PathId, body: OutcomeIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationOut:
    """Record what was done and how it ended."""
    esc = service.resolve(db, ctx.clock, escalation_id=escalation_id, principal=principal, outcome=body.outcome, close=False)
    db.commit()
    return shown(esc, ctx.clock, service.reader_view(db, principal, esc))


@router.post("/{escalation_id}/close", response_model=EscalationOut, responses=error_responses(403, 404, 409))
def close(escalation_id: PathId, body: OutcomeIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationOut:
    """Close a resolved escalation."""
    esc = service.resolve(db, ctx.clock, escalation_id=escalation_id, principal=principal, outcome=body.outcome, close=True)
    db.commit()
    return shown(esc, ctx.clock, service.reader_view(db, principal, esc))
