"""HTTP API of escalations: what waits for me, acknowledge, notes, hand-over, resolve, close; the climb in words,
and whom to ring about one (each number asked for on its own, and audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.refusals import reply_language
from riskcontrol.escalation import contacts, handling, service
from riskcontrol.escalation.models import Escalation
from riskcontrol.escalation.schemas import (
    ColleagueOut,
    ColleagueRoleOut,
    ContactOut,
    EscalationDetailOut,
    EscalationOut,
    HandOverIn,
    NoteIn,
    OutcomeIn,
    PhoneIn,
    PhoneOut,
    StepOut,
    StoryLineOut,
    TimelineEntry,
)
from riskcontrol.escalation.story import story
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
        held_by=esc.held_by,
        reported_by=esc.reported_by,
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


def _config(ctx: AppContext) -> service.EscalationConfig:
    cfg: service.EscalationConfig = ctx.extras["escalation"]
    return cfg


@router.get("/{escalation_id}/story", response_model=list[StoryLineOut], responses=error_responses(404))
def get_story(escalation_id: PathId, request: Request, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> list[StoryLineOut]:
    """The whole climb in words, oldest first, in the reply's language (`?lang=`, then Accept-Language):
    told whom by which channel, delivered and read, climbed, acknowledged, handed over, noted, resolved."""
    esc = service.get(db, principal, escalation_id)
    lang = reply_language(request)
    tz, today = ctx.settings.tz, ctx.clock.now().astimezone(ctx.settings.tz).date()
    lines = story(db, esc, service.reader_view(db, principal, esc, lang=lang), reader_id=principal.user_id)
    return [
        StoryLineOut(at=line.at, when=i18n.when(line.at, lang, tz, today=today), text=i18n.word(lang, line.text), tone=line.tone)
        for line in lines
    ]


@router.get("/{escalation_id}/contacts", response_model=list[ContactOut], responses=error_responses(404))
def list_contacts(escalation_id: PathId, request: Request, db: Db, principal: CurrentPrincipal) -> list[ContactOut]:
    """Whom to ring about the escalation, as the disclosure policy shows each to the caller; no numbers."""
    esc = service.get(db, principal, escalation_id)
    found = contacts.contacts(db, principal, esc, lang=reply_language(request))
    return [ContactOut(key=c.key, kind=c.kind, name=c.name, relation=c.relation, may_call=c.may_call) for c in found]


@router.post("/{escalation_id}/phone", response_model=PhoneOut, responses=error_responses(403, 404, 422))
def read_phone(escalation_id: PathId, body: PhoneIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> PhoneOut:
    """One contact's number, with its `tel:` link, for a caller the policy shows that person to in full;
    every read is written to the audit log."""
    contact, tel, number = contacts.phone(db, ctx.clock, principal=principal, escalation_id=escalation_id, key=body.contact)
    db.commit()
    return PhoneOut(key=contact.key, name=contact.name, tel=tel, number=number)


@router.get("/{escalation_id}/colleagues", response_model=list[ColleagueOut], responses=error_responses(404))
def list_colleagues(escalation_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> list[ColleagueOut]:
    """Whom the escalation may be handed to: responders at its unit or above it, nearest first."""
    esc = service.get(db, principal, escalation_id)
    return [
        ColleagueOut(
            user_id=c.user.id,
            name=c.user.name,
            roles=[ColleagueRoleOut(role=r, unit_id=u.id, unit_name_zh=u.name_zh, unit_name_en=u.name_en) for r, u in c.roles],
        )
        for c in handling.colleagues(db, ctx.clock, _config(ctx), esc)
        if c.user.id != principal.user_id
    ]


@router.post(
    "/{escalation_id}/notes", status_code=201, response_model=EscalationOut, responses=error_responses(403, 404, 409, 422)
)
def add_note(escalation_id: PathId, body: NoteIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationOut:
    """Write a line of one's own on the escalation's timeline."""
    handling.add_note(db, ctx.clock, principal=principal, escalation_id=escalation_id, text=body.text)
    db.commit()
    esc = service.get(db, principal, escalation_id)
    return shown(esc, ctx.clock, service.reader_view(db, principal, esc))


@router.post("/{escalation_id}/handover", response_model=EscalationOut, responses=error_responses(403, 404, 409, 422))
def hand_over(escalation_id: PathId, body: HandOverIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> EscalationOut:
    """Hand the escalation to a colleague: acknowledged, they hold it from now; still open, they are told and
    may acknowledge it, and the climb goes on until someone does."""
    esc = handling.hand_over(
        db, ctx.clock, _config(ctx), principal=principal, escalation_id=escalation_id, to_user_id=body.to_user_id, note=body.note
    )
    db.commit()
    return shown(esc, ctx.clock, service.reader_view(db, principal, esc))
