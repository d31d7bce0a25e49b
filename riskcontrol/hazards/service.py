"""The hazard ledger's use cases: report, assess, assign the five fixes, rectify, accept and strike off,
with the history of every change; and the deadline rows that follow a hazard (their reactions are in
`followup`: reminders before the rectification deadline, overdue at it, late acceptance after it)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import Events
from riskcontrol.core.http import AppContext
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards import rules
from riskcontrol.hazards.geometry import geometry_of
from riskcontrol.hazards.models import Hazard, HazardEvent
from riskcontrol.hazards.rules import Action, RiskMatrix, State
from riskcontrol.hazards.schemas import (
    AcceptIn,
    AssessIn,
    AssignIn,
    HazardEditIn,
    HazardIn,
    ReasonIn,
    ReopenIn,
    SubmitIn,
)
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role

MATRIX_FILE: Final = "risk_matrix.yaml"
REMIND: Final = "hazard.remind"
OVERDUE: Final = "hazard.overdue"
ACCEPTANCE: Final = "hazard.acceptance_due"
SUBJECT: Final = "hazard"
# Who keeps the ledger: assesses, assigns, accepts, dismisses, edits, imports; and draws zones.
MANAGERS: Final = (Role.SAFETY_OFFICER, Role.ADMIN)
# Who may rectify besides the named owner: those who manage the ledger, and the owner unit's officers.
RECTIFIERS: Final = (*MANAGERS, Role.COLLEGE_OFFICER)
ORIGINS: Final = ("report", "inspection", "import", "incident", "review")


@functools.lru_cache(maxsize=8)
def _load_matrix(path: Path, _mtime: float) -> RiskMatrix:
    return load_model(path, RiskMatrix)


def load_matrix(sop_dir: Path) -> RiskMatrix:
    """The risk matrix of `sop_dir`, read again only when the file changes."""
    path = sop_dir / MATRIX_FILE
    return _load_matrix(path, path.stat().st_mtime)


@dataclass(frozen=True)
class HazardConfig:
    """What the ledger needs from the composition root."""

    sop_dir: Path
    photo_dir: Path
    tz: tzinfo
    events: Events = field(default_factory=Events)
    sms_daily_cap: int | None = None

    def matrix(self) -> RiskMatrix:
        return load_matrix(self.sop_dir)


def cfg_of(ctx: AppContext) -> HazardConfig:
    """The ledger's wiring, as the composition root put it in the app context."""
    cfg: HazardConfig = ctx.extras["hazards"]
    return cfg


# --- reading -------------------------------------------------------------------------------------


def _reach(principal: Principal) -> ColumnElement[bool]:
    """SQL condition: the hazard is in the caller's grid subtrees, or the caller is its named owner wherever it is."""
    return or_(scope_clause(principal, Hazard.unit_path), Hazard.owner_user_id == principal.user_id)


def _still_open() -> ColumnElement[bool]:
    return Hazard.state.in_([state.value for state in rules.OPEN_STATES])


def in_scope(principal: Principal) -> Select[Hazard]:
    """Hazards in the caller's grid subtrees, and those the caller is the named owner of wherever they are."""
    return select(Hazard).where(_reach(principal))


def count_overdue(principal: Principal) -> Select[int]:
    """How many hazards in the caller's reach are past their rectification deadline and still open, as a query."""
    return select(func.count()).select_from(Hazard).where(_reach(principal), Hazard.overdue.is_(True), _still_open())


def count_reported_open(user_id: int) -> Select[int]:
    """How many of the hazards this user reported are still being dealt with (not closed or dismissed), as a query."""
    return select(func.count()).select_from(Hazard).where(Hazard.found_by == user_id, _still_open())


def get(db: Session, principal: Principal, hazard_id: int) -> Hazard:
    hazard = db.get(Hazard, hazard_id)
    if hazard is None or not (principal.covers(hazard.unit_path) or hazard.owner_user_id == principal.user_id):
        refusal = phrase("refusal.hazard.not_found", id=hazard_id)
        raise missing_or_private(db, Hazard, hazard_id, message=refusal, field="hazard_id")
    return hazard


def list_hazards(
    db: Session,
    principal: Principal,
    *,
    state: str | None = None,
    level: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    open_only: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[Hazard]:
    stmt = in_scope(principal)
    if state is not None:
        stmt = stmt.where(Hazard.state == state)
    if level is not None:
        stmt = stmt.where(Hazard.level == level)
    if category is not None:
        stmt = stmt.where(Hazard.category == category)
    if overdue is not None:
        stmt = stmt.where(Hazard.overdue.is_(overdue))
    if open_only:
        stmt = stmt.where(_still_open())
    return list(db.execute(stmt.order_by(Hazard.id.desc()).limit(limit).offset(offset)).scalars())


def history(db: Session, hazard_id: int) -> list[HazardEvent]:
    stmt = select(HazardEvent).where(HazardEvent.hazard_id == hazard_id).order_by(HazardEvent.seq)
    return list(db.execute(stmt).scalars())


def score(hazard: Hazard) -> int | None:
    return hazard.likelihood * hazard.impact if hazard.likelihood and hazard.impact else None


# --- writing -------------------------------------------------------------------------------------


def record(db: Session, clock: Clock, hazard: Hazard, kind: str, actor_id: int | None, **data: Any) -> HazardEvent:
    """Append a line to the hazard's history (numbered per hazard, no gaps)."""
    hazard.last_seq += 1
    hazard.updated_at = clock.now()
    event = HazardEvent(hazard_id=hazard.id, seq=hazard.last_seq, at=clock.now(), actor_id=actor_id, kind=kind, data=data)
    db.add(event)
    return event


def audit_change(
    db: Session, clock: Clock, principal: Principal, action: str, subject_type: str, subject_id: int, **detail: Any
) -> None:
    audit.record_by(db, clock, principal, action, subject_type, subject_id, detail or None)


def audit_read(db: Session, clock: Clock, principal: Principal, action: str, **detail: Any) -> None:
    """Record a bulk read (an export) in the audit log."""
    audit.record(db, clock, actor_user_id=principal.user_id, actor=principal.username, action=action, detail=detail or None)


def unit_in_scope(db: Session, principal: Principal, unit_id: int, field_name: str) -> OrgUnit:
    unit = db.get(OrgUnit, unit_id)
    if unit is None or not principal.covers(unit.path):
        raise missing_or_private(db, OrgUnit, unit_id, message=phrase("refusal.grid.no_unit", id=unit_id), field=field_name)
    return unit


def _category(cfg: HazardConfig, code: str, field_name: str = "category") -> str:
    matrix = cfg.matrix()
    if matrix.category(code) is None:
        known = listing(matrix.categories, style="or")
        raise InvalidInput(phrase("refusal.hazard.unknown_category", code=code, known=known), field=field_name)
    return code


def create_hazard(
    db: Session,
    clock: Clock,
    cfg: HazardConfig,
    principal: Principal,
    data: HazardIn,
    *,
    origin: str = "report",
    origin_ref: str | None = None,
) -> Hazard:
    """Put a hazard on the ledger as reported (or assessed, when likelihood and impact come with it)."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    _category(cfg, data.category)
    unit = unit_in_scope(db, principal, data.unit_id, "unit_id")
    if (data.likelihood is None) != (data.impact is None):
        raise InvalidInput(phrase("refusal.hazard.rate_both"), field="impact" if data.impact is None else "likelihood")
    now = clock.now()
    if data.found_at is not None and data.found_at > now + timedelta(minutes=5):
        raise InvalidInput(phrase("refusal.hazard.found_future"), field="found_at")
    geometry, lon, lat = geometry_of(data.location) if data.location is not None else (None, None, None)
    hazard = Hazard(
        title=data.title,
        category=data.category,
        description=data.description,
        geometry=geometry,
        lon=lon,
        lat=lat,
        place=data.place,
        building=data.building,
        floor=data.floor,
        photos=[],
        found_by=principal.user_id,
        found_at=data.found_at or now,
        origin=origin,
        origin_ref=origin_ref,
        unit_id=unit.id,
        unit_path=unit.path,
        owner_department="",
        measures="",
        funds="",
        contingency_plan="",
        state=State.REPORTED,
        overdue=False,
        supervised=False,
        rectification="",
        acceptance_note="",
        updated_at=now,
        last_seq=0,
    )
    db.add(hazard)
    db.flush()
    record(db, clock, hazard, "reported", principal.user_id, title=data.title, category=data.category, origin=origin)
    if data.likelihood is not None and data.impact is not None:
        _assess(db, clock, cfg, hazard, data.likelihood, data.impact, principal.user_id, note="")
    audit_change(db, clock, principal, "hazard.report", SUBJECT, hazard.id)
    return hazard


def _assess(
    db: Session, clock: Clock, cfg: HazardConfig, hazard: Hazard, likelihood: int, impact: int, actor: int | None, note: str
) -> None:
    band = cfg.matrix().band(likelihood, impact)
    before = {"likelihood": hazard.likelihood, "impact": hazard.impact, "level": hazard.level}
    hazard.likelihood, hazard.impact, hazard.level = likelihood, impact, band.code
    hazard.state = State.ASSESSED if hazard.state in (State.REPORTED, State.ASSESSED) else hazard.state
    record(
        db,
        clock,
        hazard,
        "assessed",
        actor,
        likelihood=likelihood,
        impact=impact,
        score=likelihood * impact,
        level=band.code,
        before=before,
        note=note,
    )
    if hazard.state in rules.OWING and hazard.deadline is not None and before["level"] != band.code:
        _schedule_owing(db, clock, cfg, hazard)


def edit(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard_id: int, data: HazardEditIn) -> Hazard:
    """Correct a hazard's text, category or location (moving it on the map); the history keeps the old values."""
    hazard = get(db, principal, hazard_id)
    require_manager(principal)
    changes: dict[str, Any] = {}
    for name in ("title", "description", "place", "building", "floor"):
        value = getattr(data, name)
        if value is not None and value != getattr(hazard, name):
            changes[name] = {"from": getattr(hazard, name), "to": value}
            setattr(hazard, name, value)
    if data.category is not None and data.category != hazard.category:
        _category(cfg, data.category)
        changes["category"] = {"from": hazard.category, "to": data.category}
        hazard.category = data.category
    if data.location is not None:
        geometry, lon, lat = geometry_of(data.location)
        if geometry != hazard.geometry:
            changes["location"] = {"from": hazard.geometry, "to": geometry}
            hazard.geometry, hazard.lon, hazard.lat = geometry, lon, lat
    if changes:
        record(db, clock, hazard, "edited", principal.user_id, changes=changes)
        audit_change(db, clock, principal, "hazard.edit", SUBJECT, hazard.id, fields=sorted(changes))
    return hazard


def require_manager(principal: Principal) -> None:
    if not principal.has_role(*MANAGERS):
        raise Forbidden(phrase("refusal.hazard.manager_only"))


class IllegalAction(Conflict):
    """409: the action cannot be taken from the hazard's state; `legal` lists those that can."""

    code = "illegal_transition"

    def __init__(self, action: str, state: State) -> None:
        self.legal = [a.value for a in rules.legal_actions(state)]
        self.state = state.value
        legal = listing(phrase(f"hazard.action.{a}") for a in self.legal) if self.legal else phrase("refusal.nothing")
        refusal = phrase(
            "refusal.hazard.illegal_action",
            action=phrase(f"hazard.action.{action}"),
            state=phrase(f"hazard_report.state.{state.value}"),
            legal=legal,
        )
        super().__init__(refusal, field="action")

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {**super().as_dict(lang), "state": self.state, "legal": self.legal}


ActionBody = AssessIn | AssignIn | SubmitIn | AcceptIn | ReasonIn | ReopenIn | None


def act(
    db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard_id: int, action: Action, body: ActionBody
) -> Hazard:
    """Take a lifecycle action on a hazard; 409 with the legal actions when its state does not allow it."""
    hazard = get(db, principal, hazard_id)
    state = State(hazard.state)
    dest = rules.next_state(state, action)
    if dest is None:
        raise IllegalAction(action.value, state)
    now = clock.now()
    actor = principal.user_id
    if action in (Action.START, Action.SUBMIT):
        if hazard.owner_user_id != actor and not principal.has_role(*RECTIFIERS):
            raise Forbidden(phrase("refusal.hazard.owner_only"))
    else:
        require_manager(principal)
    if action is Action.ASSESS:
        assert isinstance(body, AssessIn)
        _assess(db, clock, cfg, hazard, body.likelihood, body.impact, actor, body.note)
    elif action is Action.ASSIGN:
        assert isinstance(body, AssignIn)
        assign_fixes(db, clock, cfg, principal, hazard, body)
    elif action is Action.START:
        hazard.state = State.RECTIFYING
        record(db, clock, hazard, "started", actor)
    elif action is Action.SUBMIT:
        assert isinstance(body, SubmitIn)
        assert hazard.deadline is not None
        hazard.state = State.AWAITING_ACCEPTANCE
        hazard.rectification, hazard.submitted_at, hazard.submitted_by = body.rectification, now, actor
        hazard.acceptance_due_at = rules.acceptance_due(hazard.deadline, now, cfg.matrix().acceptance_within)
        deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id)
        deadlines.schedule(
            db,
            clock,
            kind=ACCEPTANCE,
            subject_type=SUBJECT,
            subject_id=hazard.id,
            due_at=hazard.acceptance_due_at,
            payload={"submitted_at": now.isoformat()},
        )
        record(
            db,
            clock,
            hazard,
            "submitted",
            actor,
            rectification=body.rectification,
            late=now > hazard.deadline,
            acceptance_due_at=hazard.acceptance_due_at.isoformat(),
        )
    elif action is Action.ACCEPT:
        assert isinstance(body, AcceptIn)
        if hazard.submitted_by == actor:
            raise Forbidden(phrase("refusal.hazard.accept_own"))
        hazard.state = State.CLOSED
        hazard.accepted_at, hazard.accepted_by, hazard.acceptance_note, hazard.closed_at = now, actor, body.note, now
        hazard.overdue = False
        deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id)
        record(
            db,
            clock,
            hazard,
            "accepted",
            actor,
            note=body.note,
            late=hazard.acceptance_due_at is not None and now > hazard.acceptance_due_at,
        )
        record(db, clock, hazard, "closed", actor)
    elif action is Action.REJECT:
        assert isinstance(body, ReasonIn)
        hazard.state = State.RECTIFYING
        hazard.acceptance_due_at = None
        record(db, clock, hazard, "rejected", actor, reason=body.reason)
        _schedule_owing(db, clock, cfg, hazard)
    elif action is Action.REOPEN:
        assert isinstance(body, ReopenIn)
        if body.deadline <= now:
            raise InvalidInput(phrase("refusal.hazard.new_deadline_past"), field="deadline")
        hazard.state = State.RECTIFYING
        hazard.deadline = body.deadline
        hazard.closed_at = hazard.accepted_at = hazard.accepted_by = hazard.submitted_at = hazard.submitted_by = None
        hazard.acceptance_due_at = None
        hazard.overdue = False
        record(db, clock, hazard, "reopened", actor, reason=body.reason, deadline=body.deadline.isoformat())
        _schedule_owing(db, clock, cfg, hazard)
    elif action is Action.DISMISS:
        assert isinstance(body, ReasonIn)
        hazard.state = State.DISMISSED
        hazard.closed_at = now
        deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id)
        record(db, clock, hazard, "dismissed", actor, reason=body.reason)
    audit_change(db, clock, principal, f"hazard.{action.value}", SUBJECT, hazard.id)
    return hazard


def assign_fixes(
    db: Session,
    clock: Clock,
    cfg: HazardConfig,
    principal: Principal,
    hazard: Hazard,
    body: AssignIn,
    *,
    allow_past: bool = False,
    tell: bool = True,
) -> None:
    """Set the five fixes, time the reminders and the overdue check (an imported ledger may hold past
    deadlines) and tell the owner (unless `tell` is off: a ledger seeded with its history)."""
    now = clock.now()
    if body.deadline <= now and not allow_past:
        raise InvalidInput(phrase("refusal.hazard.deadline_past"), field="deadline")
    unit = unit_in_scope(db, principal, body.owner_unit_id, "owner_unit_id")
    owner = db.get(User, body.owner_user_id)
    if owner is None or not owner.active:
        raise InvalidInput(phrase("refusal.people.no_active_user", id=body.owner_user_id), field="owner_user_id")
    if hazard.level is None:
        raise InvalidInput(phrase("refusal.hazard.assess_first"), field="likelihood")
    before = {
        "owner_unit_id": hazard.unit_id,
        "owner_user_id": hazard.owner_user_id,
        "deadline": hazard.deadline.isoformat() if hazard.deadline else None,
    }
    hazard.unit_id, hazard.unit_path = unit.id, unit.path
    hazard.owner_user_id = owner.id
    hazard.owner_department = body.owner_department
    hazard.measures, hazard.deadline, hazard.funds, hazard.contingency_plan = (
        body.measures,
        body.deadline,
        body.funds,
        body.contingency_plan,
    )
    hazard.state = State.ASSIGNED
    hazard.overdue = False
    record(
        db,
        clock,
        hazard,
        "assigned",
        principal.user_id,
        owner_unit_id=unit.id,
        owner_user_id=owner.id,
        owner_department=body.owner_department,
        measures=body.measures,
        deadline=body.deadline.isoformat(),
        funds=body.funds,
        contingency_plan=body.contingency_plan,
        before=before,
    )
    _schedule_owing(db, clock, cfg, hazard)
    band = cfg.matrix().band_of(hazard.level)
    tell_people(
        db,
        clock,
        cfg,
        [owner] if tell else [],
        hazard,
        kind="hazard.assigned",
        body=i18n.phrase(
            "notice.hazard.assigned.body",
            deadline=local_time(cfg, body.deadline, clock.now()),
            hazard=hazard.title,
            measures=body.measures,
        ),
        sms=band.sms,
    )


def _schedule_owing(db: Session, clock: Clock, cfg: HazardConfig, hazard: Hazard) -> None:
    """The reminders before the deadline and the overdue check at it (after cancelling earlier ones)."""
    assert hazard.deadline is not None
    assert hazard.level is not None
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id)
    now = clock.now()
    deadline, payload = hazard.deadline, {"deadline": hazard.deadline.isoformat()}
    for at in rules.reminder_times(cfg.matrix().band_of(hazard.level), hazard.deadline, now):
        deadlines.schedule(
            db, clock, kind=REMIND, subject_type=SUBJECT, subject_id=hazard.id, due_at=at, payload=payload, stale_at=deadline
        )
    deadlines.schedule(
        db, clock, kind=OVERDUE, subject_type=SUBJECT, subject_id=hazard.id, due_at=max(hazard.deadline, now), payload=payload
    )


# --- telling -------------------------------------------------------------------------------------


def local_time(cfg: HazardConfig, at: datetime, now: datetime) -> i18n.Moment:
    """`at` as a message writes it: on the school's clock, its date left out on the day of `now`."""
    return i18n.moment(at, cfg.tz, now)


def tell_people(
    db: Session,
    clock: Clock,
    cfg: HazardConfig,
    users: Iterable[User],
    hazard: Hazard,
    *,
    kind: str,
    body: i18n.Phrase,
    sms: bool,
) -> list[int]:
    """Tell `users` of the hazard: a message of `kind` (`hazard.overdue`), named by the catalogue, saying `body`."""
    what = {"kind": i18n.phrase(f"notice.{kind}.kind"), "hazard": hazard.title}
    message = notify.Message.worded(
        kind,
        title=i18n.phrase("notice.hazard.title", **what),
        body=body,
        sms=i18n.phrase("notice.sms.signed", text=i18n.phrase("notice.hazard.sms", **what, body=body)),
        sms_limit=notify.SMS_LIMIT,
        level=hazard.level,
        data={"hazard_id": hazard.id, "level": hazard.level},
    )
    channels = (notify.IN_APP, notify.SMS) if sms else (notify.IN_APP,)
    return notify.notify_all(
        db,
        clock,
        cfg.events,
        users=users,
        channels=channels,
        message=message,
        subject_type=SUBJECT,
        subject_id=hazard.id,
        sms_cap=cfg.sms_daily_cap,
    )


def tell_safety_office(db: Session, clock: Clock, cfg: HazardConfig, hazard: Hazard, reporter: Principal) -> list[int]:
    """Tell the safety officers nearest up the grid from a newly reported hazard, and the school's, in the app
    that it waits to be assessed (a reporting officer is not told of their own report)."""
    officers = [Role.SAFETY_OFFICER]
    people = people_service.holders(db, hazard.unit_path, officers)
    told = [u for u in people + people_service.holders_at_root(db, hazard.unit_path, officers) if u.id != reporter.user_id]
    where = " ".join(filter(None, (hazard.building, hazard.floor)))
    found = local_time(cfg, hazard.found_at, clock.now())
    body = i18n.phrase("notice.hazard.reported.body", by=reporter.display_name, where=where, found=found)
    return tell_people(db, clock, cfg, told, hazard, kind="hazard.reported", body=body, sms=False)
