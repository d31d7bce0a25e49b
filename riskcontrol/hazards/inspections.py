"""Inspection rounds (安全检查/排查): each place's checklist walked once per period on a phone, every failed
item filed on the hazard ledger at the place, and missed rounds reported.

Each morning (06:30 school time) one deadline row, `inspection.open_rounds`, opens the current period's
round of every place whose kind has a checklist (`sop/inspections.yaml`, places from
`risk_map/places.yaml`), then schedules the next morning. A dorm's round belongs to its building's unit
(its safety officer walks it); every other round to the school's. Missed is swept, not timed round by
round: each distinct due time gets one `inspection.round_due` row; when it fires, every open round past
due turns missed, and each inspector and the school safety office get one in-app message listing theirs.
A round turns missed once, so nobody is told twice; it may still be walked afterwards, and is then late.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Final

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import error_at, load_model
from riskcontrol.core.db import insert_new, missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import Events
from riskcontrol.core.http import AppContext
from riskcontrol.core.i18n import phrase
from riskcontrol.core.periods import Calendar
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards import inspection_rules as rules
from riskcontrol.hazards import service as hazard_service
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.hazards.inspection_rules import At, InspectionPlan, KindPlan, Status
from riskcontrol.hazards.inspection_schemas import CompleteIn
from riskcontrol.hazards.places import PLACES_FILE, Place, Places, load_places
from riskcontrol.hazards.schemas import HazardIn, PointIn
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role

PLAN_FILE: Final = "inspections.yaml"
OPEN_ROUNDS: Final = "inspection.open_rounds"
ROUND_DUE: Final = "inspection.round_due"
# Both kinds of deadline row are about inspections as a whole: the subject id is the local date of an
# opening run, or the due time (ISO) a sweep is for.
SUBJECT: Final = "inspection"
ROUND_KEY: Final = ("place_code", "place_kind", "period")
# In-app only: a missed inspection is a lapse to put right, not an emergency.
CHANNELS: Final = (notify.IN_APP,)
MESSAGE_LINES: Final = 20
# Besides a round's own inspector role, the safety office and admins may walk any round in their scope.
ALSO_COMPLETE: Final = (Role.SAFETY_OFFICER, Role.ADMIN)
# A phone's clock may run a little ahead of the server's.
CLOCK_SLACK: Final = timedelta(minutes=5)
MISSED_LOOKBACK: Final = timedelta(days=180)


@functools.lru_cache(maxsize=8)
def _load_plan(path: Path, _mtime: float, categories: frozenset[str]) -> InspectionPlan:
    plan = load_model(path, InspectionPlan)
    if problems := plan.category_problems(categories):
        loc, reason, _value = problems[0]
        raise error_at(path, loc, reason)
    return plan


def load_plan(sop_dir: Path, categories: frozenset[str]) -> InspectionPlan:
    """The checklists of `sop_dir`, each item's category one of `categories`; read again only when the file changes."""
    path = sop_dir / PLAN_FILE
    return _load_plan(path, path.stat().st_mtime, categories)


@functools.lru_cache(maxsize=8)
def _load_places(path: Path, _mtime: float) -> Places:
    return load_places(path)


@dataclass(frozen=True)
class InspectionConfig:
    """What inspections need from the composition root: the ledger's wiring, the places, the calendar."""

    hazards: HazardConfig
    risk_map_dir: Path
    calendar: Calendar
    opens_daily_at: time = time(6, 30)

    @classmethod
    def of(cls, hazards: HazardConfig, risk_map_dir: Path) -> InspectionConfig:
        return cls(hazards=hazards, risk_map_dir=risk_map_dir, calendar=Calendar(hazards.tz))

    @property
    def events(self) -> Events:
        return self.hazards.events

    @property
    def tz(self) -> tzinfo:
        return self.hazards.tz

    def plan(self) -> InspectionPlan:
        categories = frozenset(category.code for category in self.hazards.matrix().categories)
        return load_plan(self.hazards.sop_dir, categories)

    def places(self) -> Places:
        path = self.risk_map_dir / PLACES_FILE
        return _load_places(path, path.stat().st_mtime)


def config(ctx: AppContext) -> InspectionConfig:
    """The inspections' wiring, as the composition root put it in the app context."""
    cfg: InspectionConfig = ctx.extras["inspections"]
    return cfg


# --- opening rounds ----------------------------------------------------------------------------


def _school(db: Session) -> OrgUnit | None:
    stmt = select(OrgUnit).where(OrgUnit.kind == UnitKind.SCHOOL, OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)
    return db.execute(stmt.limit(1)).scalar_one_or_none()


def open_rounds(
    db: Session, clock: Clock, cfg: InspectionConfig, *, on_schedule: bool = False, as_of: datetime | None = None
) -> int:
    """Open this period's round of every place whose kind has a checklist and that lacks one; how many opened.

    `on_schedule` opens them as if on time, due `allow` after their period opened (the demo, or a school
    that starts mid-period and keeps a strict record): those already past due go on record as missed,
    and nobody is told of lapses from before the system knew of the rounds."""
    deadlines.serialise(db, OPEN_ROUNDS)
    school = _school(db)
    if school is None:
        return 0
    now, plan, places = clock.now(), cfg.plan(), cfg.places()
    at_building = {
        place.code for kind, kp in plan.kinds.items() if kp.inspector.at is At.BUILDING for place in places.of_kind(kind)
    }
    buildings = {
        code: (unit_id, path)
        for unit_id, code, path in db.execute(
            select(OrgUnit.id, OrgUnit.code, OrgUnit.path).where(OrgUnit.kind == UnitKind.BUILDING, OrgUnit.code.in_(at_building))
        )
    }
    periods = {kind: cfg.calendar.period(now, kp.every) for kind, kp in plan.kinds.items()}
    have = select(InspectionRound.place_code, InspectionRound.place_kind, InspectionRound.period)
    existing = {tuple(row) for row in db.execute(have.where(InspectionRound.period.in_({p.code for p in periods.values()})))}
    rows: list[dict[str, object]] = []
    for kind, kp in plan.kinds.items():
        period = periods[kind]
        due_at = rules.due_at(period, kp.allow, period.opens_at if on_schedule else min(now, as_of or now))
        for place in places.of_kind(kind):
            if (place.code, kind.value, period.code) in existing:
                continue
            unit_id, path = (school.id, school.path)
            if kp.inspector.at is At.BUILDING:
                unit_id, path = buildings.get(place.code, (school.id, school.path))
            rows.append(
                {
                    "place_code": place.code,
                    "place_kind": kind.value,
                    "unit_id": unit_id,
                    "unit_path": path,
                    "inspector_role": kp.inspector.role.value,
                    "period": period.code,
                    "opens_at": period.opens_at,
                    "due_at": due_at,
                    "status": Status.MISSED if on_schedule and due_at <= now else Status.OPEN,
                    "late": False,
                    "results": [],
                    "note": "",
                    "lon": place.lon,
                    "lat": place.lat,
                    "hazard_ids": [],
                }
            )
    created = insert_new(db, InspectionRound, rows, ROUND_KEY, InspectionRound.due_at)
    # A round opened as missed is on record already; every other gets its sweep (at once, if already due).
    for due_at in sorted({due_at for due_at in created if not (on_schedule and due_at <= now)}):
        deadlines.ensure_pending(db, clock, kind=ROUND_DUE, subject_type=SUBJECT, subject_id=due_at.isoformat(), due_at=due_at)
    return len(created)


def opening_job(cfg: InspectionConfig) -> deadlines.DailyJob:
    """The daily opening of rounds: one pending row, due at the next opening time."""
    return deadlines.DailyJob(kind=OPEN_ROUNDS, subject_type=SUBJECT, tz=cfg.tz, at=cfg.opens_daily_at)


def on_open_rounds(cfg: InspectionConfig) -> deadlines.Handler:
    """Deadline handler: open the current rounds, then schedule tomorrow morning's run."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        open_rounds(db, clock, cfg, as_of=deadline.due_at)
        opening_job(cfg).rescheduled(db, clock, deadline)

    return handle


# --- missed ------------------------------------------------------------------------------------


def place_name(places: Places, code: str, lang: str) -> str:
    place = places.by_code.get(code)
    return place.name(lang) if place is not None else code


def kind_label(plan: InspectionPlan, kind: str, lang: str) -> str:
    kp = plan.kind(kind)
    if kp is None:
        return kind
    return kp.label.en if lang == "en" else kp.label.zh


def _missed_message(rows: Sequence[InspectionRound], cfg: InspectionConfig, now: datetime) -> notify.Message:
    plan, places = cfg.plan(), cfg.places()

    def line(row: InspectionRound) -> i18n.Phrase:
        place, kind = places.by_code.get(row.place_code), plan.kind(row.place_kind)
        return i18n.phrase(
            "notice.inspection.missed.line",
            place=place or row.place_code,
            kind=kind.label if kind is not None else row.place_kind,
            period=row.period,
            due=i18n.moment(row.due_at, cfg.tz, now),
        )

    n = len(rows)
    more = i18n.phrase("notice.more_items", count=n) if n > MESSAGE_LINES else ""
    lines = i18n.listing((line(row) for row in rows[:MESSAGE_LINES]), style="lines")
    return notify.Message.worded(
        "inspection.missed",
        level="blue",
        title=i18n.phrase("notice.inspection.missed.title", count=n),
        body=i18n.phrase("notice.inspection.missed.body", lines=lines, more=more),
        sms=i18n.phrase("notice.inspection.missed.sms", count=n),
        data={"rounds": [row.id for row in rows], "places": sorted({row.place_code for row in rows})},
    )


def _recipients(db: Session, rows: Sequence[InspectionRound]) -> tuple[dict[int, User], dict[int, list[InspectionRound]]]:
    """Each round's inspectors (its role at its unit, or the nearest above) and the school safety office."""
    holders = people_service.Holders(
        db, {row.unit_path for row in rows}, {row.inspector_role for row in rows} | {Role.SAFETY_OFFICER}
    )
    users: dict[int, User] = {}
    rounds: dict[int, list[InspectionRound]] = {}
    for row in rows:
        people = [
            *holders.of(row.unit_path, [row.inspector_role]),
            *holders.of(row.unit_path, [Role.SAFETY_OFFICER], at_kind=UnitKind.SCHOOL),
        ]
        for user in {user.id: user for user in people}.values():
            users[user.id] = user
            rounds.setdefault(user.id, []).append(row)
    return users, rounds


def sweep_missed(db: Session, clock: Clock, cfg: InspectionConfig, *, key: str) -> list[InspectionRound]:
    """Turn every open round past due missed and tell each person concerned once; the rounds turned."""
    stmt = (
        select(InspectionRound)
        .where(InspectionRound.status == Status.OPEN, InspectionRound.due_at <= clock.now())
        .order_by(InspectionRound.due_at, InspectionRound.unit_path, InspectionRound.place_code, InspectionRound.id)
        .with_for_update(skip_locked=True)
    )
    rows = list(db.execute(stmt).scalars())
    if not rows:
        return rows
    for row in rows:
        row.status = Status.MISSED
    users, rounds = _recipients(db, rows)
    for user_id, theirs in rounds.items():
        notify.notify(
            db,
            clock,
            cfg.events,
            user=users[user_id],
            channels=CHANNELS,
            message=_missed_message(theirs, cfg, clock.now()),
            subject_type=SUBJECT,
            subject_id=key,
        )
    audit.record(
        db,
        clock,
        actor_user_id=None,
        actor="system",
        action="inspection.rounds.missed",
        subject_type=SUBJECT,
        subject_id=key,
        detail={"rounds": [row.id for row in rows], "told": sorted(users)},
    )
    return rows


def on_round_due(cfg: InspectionConfig) -> deadlines.Handler:
    """Deadline handler: the rounds due by now that are still open are missed."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        sweep_missed(db, clock, cfg, key=deadline.subject_id)

    return handle


def register(cfg: InspectionConfig, handlers: DeadlineHandlers) -> None:
    """Wire the daily opening run and the missed-round sweeps into the deadline sweeper."""
    handlers.register(OPEN_ROUNDS, on_open_rounds(cfg))
    handlers.register(ROUND_DUE, on_round_due(cfg))


# --- walking a round ---------------------------------------------------------------------------


def may_complete(principal: Principal, row: InspectionRound) -> bool:
    """The round's inspector role, the safety office or an admin, held at or above the round's unit."""
    return principal.narrowed_to(row.inspector_role, *ALSO_COMPLETE).covers(row.unit_path)


def _hazard_of(row: InspectionRound, place: Place | None, item: rules.Item, note: str, floor: str) -> HazardIn:
    name = place.zh if place is not None else row.place_code
    return HazardIn(
        title=f"{name}：{item.zh}",
        category=item.category,
        description=note,
        unit_id=row.unit_id,
        location=PointIn(type="Point", coordinates=(row.lon, row.lat)),
        place=row.place_code,
        building=name,
        floor=floor,
        likelihood=item.likelihood,
        impact=item.impact,
    )


def complete_round(
    db: Session, clock: Clock, cfg: InspectionConfig, principal: Principal, round_id: int, data: CompleteIn
) -> InspectionRound:
    """Record a walked round: every item ticked, each failed one filed as a hazard at the place (origin
    `inspection`), all in the caller's transaction; after its due time the round is done late."""
    stmt = (
        select(InspectionRound)
        .where(InspectionRound.id == round_id, scope_clause(principal, InspectionRound.unit_path))
        .with_for_update()
    )
    row = db.execute(stmt).scalar_one_or_none()
    if row is None:
        refusal = phrase("refusal.inspection.not_found", id=round_id)
        raise missing_or_private(db, InspectionRound, round_id, message=refusal, field="round_id")
    if not may_complete(principal, row):
        raise Forbidden(phrase("refusal.inspection.role", role=phrase(f"role.{row.inspector_role}")), field="round_id")
    if row.done_at is not None:
        done = i18n.moment(row.done_at, cfg.tz, clock.now())
        raise Conflict(phrase("refusal.inspection.done_already", at=done), field="round_id")
    kp = cfg.plan().kind(row.place_kind)
    if kp is None:
        raise Conflict(phrase("refusal.inspection.kind_gone", kind=row.place_kind), field="round_id")
    if (problem := rules.results_problem(kp, data.results)) is not None:
        raise InvalidInput(problem[1], field=problem[0])
    now = clock.now()
    if data.started_at is not None and data.started_at > now + CLOCK_SLACK:
        raise InvalidInput(phrase("refusal.inspection.started_future"), field="started_at")
    if data.started_at is not None and data.started_at < row.opens_at:
        raise InvalidInput(phrase("refusal.inspection.started_early"), field="started_at")
    _file(db, clock, cfg, principal, row, kp, data)
    was = row.status
    row.status, row.done_at, row.inspector_id = Status.DONE, now, principal.user_id
    row.started_at = min(data.started_at or now, now)
    row.late = now > row.due_at
    row.note = data.note.strip()
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="inspection.round.complete",
        subject_type="inspection_round",
        subject_id=row.id,
        detail={
            "place": row.place_code,
            "kind": row.place_kind,
            "period": row.period,
            "was": was,
            "late": row.late,
            "hazards": row.hazard_ids,
        },
    )
    return row


def _file(
    db: Session, clock: Clock, cfg: InspectionConfig, principal: Principal, row: InspectionRound, kp: KindPlan, data: CompleteIn
) -> None:
    """Put each failed item on the hazard ledger and the results, in checklist order, on the round."""
    place = cfg.places().by_code.get(row.place_code)
    ticks = {tick.code: tick for tick in data.results}
    results, hazard_ids = [], []
    for item in kp.items:
        tick = ticks[item.code]
        note, floor, hazard_id = tick.note.strip(), tick.floor.strip(), None
        if not tick.ok:
            hazard = hazard_service.create_hazard(
                db,
                clock,
                cfg.hazards,
                principal,
                _hazard_of(row, place, item, note, floor),
                origin="inspection",
                origin_ref=f"round:{row.id}:{item.code}",
            )
            hazard_id = hazard.id
            hazard_ids.append(hazard.id)
        results.append({"code": item.code, "ok": tick.ok, "note": note, "floor": floor, "hazard_id": hazard_id})
    row.results, row.hazard_ids = results, hazard_ids


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundView:
    """A round as a list shows it: its unit, where it stands now, who walked it, whether the caller may."""

    round: InspectionRound
    unit: OrgUnit
    status: Status
    inspector_name: str | None
    may_complete: bool


def _view(principal: Principal, row: InspectionRound, unit: OrgUnit, name: str | None, now: datetime) -> RoundView:
    status = rules.standing(row.status, row.due_at, now)
    return RoundView(row, unit, status, name, row.done_at is None and may_complete(principal, row))


def _standing_clause(status: Status, now: datetime) -> ColumnElement[bool]:
    overdue = and_(InspectionRound.status == Status.OPEN, InspectionRound.due_at <= now)
    if status is Status.MISSED:
        return or_(InspectionRound.status == Status.MISSED, overdue)
    if status is Status.OPEN:
        return and_(InspectionRound.status == Status.OPEN, InspectionRound.due_at > now)
    return InspectionRound.status == Status.DONE


def _rounds(principal: Principal) -> Select[InspectionRound, OrgUnit, str | None]:
    """Rounds in the caller's scope with their unit and the name of who walked them."""
    return (
        select(InspectionRound, OrgUnit, User.name)
        .join(OrgUnit, OrgUnit.id == InspectionRound.unit_id)
        .outerjoin(User, User.id == InspectionRound.inspector_id)
        .where(scope_clause(principal, InspectionRound.unit_path))
    )


def count_waiting(cfg: InspectionConfig, principal: Principal, now: datetime) -> Select[int]:
    """How many rounds of the current periods in the caller's scope are not walked yet (open or missed), as a query."""
    codes = sorted(set(cfg.calendar.current_codes(now).values()))
    return (
        select(func.count())
        .select_from(InspectionRound)
        .where(
            scope_clause(principal, InspectionRound.unit_path),
            InspectionRound.period.in_(codes),
            InspectionRound.done_at.is_(None),
        )
    )


def list_rounds(
    db: Session,
    clock: Clock,
    cfg: InspectionConfig,
    principal: Principal,
    *,
    status: Status | None = None,
    kind: str | None = None,
    period: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[RoundView]:
    """Rounds in the caller's scope of the current periods (or of `period`): missed first, then open by
    due time, then done."""
    now = clock.now()
    stmt = _rounds(principal)
    codes = [period] if period is not None else sorted(set(cfg.calendar.current_codes(now).values()))
    stmt = stmt.where(InspectionRound.period.in_(codes))
    if status is not None:
        stmt = stmt.where(_standing_clause(status, now))
    if kind is not None:
        stmt = stmt.where(InspectionRound.place_kind == kind)
    waiting = InspectionRound.done_at.is_(None)
    first = case((and_(waiting, InspectionRound.due_at <= now), 0), (waiting, 1), else_=2)
    stmt = stmt.order_by(first, InspectionRound.due_at, InspectionRound.place_kind, InspectionRound.place_code)
    stmt = stmt.limit(limit).offset(offset)
    return [_view(principal, row, unit, name, now) for row, unit, name in db.execute(stmt)]


def missed_rounds(
    db: Session,
    clock: Clock,
    principal: Principal,
    *,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[RoundView]:
    """Rounds in the caller's scope that missed their due time since `since` (180 days by default): still
    missed, or walked late; the latest due first."""
    now = clock.now()
    stmt = _rounds(principal).where(
        or_(_standing_clause(Status.MISSED, now), InspectionRound.late.is_(True)),
        InspectionRound.due_at >= (since if since is not None else now - MISSED_LOOKBACK),
    )
    if kind is not None:
        stmt = stmt.where(InspectionRound.place_kind == kind)
    stmt = stmt.order_by(InspectionRound.due_at.desc(), InspectionRound.place_kind, InspectionRound.place_code)
    return [_view(principal, row, unit, name, now) for row, unit, name in db.execute(stmt.limit(limit).offset(offset))]


def get_round(db: Session, clock: Clock, principal: Principal, round_id: int) -> RoundView:
    """One round in the caller's scope (404 otherwise, audited when it exists)."""
    found = db.execute(_rounds(principal).where(InspectionRound.id == round_id)).first()
    if found is None:
        refusal = phrase("refusal.inspection.not_found", id=round_id)
        raise missing_or_private(db, InspectionRound, round_id, message=refusal, field="round_id")
    row, unit, name = found
    return _view(principal, row, unit, name, clock.now())
