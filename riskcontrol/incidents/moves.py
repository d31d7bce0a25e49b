"""Moving an incident through the crisis SOP: firing a trigger, what each trigger does besides, the events emitted.

The SOP (`sop/crisis.yaml`) says which triggers fire from which states and where they lead; what a
trigger does beyond that (a change of level re-times the tasks, a merge tells the other incident) is
declared here by trigger name in `EFFECTS`, so `transition` runs every trigger the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Conflict, InvalidInput
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.security import Principal
from riskcontrol.core.shapes import Label
from riskcontrol.incidents.board import append, last_event, record, tell_board
from riskcontrol.incidents.config import IncidentConfig, machine_of
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.paging import PAGES_ON_DUTY, page_on_duty
from riskcontrol.incidents.playbook_rules import Level
from riskcontrol.incidents.reading import get, require_command
from riskcontrol.incidents.rules import CrisisSop, IllegalTrigger
from riskcontrol.incidents.schemas import TransitionIn
from riskcontrol.incidents.tasks import cancel_open_tasks, open_tasks, retime_open_tasks


@dataclass(frozen=True)
class IncidentClosed:
    """Emitted in the closing transaction when an incident reaches a final state (closed, false alarm, merged)."""

    incident_id: int
    state: str
    level: int
    drill: bool
    closed_at: datetime
    unit_path: str


@dataclass(frozen=True)
class RecoveryBegan:
    """Emitted in the transaction that first moves an incident into a state of the SOP's recovery phase."""

    incident_id: int
    began_at: datetime
    unit_path: str


@dataclass(frozen=True)
class IncidentReopened:
    """Emitted in the transaction that reopens a finished incident."""

    incident_id: int


class IllegalNow(Conflict):
    """409: the trigger cannot fire from the incident's state; `legal` lists the ones that can."""

    code = "illegal_transition"

    def __init__(self, exc: IllegalTrigger, sop: CrisisSop) -> None:
        legal = listing(trigger_named(sop, t) for t in exc.legal) if exc.legal else phrase("refusal.nothing")
        trigger, state = trigger_named(sop, exc.trigger), sop.state(exc.state).label
        super().__init__(phrase("refusal.incident.illegal_trigger", trigger=trigger, state=state, legal=legal), field="trigger")
        self.legal = exc.legal
        self.state = exc.state

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {**super().as_dict(lang), "state": self.state, "legal": list(self.legal)}


def trigger_named(sop: CrisisSop, trigger: str) -> Label | str:
    """A trigger by its name in words (the SOP's label), or its code when the SOP has no such trigger."""
    spec = sop.trigger(trigger)
    return spec.label if spec is not None else trigger


# --- what a trigger does besides moving the state -------------------------------------------------


@dataclass(frozen=True)
class Firing:
    """A trigger being fired on an incident (locked, its command checked), as the trigger's effect sees it."""

    db: Session
    clock: Clock
    cfg: IncidentConfig
    principal: Principal
    incident: Incident
    data: TransitionIn
    reason: str


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Changes:
    """What a trigger changes besides the state, checked before anything is written. `data` goes on the
    timeline line and in the audit; each step runs where `transition` reaches it."""

    data: dict[str, Any] = field(default_factory=dict)
    # Open the state's tasks although the state stays (a new level brings that level's tasks).
    reenter: bool = False
    # Once the state is set, before the timeline line.
    moved: Callable[[], None] = _nothing
    # In a final state: after the open tasks are cancelled, before `IncidentClosed` is emitted.
    closing: Callable[[], None] = _nothing
    # Once the incident stands where the trigger took it, before the audit and the board.
    settled: Callable[[], None] = _nothing


# Checks the trigger's input (a 422 naming the field) and says what it will change.
Effect = Callable[[Firing], Changes]


def _change_level(firing: Firing) -> Changes:
    """A new level: the open tasks re-timed and the level's own tasks opened; graver into Ⅰ–Ⅲ pages the on-duty team."""
    incident, level = firing.incident, firing.data.level
    if level is None:
        raise InvalidInput(phrase("refusal.incident.level_missing"), field="level")
    if int(level) == incident.level:
        raise InvalidInput(phrase("refusal.incident.level_same", level=Level(incident.level).numeral), field="level")
    before, after = incident.level, int(level)

    def moved() -> None:
        incident.level = after
        retime_open_tasks(firing.db, firing.clock, incident)

    def settled() -> None:
        if Level(after) in PAGES_ON_DUTY and before > after:
            page_on_duty(firing.db, firing.clock, firing.cfg, incident)

    return Changes({"from_level": before, "to_level": after}, reenter=True, moved=moved, settled=settled)


def _merge(firing: Firing) -> Changes:
    """Into another open incident in the caller's scope: this one closes pointing at it, whose timeline says so."""
    db, incident, into = firing.db, firing.incident, firing.data.into_incident_id
    if into is None:
        raise InvalidInput(phrase("refusal.incident.merge_into_missing"), field="into_incident_id")
    if into == incident.id:
        raise InvalidInput(phrase("refusal.incident.merge_itself"), field="into_incident_id")
    target = get(db, firing.principal, into, lock=True)
    if not target.is_open:
        raise InvalidInput(phrase("refusal.incident.merge_closed", id=target.id), field="into_incident_id")

    def closing() -> None:
        incident.merged_into_id = target.id
        merged_in = {"incident_id": incident.id, "reason": firing.reason}
        record(db, firing.clock, firing.cfg, target, "merged_in", firing.principal.user_id, **merged_in)

    return Changes({"into_incident_id": target.id}, closing=closing)


# By the trigger's name in sop/crisis.yaml; a trigger not named here only moves the state.
EFFECTS: Final[Mapping[str, Effect]] = {
    "change_level": _change_level,
    "merge": _merge,
}


# --- firing ------------------------------------------------------------------------------------


def transition(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, trigger: str, data: TransitionIn
) -> Incident:
    """Fire `trigger` on the incident; Conflict naming the legal triggers when it cannot fire now."""
    incident = get(db, principal, incident_id, lock=True)
    require_command(db, principal, incident)
    machine = machine_of(incident)
    try:
        move = machine.fire(incident.state, trigger)
    except IllegalTrigger as exc:
        raise IllegalNow(exc, machine.sop) from exc
    spec = machine.sop.trigger(trigger)
    assert spec is not None  # fire() succeeded
    reason = (data.reason or "").strip()
    if spec.confirm and not data.confirm:
        raise InvalidInput(phrase("refusal.incident.confirm", trigger=spec.label), field="confirm")
    if spec.needs_reason and not reason:
        raise InvalidInput(phrase("refusal.incident.reason_needed", trigger=spec.label), field="reason")
    effect = EFFECTS.get(trigger)
    changes = effect(Firing(db, clock, cfg, principal, incident, data, reason)) if effect is not None else Changes()
    now = clock.now()
    incident.state = move.dest
    changes.moved()
    append(
        db,
        clock,
        incident,
        "transition",
        principal.user_id,
        trigger=trigger,
        source=move.source,
        dest=move.dest,
        reason=reason or None,
        **changes.data,
    )
    final = machine.sop.state(move.dest).final
    if final:
        incident.is_open = False
        incident.closed_at = now
        cancel_open_tasks(db, incident)
        changes.closing()
        closed = IncidentClosed(incident.id, incident.state, incident.level, incident.drill, now, incident.unit_path)
        cfg.events.emit(db, clock, closed)
    else:
        if not incident.is_open:  # reopened
            incident.is_open, incident.closed_at = True, None
            cfg.events.emit(db, clock, IncidentReopened(incident.id))
        if not move.internal or changes.reenter:
            open_tasks(db, clock, incident, move.dest, principal.user_id)
        phase = machine.sop.state(move.dest).phase
        if phase == "recovery" and machine.sop.state(move.source).phase != "recovery":
            cfg.events.emit(db, clock, RecoveryBegan(incident.id, now, incident.unit_path))
    changes.settled()
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=f"incident.{trigger}",
        subject_type="incident",
        subject_id=str(incident.id),
        detail={"source": move.source, "dest": move.dest, **changes.data},
    )
    tell_board(db, clock, cfg, incident, last_event(db, incident))
    return incident
