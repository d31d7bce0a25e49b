"""Working an escalation after the alarm: notes on its timeline, and handing it over to a named colleague.

A hand-over never stops a clock. An escalation still open (nobody has acknowledged it) stays open: the
colleague is told and may acknowledge it like anyone told at the current step, and the climb goes on
meanwhile, so handing over cannot be used to silence the alarm. An acknowledged escalation already has
no climb running: the colleague holds it from that moment (`held_by`), and resolving it is theirs (or
anyone's who may). Either way the colleague is told at once over the current step's channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Conflict, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation import rules, service
from riskcontrol.escalation.models import Escalation, EscalationEvent, EscalationRecipient
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import path_ids
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.models import RoleAssignment, User

NOTED, HANDED_OVER = "noted", "handed_over"
HANDOVER_KIND: Final = "escalation.handover"
NOTE_MAX: Final = 4000


@dataclass(frozen=True)
class Colleague:
    """Someone an escalation may be handed to: a responder at its unit or a unit above it, with the roles
    they hold there (a stand-in for someone away today holds none there and is listed all the same)."""

    user: User
    roles: tuple[tuple[str, OrgUnit], ...]


def detail_url(cfg: service.EscalationConfig, escalation_id: int) -> str:
    """The escalation's detail page, as a link in a message."""
    return f"{cfg.public_base_url.rstrip('/')}/escalations/{escalation_id}"


def _locked(db: Session, principal: Principal, escalation_id: int) -> tuple[Escalation, OrgUnit]:
    """The escalation in the caller's reach, locked for a change, with its unit."""
    esc = service.get(db, principal, escalation_id)
    db.refresh(esc, with_for_update=True)
    service.require_may_act(db, esc, principal.user_id, principal)
    unit = db.get(OrgUnit, esc.unit_id)
    assert unit is not None
    return esc, unit


def colleagues(db: Session, clock: Clock, cfg: service.EscalationConfig, esc: Escalation) -> list[Colleague]:
    """Whom the escalation may be handed to: the responders (`MAY_ACKNOWLEDGE`) at its unit and every unit
    above it, nearest first, with today's stand-in for anyone away."""
    unit = db.get(OrgUnit, esc.unit_id)
    assert unit is not None
    users = people_service.holders(
        db, unit.path, service.MAY_ACKNOWLEDGE, nearest=False, on=clock.now().astimezone(cfg.tz).date()
    )
    held: dict[int, list[tuple[str, OrgUnit]]] = {user.id: [] for user in users}
    if users:
        stmt = (
            select(RoleAssignment.user_id, RoleAssignment.role, OrgUnit)
            .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
            .where(
                RoleAssignment.user_id.in_(held),
                RoleAssignment.unit_id.in_(path_ids(unit.path)),
                RoleAssignment.role.in_(service.MAY_ACKNOWLEDGE),
            )
            .order_by(OrgUnit.depth.desc(), RoleAssignment.id)
        )
        for user_id, role, at in db.execute(stmt):
            held[user_id].append((role, at))
    return [Colleague(user, tuple(held[user.id])) for user in users]


def add_note(db: Session, clock: Clock, *, principal: Principal, escalation_id: int, text: str) -> EscalationEvent:
    """Write a line of the caller's own on the escalation's timeline (what they found, whom they rang); not
    once it is closed."""
    esc, _ = _locked(db, principal, escalation_id)
    if esc.status == service.CLOSED:
        raise Conflict(phrase("refusal.escalation.closed", id=esc.id), field="escalation_id")
    words = text.strip()
    if not words:
        raise InvalidInput(phrase("refusal.escalation.note_empty"), field="text")
    if len(words) > NOTE_MAX:
        raise InvalidInput(phrase("refusal.input.too_long", max=NOTE_MAX), field="text")
    line = EscalationEvent(
        escalation_id=esc.id, at=clock.now(), kind=NOTED, step=None, user_id=principal.user_id, detail={"text": words}
    )
    db.add(line)
    audit.record_by(db, clock, principal, "escalation.note", "escalation", esc.id, {"length": len(words)})
    return line


def hand_over(
    db: Session,
    clock: Clock,
    cfg: service.EscalationConfig,
    *,
    principal: Principal,
    escalation_id: int,
    to_user_id: int,
    note: str | None,
) -> Escalation:
    """Hand the escalation to a colleague (see the module's note on what happens to its clock): they are
    told over the current step's channels, it goes on the timeline and in the audit log."""
    esc, _ = _locked(db, principal, escalation_id)
    if esc.status in (service.RESOLVED, service.CLOSED):
        raise Conflict(phrase("refusal.escalation.handover_done", id=esc.id), field="escalation_id")
    if to_user_id == principal.user_id:
        raise InvalidInput(phrase("refusal.escalation.handover_self"), field="to_user_id")
    if to_user_id == esc.held_by:
        raise InvalidInput(phrase("refusal.escalation.handover_holder"), field="to_user_id")
    found = {c.user.id: c.user for c in colleagues(db, clock, cfg, esc)}
    target = found.get(to_user_id)
    if target is None:
        raise InvalidInput(phrase("refusal.escalation.handover_not_colleague"), field="to_user_id")
    words = (note or "").strip()
    if len(words) > NOTE_MAX:
        raise InvalidInput(phrase("refusal.input.too_long", max=NOTE_MAX), field="note")
    was = esc.status
    now = clock.now()
    esc.held_by = target.id
    # Told at the current step: an open escalation is theirs to acknowledge (and waits in their inbox).
    db.add(EscalationRecipient(escalation_id=esc.id, user_id=target.id, step=esc.current_step, told_at=now))
    detail: dict[str, object] = {"to": target.id, "while": was}
    if words:
        detail["note"] = words
    db.add(
        EscalationEvent(
            escalation_id=esc.id, at=now, kind=HANDED_OVER, step=esc.current_step, user_id=principal.user_id, detail=detail
        )
    )
    audit.record_by(db, clock, principal, "escalation.hand_over", "escalation", esc.id, {"to": target.id, "while": was})
    _tell(db, clock, cfg, esc, target, principal.display_name)
    return esc


def _tell(db: Session, clock: Clock, cfg: service.EscalationConfig, esc: Escalation, target: User, by_name: str) -> None:
    """Tell the new holder, in the escalation's words as they may read them, with a link to its page."""
    level = rules.from_snapshot(esc.policy)
    step = level.chain[min(esc.current_step, len(level.chain) - 1)]
    words = service.wordings(db, esc, [target])[target.id]
    link = detail_url(cfg, esc.id)
    params = {"who": by_name, "level": level.label}
    message = notify.Message.worded(
        HANDOVER_KIND,
        title=phrase("notice.escalation.handover_title", title=words.title, **params),
        body=phrase("notice.escalation.handover_body", summary=words.summary, **params),
        sms=phrase("notice.escalation.handover_sms", title=words.sms_title, link=link, **params),
        level=esc.level,
        data={"escalation_id": esc.id, "link": link},
    )
    channels = [str(c) for c in rules.channels_at(level, step.channels, clock.now(), cfg.tz) if c in notify.CHANNELS]
    channels = channels or [notify.IN_APP]
    item = notify.notify(
        db, clock, cfg.events, user=target, channels=channels, message=message, subject_type="escalation", subject_id=esc.id
    )
    # On the timeline like every telling of the climb: whom, over what, which message.
    db.add_all(
        EscalationEvent(
            escalation_id=esc.id,
            at=clock.now(),
            kind="notified",
            step=esc.current_step,
            user_id=target.id,
            notification_id=item.id,
            channel=channel,
            detail={"handed_over": True},
        )
        for channel in channels
    )
