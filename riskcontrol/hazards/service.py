"""The hazard ledger's use cases: report, assess, assign the five fixes, rectify, accept and strike off;
the deadlines around rectification; the history of every change; high-risk zones.

Deadlines are rows (decision 2): before the rectification deadline the owner is reminded (the band's
leads), at the deadline an unfinished hazard turns overdue and the owner, the owner unit's head and the
school safety office are told; a major (red) hazard then goes under the school's named supervision
(挂牌督办) and the leaders are told. On-site acceptance is due within a set time of the deadline; when it
is late the safety office and the head hear of it. Every row carries the deadline it was made for, so a
row left over from an earlier deadline does nothing.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Final

import filetype
from shapely.geometry import Point, Polygon
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from riskcontrol.core.events import Events
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards import rules
from riskcontrol.hazards.models import Hazard, HazardEvent, Zone
from riskcontrol.hazards.rules import Action, RiskMatrix, State
from riskcontrol.hazards.schemas import (
    AcceptIn,
    AssessIn,
    AssignIn,
    Geometry,
    HazardEditIn,
    HazardIn,
    PhotoIn,
    PointIn,
    ReasonIn,
    ReopenIn,
    SubmitIn,
    ZoneEditIn,
    ZoneIn,
)
from riskcontrol.notify import service as notify
from riskcontrol.people.models import RoleAssignment, User
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
PHOTO_TYPES: Final = {"image/jpeg", "image/png", "image/webp", "image/heic"}
MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
MAX_PHOTOS: Final = 10


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


# --- geometry ------------------------------------------------------------------------------------


def geometry_of(location: Geometry, *, field_name: str = "location") -> tuple[dict[str, Any], float, float]:
    """A checked GeoJSON geometry (WGS-84) and its representative lon/lat: the point, or the polygon's centroid."""
    if isinstance(location, PointIn):
        lon, lat = location.coordinates
        _check_lonlat(lon, lat, f"{field_name}.coordinates")
        Point(lon, lat)
        return {"type": "Point", "coordinates": [lon, lat]}, lon, lat
    ring = [(float(pair[0]), float(pair[1])) for pair in location.coordinates[0]]
    for i, (lon, lat) in enumerate(ring):
        _check_lonlat(lon, lat, f"{field_name}.coordinates.0.{i}")
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(set(ring)) < 3:
        raise InvalidInput("a polygon needs at least three distinct corners", field=f"{field_name}.coordinates")
    if len(ring) > 500:
        raise InvalidInput("a polygon may have at most 500 corners", field=f"{field_name}.coordinates")
    polygon = Polygon(ring)
    if not polygon.is_valid or polygon.area == 0:
        raise InvalidInput("the polygon crosses itself or has no area", field=f"{field_name}.coordinates")
    centre = polygon.representative_point()
    closed = [[lon, lat] for lon, lat in ring] + [[ring[0][0], ring[0][1]]]
    return {"type": "Polygon", "coordinates": [closed]}, float(centre.x), float(centre.y)


def _check_lonlat(lon: float, lat: float, where: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("coordinates are [longitude, latitude] in WGS-84 degrees", field=where)


# --- reading -------------------------------------------------------------------------------------


def in_scope(principal: Principal) -> Select[Hazard]:
    """Hazards in the caller's grid subtrees, and those the caller is the named owner of wherever they are."""
    return select(Hazard).where(or_(scope_clause(principal, Hazard.unit_path), Hazard.owner_user_id == principal.user_id))


def get(db: Session, principal: Principal, hazard_id: int) -> Hazard:
    hazard = db.get(Hazard, hazard_id)
    if hazard is None or not (principal.covers(hazard.unit_path) or hazard.owner_user_id == principal.user_id):
        raise missing_or_private(db, Hazard, hazard_id, what="hazard", field="hazard_id")
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
        stmt = stmt.where(Hazard.state.in_([s.value for s in rules.OPEN_STATES]))
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


def _audit(
    db: Session, clock: Clock, principal: Principal, action: str, subject_type: str, subject_id: int, **detail: Any
) -> None:
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or None,
    )


def audit_read(db: Session, clock: Clock, principal: Principal, action: str, **detail: Any) -> None:
    """Record a bulk read (an export) in the audit log."""
    audit.record(db, clock, actor_user_id=principal.user_id, actor=principal.username, action=action, detail=detail or None)


def _unit_in_scope(db: Session, principal: Principal, unit_id: int, field_name: str) -> OrgUnit:
    unit = db.get(OrgUnit, unit_id)
    if unit is None or not principal.covers(unit.path):
        raise missing_or_private(db, OrgUnit, unit_id, what="unit", field=field_name)
    return unit


def _category(cfg: HazardConfig, code: str, field_name: str = "category") -> str:
    matrix = cfg.matrix()
    if matrix.category(code) is None:
        known = ", ".join(c.code for c in matrix.categories)
        raise InvalidInput(f"unknown category {code!r}; known: {known}", field=field_name)
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
    unit = _unit_in_scope(db, principal, data.unit_id, "unit_id")
    if (data.likelihood is None) != (data.impact is None):
        raise InvalidInput("likelihood and impact are given together", field="impact" if data.impact is None else "likelihood")
    now = clock.now()
    if data.found_at is not None and data.found_at > now + timedelta(minutes=5):
        raise InvalidInput("found_at is in the future", field="found_at")
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
    _audit(db, clock, principal, "hazard.report", SUBJECT, hazard.id)
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
        _audit(db, clock, principal, "hazard.edit", SUBJECT, hazard.id, fields=sorted(changes))
    return hazard


def require_manager(principal: Principal) -> None:
    if not principal.has_role(*MANAGERS):
        raise Forbidden("keeping the hazard ledger needs the safety officer's role")


class IllegalAction(Conflict):
    """409: the action cannot be taken from the hazard's state; `legal` lists those that can."""

    code = "illegal_transition"

    def __init__(self, action: str, state: State) -> None:
        self.legal = [a.value for a in rules.legal_actions(state)]
        self.state = state.value
        super().__init__(
            f"{action!r} cannot be taken from {state.value!r}; legal now: {', '.join(self.legal) or 'none'}", field="action"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "state": self.state, "legal": self.legal}


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
            raise Forbidden("only the hazard's owner or the safety office may report on its rectification")
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
            raise Forbidden("the person who reported the rectification cannot also accept it on site")
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
            raise InvalidInput("the new deadline must be in the future", field="deadline")
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
    _audit(db, clock, principal, f"hazard.{action.value}", SUBJECT, hazard.id)
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
) -> None:
    """Set the five fixes and time the reminders and the overdue check (an imported ledger may hold past deadlines)."""
    now = clock.now()
    if body.deadline <= now and not allow_past:
        raise InvalidInput("the rectification deadline must be in the future", field="deadline")
    unit = _unit_in_scope(db, principal, body.owner_unit_id, "owner_unit_id")
    owner = db.get(User, body.owner_user_id)
    if owner is None or not owner.active:
        raise InvalidInput(f"no active user with id {body.owner_user_id}", field="owner_user_id")
    if hazard.level is None:
        raise InvalidInput("assess the hazard (likelihood and impact) before assigning it", field="likelihood")
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
    _tell(
        db,
        clock,
        cfg,
        [owner],
        hazard,
        kind="hazard.assigned",
        title=("隐患整改任务", "Hazard to rectify"),
        body=(
            f"请于{_local(cfg, body.deadline)}前完成整改：{hazard.title}。措施：{body.measures}",
            f"Rectify by {_local(cfg, body.deadline)}: {hazard.title}. Measures: {body.measures}",
        ),
        sms=band.sms,
    )


def _schedule_owing(db: Session, clock: Clock, cfg: HazardConfig, hazard: Hazard) -> None:
    """The reminders before the deadline and the overdue check at it (after cancelling earlier ones)."""
    assert hazard.deadline is not None
    assert hazard.level is not None
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id)
    now = clock.now()
    payload = {"deadline": hazard.deadline.isoformat()}
    for at in rules.reminder_times(cfg.matrix().band_of(hazard.level), hazard.deadline, now):
        deadlines.schedule(db, clock, kind=REMIND, subject_type=SUBJECT, subject_id=hazard.id, due_at=at, payload=payload)
    deadlines.schedule(
        db, clock, kind=OVERDUE, subject_type=SUBJECT, subject_id=hazard.id, due_at=max(hazard.deadline, now), payload=payload
    )


def add_photo(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard_id: int, data: PhotoIn) -> Hazard:
    """Attach a photo (JPEG, PNG, WebP or HEIC, at most 5 MB) to a hazard; the file is kept under var/."""
    hazard = get(db, principal, hazard_id)
    if len(hazard.photos) >= MAX_PHOTOS:
        raise InvalidInput(f"a hazard holds at most {MAX_PHOTOS} photos", field="data_base64")
    try:
        raw = base64.b64decode(data.data_base64, validate=True)
    except ValueError as exc:
        raise InvalidInput("the photo is not valid base64", field="data_base64") from exc
    if len(raw) > MAX_PHOTO_BYTES:
        raise InvalidInput("the photo is larger than 5 MB", field="data_base64")
    kind = filetype.guess(raw)
    mime = kind.mime if kind is not None else "unknown"
    if mime not in PHOTO_TYPES:
        raise InvalidInput(f"the photo must be a JPEG, PNG, WebP or HEIC image, not {mime}", field="data_base64")
    folder = cfg.photo_dir / str(hazard.id)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(hazard.photos) + 1
    path = folder / f"{n}.{kind.extension if kind else 'bin'}"
    path.write_bytes(raw)
    hazard.photos = [
        *hazard.photos,
        {
            "n": n,
            "file": str(path),
            "type": mime,
            "caption": data.caption,
            "by": principal.user_id,
            "at": clock.now().isoformat(),
        },
    ]
    record(db, clock, hazard, "photo_added", principal.user_id, n=n, caption=data.caption)
    return hazard


def photo(db: Session, principal: Principal, hazard_id: int, n: int) -> tuple[Path, str]:
    hazard = get(db, principal, hazard_id)
    for item in hazard.photos:
        if item["n"] == n:
            return Path(item["file"]), str(item["type"])
    raise NotFound(f"hazard {hazard_id} has no photo {n}", field="n")


# --- deadlines -----------------------------------------------------------------------------------


def _local(cfg: HazardConfig, at: datetime) -> str:
    return at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M")


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def nearest_holders(db: Session, path: str, roles: Sequence[str]) -> list[User]:
    """Active holders of `roles` at the unit of `path` or, failing that, at the nearest unit above holding one."""
    ids = path_ids(path)
    stmt = (
        select(RoleAssignment.unit_id, User)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.unit_id.in_(ids), RoleAssignment.role.in_(list(roles)), User.active.is_(True))
        .order_by(User.id)
    )
    by_unit: dict[int, list[User]] = {}
    for unit_id, user in db.execute(stmt):
        by_unit.setdefault(unit_id, []).append(user)
    for unit_id in reversed(ids):
        if by_unit.get(unit_id):
            return by_unit[unit_id]
    return []


def _holders_at_root(db: Session, path: str, roles: Sequence[str]) -> list[User]:
    ids = path_ids(path)
    if not ids:
        return []
    stmt = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.unit_id == ids[0], RoleAssignment.role.in_(list(roles)), User.active.is_(True))
        .order_by(User.id)
    )
    return list(db.execute(stmt).scalars().unique())


def heads_of(db: Session, cfg: HazardConfig, hazard: Hazard) -> list[User]:
    """The owner unit's head: the nearest holders of the head roles for the unit's kind."""
    unit = db.get(OrgUnit, hazard.unit_id)
    roles = cfg.matrix().head_roles(unit.kind) if unit is not None else ()
    return nearest_holders(db, hazard.unit_path, roles) if roles else []


def _tell(
    db: Session,
    clock: Clock,
    cfg: HazardConfig,
    users: Iterable[User],
    hazard: Hazard,
    *,
    kind: str,
    title: tuple[str, str],
    body: tuple[str, str],
    sms: bool,
) -> list[int]:
    message = notify.Message(
        kind=kind,
        title_zh=f"{title[0]}：{hazard.title}",
        title_en=f"{title[1]}: {hazard.title}",
        body_zh=body[0],
        body_en=body[1],
        sms_zh=f"【校园安全】{title[0]}：{hazard.title}。{body[0]}"[:300],
        level=hazard.level,
        data={"hazard_id": hazard.id, "level": hazard.level},
    )
    channels = (notify.IN_APP, notify.SMS) if sms else (notify.IN_APP,)
    told: dict[int, User] = {user.id: user for user in users}
    for user in told.values():
        notify.notify(
            db,
            clock,
            cfg.events,
            user=user,
            channels=channels,
            message=message,
            subject_type=SUBJECT,
            subject_id=hazard.id,
            sms_cap=cfg.sms_daily_cap,
        )
    return sorted(told)


def _still_owed(hazard: Hazard | None, deadline: Deadline) -> bool:
    return (
        hazard is not None
        and hazard.state in rules.OWING
        and hazard.deadline is not None
        and isinstance(made_for := deadline.payload.get("deadline"), str)
        and datetime.fromisoformat(made_for) == hazard.deadline
    )


def on_remind(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if not _still_owed(hazard, deadline) or hazard is None or hazard.owner_user_id is None:
            return
        assert hazard.deadline is not None
        assert hazard.level is not None
        owner = db.get(User, hazard.owner_user_id)
        left = hazard.deadline - clock.now()
        days = max(1, round(left / timedelta(days=1)))
        told = _tell(
            db,
            clock,
            cfg,
            [owner] if owner is not None and owner.active else [],
            hazard,
            kind="hazard.reminder",
            title=("隐患整改即将到期", "Hazard rectification due soon"),
            body=(
                f"整改期限 {_local(cfg, hazard.deadline)}（约{days}天后），请按时完成并申请验收。",
                f"Due {_local(cfg, hazard.deadline)} (in about {days} day(s)); finish and ask for acceptance in time.",
            ),
            sms=cfg.matrix().band_of(hazard.level).sms,
        )
        record(db, clock, hazard, "reminded", None, told=told, due=hazard.deadline.isoformat())

    return handle


def on_overdue(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if (
            not _still_owed(hazard, deadline)
            or hazard is None
            or not rules.is_overdue(State(hazard.state), hazard.deadline, clock.now())
        ):
            return
        assert hazard.deadline is not None
        assert hazard.level is not None
        band = cfg.matrix().band_of(hazard.level)
        hazard.overdue = True
        owner = db.get(User, hazard.owner_user_id) if hazard.owner_user_id is not None else None
        people = [owner] if owner is not None and owner.active else []
        people += heads_of(db, cfg, hazard)
        people += _holders_at_root(db, hazard.unit_path, [Role.SAFETY_OFFICER])
        body = (
            f"整改期限 {_local(cfg, hazard.deadline)} 已过，尚未申请验收。责任人、单位负责人与保卫处请督促整改。",
            f"The deadline {_local(cfg, hazard.deadline)} has passed without a request for acceptance.",
        )
        told = _tell(
            db,
            clock,
            cfg,
            people,
            hazard,
            kind="hazard.overdue",
            title=("隐患整改逾期", "Hazard rectification overdue"),
            body=body,
            sms=band.sms,
        )
        record(db, clock, hazard, "overdue", None, told=told, due=hazard.deadline.isoformat())
        if band.supervised_when_overdue and not hazard.supervised:
            hazard.supervised = True
            leaders = _holders_at_root(db, hazard.unit_path, [Role.LEADER])
            told = _tell(
                db,
                clock,
                cfg,
                leaders,
                hazard,
                kind="hazard.supervised",
                title=("重大隐患挂牌督办", "Major hazard under named supervision"),
                body=(
                    f"重大隐患逾期未整改，已挂牌督办。措施：{hazard.measures}；资金：{hazard.funds}。",
                    f"A major hazard is overdue and now under the school's named supervision. Measures: {hazard.measures}.",
                ),
                sms=True,
            )
            record(db, clock, hazard, "supervised", None, told=told)

    return handle


def on_acceptance_due(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if hazard is None or hazard.state != State.AWAITING_ACCEPTANCE or hazard.acceptance_due_at is None:
            return
        people = _holders_at_root(db, hazard.unit_path, [Role.SAFETY_OFFICER]) + heads_of(db, cfg, hazard)
        told = _tell(
            db,
            clock,
            cfg,
            people,
            hazard,
            kind="hazard.acceptance_overdue",
            title=("隐患验收逾期", "Hazard acceptance overdue"),
            body=(
                f"整改已于{_local(cfg, hazard.submitted_at or clock.now())}申请验收，"
                f"验收期限 {_local(cfg, hazard.acceptance_due_at)} 已过，请尽快现场验收销号。",
                f"Rectification was reported; on-site acceptance was due {_local(cfg, hazard.acceptance_due_at)}.",
            ),
            sms=False,
        )
        record(db, clock, hazard, "acceptance_overdue", None, told=told, due=hazard.acceptance_due_at.isoformat())

    return handle


def register(cfg: HazardConfig, handlers: DeadlineHandlers) -> None:
    handlers.register(REMIND, on_remind(cfg))
    handlers.register(OVERDUE, on_overdue(cfg))
    handlers.register(ACCEPTANCE, on_acceptance_due(cfg))


# --- zones ---------------------------------------------------------------------------------------


def _windows(data: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for i, window in enumerate(data):
        if len(set(window.days)) != len(window.days) or any(d < 1 or d > 7 for d in window.days):
            raise InvalidInput("days are distinct numbers 1 (Monday) to 7 (Sunday)", field=f"windows.{i}.days")
        if window.start == window.end:
            raise InvalidInput("a window's start and end differ (leave windows empty for all day)", field=f"windows.{i}.end")
        out.append({"days": sorted(window.days), "start": window.start, "end": window.end})
    return out


def zones_in_scope(db: Session, principal: Principal, *, active_only: bool = True) -> list[Zone]:
    stmt = select(Zone).where(scope_clause(principal, Zone.unit_path))
    if active_only:
        stmt = stmt.where(Zone.active.is_(True))
    return list(db.execute(stmt.order_by(Zone.id)).scalars())


def public_zones(db: Session) -> list[Zone]:
    """Every active zone marked public: what may be shown to students."""
    return list(db.execute(select(Zone).where(Zone.public.is_(True), Zone.active.is_(True)).order_by(Zone.id)).scalars())


def get_zone(db: Session, principal: Principal, zone_id: int) -> Zone:
    zone = db.get(Zone, zone_id)
    if zone is None or not principal.covers(zone.unit_path):
        raise missing_or_private(db, Zone, zone_id, what="zone", field="zone_id")
    return zone


def _home_unit(db: Session, principal: Principal) -> OrgUnit:
    ids = [path_ids(path)[-1] for path in principal.scope_paths if path_ids(path)]
    unit = db.get(OrgUnit, ids[0]) if ids else None
    if unit is None:
        raise InvalidInput("name the unit the zone belongs to", field="unit_id")
    return unit


def create_zone(db: Session, clock: Clock, principal: Principal, data: ZoneIn) -> Zone:
    require_manager(principal)
    unit = _unit_in_scope(db, principal, data.unit_id, "unit_id") if data.unit_id is not None else _home_unit(db, principal)
    geometry, lon, lat = geometry_of(data.location)
    now = clock.now()
    zone = Zone(
        name=data.name,
        level=data.level,
        reason=data.reason,
        windows=_windows(data.windows),
        geometry=geometry,
        lon=lon,
        lat=lat,
        public=data.public,
        tip=data.tip,
        active=True,
        unit_id=unit.id,
        unit_path=unit.path,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    db.add(zone)
    db.flush()
    _audit(db, clock, principal, "zone.create", "zone", zone.id, name=data.name, public=data.public)
    return zone


def edit_zone(db: Session, clock: Clock, principal: Principal, zone_id: int, data: ZoneEditIn) -> Zone:
    zone = get_zone(db, principal, zone_id)
    require_manager(principal)
    changed: list[str] = []
    for name in ("name", "level", "reason", "public", "tip", "active"):
        value = getattr(data, name)
        if value is not None and value != getattr(zone, name):
            setattr(zone, name, value)
            changed.append(name)
    if data.windows is not None:
        zone.windows = _windows(data.windows)
        changed.append("windows")
    if data.location is not None:
        zone.geometry, zone.lon, zone.lat = geometry_of(data.location)
        changed.append("location")
    if changed:
        zone.updated_at = clock.now()
        _audit(db, clock, principal, "zone.edit", "zone", zone.id, fields=changed)
    return zone
