"""Prevention (预防): the playbooks' standing measures as recurring rounds per unit, signed off, swept when
overdue, and counted as coverage.

Each morning (06:00 school time) one deadline row, `prevention.open_rounds`, opens the current period's
round of every measure for every unit of its kind that has none yet, then schedules the next morning.
Overdue is swept, not timed round by round: a school has a thousand rooms, and a weekly room check
would otherwise add a thousand timers a week. Each distinct due time gets one `prevention.round_due`
row (a measure's rounds nearly all share one); when it fires, every open round past due turns overdue
and each person concerned (the owner at the unit, and the counsellor or college officer above) gets
one in-app message listing their rounds. A round turns overdue once, so nobody is told twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import insert_new, missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import Events
from riskcontrol.core.http import AppContext
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, roles_named
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import path_ids
from riskcontrol.grid.service import scope_clause
from riskcontrol.incidents import prevention_rules as rules
from riskcontrol.incidents.models import MeasureRound
from riskcontrol.incidents.playbook_rules import PreventionMeasure
from riskcontrol.incidents.playbooks import PlaybookLibrary
from riskcontrol.incidents.prevention_rules import Bucket, Calendar, Tally
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role

OPEN_ROUNDS: Final = "prevention.open_rounds"
ROUND_DUE: Final = "prevention.round_due"
# Both kinds of deadline row are about prevention as a whole: the subject id is the local date of an
# opening run, or the due time (ISO) a sweep is for.
SUBJECT: Final = "prevention"
OPEN, OVERDUE, DONE = "open", "overdue", "done"
# In-app only: a missed room check is a lapse to put right, not an emergency.
CHANNELS: Final = (notify.IN_APP,)
# Who hears of an owner's lapse: the nearest counsellor or college officer above the unit, else
# student affairs at the school (a lapse nobody answers for must not be swallowed).
OVERSEERS: Final = (Role.COUNSELOR, Role.COLLEGE_OFFICER)
MESSAGE_LINES: Final = 20
ROUND_KEY: Final = ("playbook_type", "measure_code", "unit_id", "period")


@dataclass(frozen=True)
class PreventionConfig:
    """What prevention needs from the composition root."""

    calendar: Calendar
    library: Callable[[], PlaybookLibrary]
    events: Events = field(default_factory=Events)
    opens_daily_at: time = time(6, 0)


def config(ctx: AppContext) -> PreventionConfig:
    """Prevention's wiring, as the composition root put it in the app context."""
    cfg: PreventionConfig = ctx.extras["prevention"]
    return cfg


MeasureKey = tuple[str, str]


def measures(library: PlaybookLibrary) -> dict[MeasureKey, PreventionMeasure]:
    """Every standing measure of the library by (playbook type, measure code), in playbook order."""
    return {(type_, measure.code): measure for type_ in library.types() for measure in library.playbooks[type_].prevention}


# --- opening rounds ----------------------------------------------------------------------------


def open_rounds(
    db: Session,
    clock: Clock,
    library: PlaybookLibrary,
    calendar: Calendar,
    *,
    on_schedule: bool = False,
    as_of: datetime | None = None,
) -> int:
    """Open this period's round of every measure for every unit of its kind that lacks one; how many were opened.

    `on_schedule` opens them as if on time, due `allow` after their period opened, for a school that starts
    mid-period and keeps a strict record (and for the demo): those already past due go on record as
    overdue, and nobody is told of lapses from before the system knew of the rounds."""
    deadlines.serialise(db, OPEN_ROUNDS)
    now = clock.now()
    plans = measures(library)
    kinds = {measure.unit_kind for measure in plans.values()}
    units: dict[str, list[tuple[int, str]]] = {kind: [] for kind in kinds}
    for unit_id, kind, path in db.execute(select(OrgUnit.id, OrgUnit.kind, OrgUnit.path).where(OrgUnit.kind.in_(kinds))):
        units[kind].append((unit_id, path))
    codes = calendar.current_codes(now)
    have = select(MeasureRound.playbook_type, MeasureRound.measure_code, MeasureRound.unit_id, MeasureRound.period)
    existing = {tuple(row) for row in db.execute(have.where(MeasureRound.period.in_(set(codes.values()))))}
    rows: list[dict[str, object]] = []
    for (type_, code), measure in plans.items():
        period = calendar.period(now, measure.every)
        opened_at = period.opens_at if on_schedule else min(now, as_of or now)
        due_at = rules.due_at(period.opens_at, measure.allow, calendar.closes_at(now, measure.every), opened_at)
        for unit_id, path in units[measure.unit_kind]:
            if (type_, code, unit_id, period.code) in existing:
                continue
            rows.append(
                {
                    "playbook_type": type_,
                    "measure_code": code,
                    "unit_id": unit_id,
                    "unit_path": path,
                    "owner_role": measure.owner_role,
                    "period": period.code,
                    "opens_at": period.opens_at,
                    "due_at": due_at,
                    "status": OVERDUE if on_schedule and due_at <= now else OPEN,
                    "late": False,
                }
            )
    created = insert_new(db, MeasureRound, rows, ROUND_KEY, MeasureRound.due_at)
    # A round opened as overdue is on record already; every other gets its sweep (at once, if already due).
    for due_at in sorted({due_at for due_at in created if not (on_schedule and due_at <= now)}):
        deadlines.ensure_pending(db, clock, kind=ROUND_DUE, subject_type=SUBJECT, subject_id=due_at.isoformat(), due_at=due_at)
    return len(created)


def opening_job(cfg: PreventionConfig) -> deadlines.DailyJob:
    """The daily opening of rounds: one pending row, due at the next opening time."""
    return deadlines.DailyJob(kind=OPEN_ROUNDS, subject_type=SUBJECT, tz=cfg.calendar.tz, at=cfg.opens_daily_at)


def on_open_rounds(cfg: PreventionConfig) -> deadlines.Handler:
    """Deadline handler: open the current rounds, then schedule tomorrow morning's run."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        open_rounds(db, clock, cfg.library(), cfg.calendar, as_of=deadline.due_at)
        opening_job(cfg).rescheduled(db, clock, deadline)

    return handle


# --- overdue -----------------------------------------------------------------------------------


@dataclass
class _Lapses:
    """The overdue rounds each person is told of."""

    users: dict[int, User] = field(default_factory=dict)
    rounds: dict[int, list[MeasureRound]] = field(default_factory=dict)

    def add(self, user: User, row: MeasureRound) -> None:
        self.users[user.id] = user
        self.rounds.setdefault(user.id, []).append(row)


def _recipients(db: Session, rows: Sequence[MeasureRound]) -> _Lapses:
    """Each round's owners at its unit and the counsellor or college officer above (else student affairs)."""
    roles = {row.owner_role for row in rows} | set(OVERSEERS) | {Role.STUDENT_AFFAIRS}
    holders = people_service.Holders(db, {row.unit_path for row in rows}, roles)
    lapses = _Lapses()
    for row in rows:
        owners = holders.of(row.unit_path, [row.owner_role])
        above = holders.of(row.unit_path, [role for role in OVERSEERS if role != row.owner_role])
        above = above or holders.of(row.unit_path, [Role.STUDENT_AFFAIRS])
        for user in {user.id: user for user in [*owners, *above]}.values():
            lapses.add(user, row)
    return lapses


def _overdue_message(
    rows: Sequence[MeasureRound],
    labels: dict[MeasureKey, PreventionMeasure],
    names: dict[int, OrgUnit],
    cfg: PreventionConfig,
    now: datetime,
) -> notify.Message:
    def line(row: MeasureRound) -> i18n.Phrase:
        measure, unit = labels.get((row.playbook_type, row.measure_code)), names.get(row.unit_id)
        return i18n.phrase(
            "notice.prevention.overdue.line",
            unit=i18n.Both(unit.name_zh, unit.name_en) if unit else str(row.unit_id),
            measure=measure.label if measure else row.measure_code,
            due=i18n.moment(row.due_at, cfg.calendar.tz, now),
        )

    n = len(rows)
    more = i18n.phrase("notice.more_items", count=n) if n > MESSAGE_LINES else ""
    lines = i18n.listing((line(row) for row in rows[:MESSAGE_LINES]), style="lines")
    return notify.Message.worded(
        "prevention.overdue",
        level="blue",
        title=i18n.phrase("notice.prevention.overdue.title", count=n),
        body=i18n.phrase("notice.prevention.overdue.body", lines=lines, more=more),
        sms=i18n.phrase("notice.prevention.overdue.sms", count=n),
        data={"rounds": [row.id for row in rows], "unit_ids": sorted({row.unit_id for row in rows})},
    )


def sweep_overdue(db: Session, clock: Clock, cfg: PreventionConfig, *, key: str) -> list[MeasureRound]:
    """Turn every open round past due overdue and tell each person concerned once; the rounds turned."""
    now = clock.now()
    stmt = (
        select(MeasureRound)
        .where(MeasureRound.status == OPEN, MeasureRound.due_at <= now)
        .order_by(MeasureRound.due_at, MeasureRound.unit_path, MeasureRound.id)
        .with_for_update(skip_locked=True)
    )
    rows = list(db.execute(stmt).scalars())
    if not rows:
        return rows
    for row in rows:
        row.status = OVERDUE
    lapses = _recipients(db, rows)
    labels = measures(cfg.library())
    units = {u.id: u for u in db.execute(select(OrgUnit).where(OrgUnit.id.in_({row.unit_id for row in rows}))).scalars()}
    for user_id, theirs in lapses.rounds.items():
        notify.notify(
            db,
            clock,
            cfg.events,
            user=lapses.users[user_id],
            channels=CHANNELS,
            message=_overdue_message(theirs, labels, units, cfg, now),
            subject_type=SUBJECT,
            subject_id=key,
        )
    audit.record(
        db,
        clock,
        actor_user_id=None,
        actor="system",
        action="prevention.rounds.overdue",
        subject_type=SUBJECT,
        subject_id=key,
        detail={"rounds": [row.id for row in rows], "told": sorted(lapses.users)},
    )
    return rows


def on_round_due(cfg: PreventionConfig) -> deadlines.Handler:
    """Deadline handler: the rounds due by now that are still open are overdue."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        sweep_overdue(db, clock, cfg, key=deadline.subject_id)

    return handle


# --- signing a round off -----------------------------------------------------------------------


def may_complete(principal: Principal, row: MeasureRound, unit_kind: str) -> bool:
    """The owner role at or above the round's unit, or a role answering for it there."""
    return principal.narrowed_to(*rules.completers(row.owner_role, unit_kind)).covers(row.unit_path)


def complete_round(
    db: Session,
    clock: Clock,
    principal: Principal,
    round_id: int,
    evidence: str | None,
    covered: int | None = None,
    population: int | None = None,
    *,
    library: PlaybookLibrary,
) -> MeasureRound:
    """Sign a round off with its evidence (and, for measures that reach people, how many of how many); a
    completion after the due time is recorded as late."""
    stmt = (
        select(MeasureRound, OrgUnit.kind)
        .join(OrgUnit, OrgUnit.id == MeasureRound.unit_id)
        .where(MeasureRound.id == round_id, scope_clause(principal, MeasureRound.unit_path))
        .with_for_update(of=MeasureRound)
    )
    found = db.execute(stmt).first()
    if found is None:
        refusal = phrase("refusal.prevention.not_found", id=round_id)
        raise missing_or_private(db, MeasureRound, round_id, message=refusal, field="round_id")
    row, unit_kind = found
    if not may_complete(principal, row, unit_kind):
        roles = roles_named(rules.completers(row.owner_role, unit_kind))
        raise Forbidden(phrase("refusal.prevention.role", roles=roles), field="round_id")
    if row.done_at is not None:
        raise Conflict(phrase("refusal.prevention.done_already"), field="round_id")
    measure = measures(library).get((row.playbook_type, row.measure_code))
    problem = rules.completion_problem(
        evidence_required=measure is not None and measure.evidence is not None,
        evidence=evidence,
        covered=covered,
        population=population,
    )
    if problem is not None:
        raise InvalidInput(problem[1], field=problem[0])
    now = clock.now()
    was = row.status
    row.status, row.done_at, row.done_by = DONE, now, principal.user_id
    row.evidence = (evidence or "").strip() or None
    row.late = now > row.due_at
    row.covered, row.population = covered, population
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="prevention.round.complete",
        subject_type="measure_round",
        subject_id=row.id,
        detail={
            "playbook_type": row.playbook_type,
            "measure_code": row.measure_code,
            "unit_id": row.unit_id,
            "period": row.period,
            "was": was,
            "late": row.late,
            "covered": covered,
            "population": population,
        },
    )
    return row


# --- reading: rounds and coverage --------------------------------------------------------------


@dataclass(frozen=True)
class RoundView:
    """A round as a list shows it: its unit, where it stands now, who signed it off, whether the caller may."""

    round: MeasureRound
    unit: OrgUnit
    bucket: Bucket
    done_by_name: str | None
    may_complete: bool


def _view(principal: Principal, row: MeasureRound, unit: OrgUnit, done_by_name: str | None, now: datetime) -> RoundView:
    where = rules.bucket(done=row.done_at is not None, opens_at=row.opens_at, due_at=row.due_at, now=now)
    return RoundView(row, unit, where, done_by_name, row.done_at is None and may_complete(principal, row, unit.kind))


def round_view(db: Session, clock: Clock, principal: Principal, row: MeasureRound) -> RoundView:
    """How `row` stands now, as the caller sees it."""
    unit = db.get_one(OrgUnit, row.unit_id)
    done_by = db.get(User, row.done_by) if row.done_by is not None else None
    return _view(principal, row, unit, done_by.name if done_by else None, clock.now())


def _current(calendar: Calendar, now: datetime) -> list[str]:
    """The codes of the periods running `now`."""
    return sorted(set(calendar.current_codes(now).values()))


def _overdue(now: datetime) -> ColumnElement[bool]:
    """SQL condition: the round is not done and its due time has passed."""
    return and_(MeasureRound.done_at.is_(None), MeasureRound.due_at <= now)


def count_overdue(calendar: Calendar, principal: Principal, now: datetime) -> Select[int]:
    """How many rounds of the current periods in the caller's scope are overdue, as a query."""
    return (
        select(func.count())
        .select_from(MeasureRound)
        .where(scope_clause(principal, MeasureRound.unit_path), MeasureRound.period.in_(_current(calendar, now)), _overdue(now))
    )


def list_rounds(
    db: Session,
    clock: Clock,
    calendar: Calendar,
    principal: Principal,
    *,
    unit_id: int | None = None,
    own_only: bool = False,
    status: str | None = None,
    period: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[RoundView]:
    """Rounds in the caller's scope (under `unit_id`, or only at it), of the current periods or of `period`,
    where they stand now (`status`: due, overdue or done); overdue first, then by due time."""
    now = clock.now()
    stmt = (
        select(MeasureRound, OrgUnit, User.name)
        .join(OrgUnit, OrgUnit.id == MeasureRound.unit_id)
        .outerjoin(User, User.id == MeasureRound.done_by)
        .where(scope_clause(principal, MeasureRound.unit_path))
    )
    if unit_id is not None:
        unit = grid_service.get_unit(db, principal, unit_id)
        stmt = stmt.where(MeasureRound.unit_id == unit.id if own_only else MeasureRound.unit_path.like(unit.path + "%"))
    codes = [period] if period is not None else _current(calendar, now)
    stmt = stmt.where(MeasureRound.period.in_(codes))
    if status == Bucket.DONE:
        stmt = stmt.where(MeasureRound.done_at.is_not(None))
    elif status == Bucket.OVERDUE:
        stmt = stmt.where(_overdue(now))
    elif status == Bucket.DUE:
        stmt = stmt.where(MeasureRound.done_at.is_(None), MeasureRound.due_at > now)
    waiting = MeasureRound.done_at.is_(None)
    first = case((and_(waiting, MeasureRound.due_at <= now), 0), (waiting, 1), else_=2)  # overdue, due, done
    stmt = stmt.order_by(first, MeasureRound.due_at, MeasureRound.unit_path, MeasureRound.id).limit(limit).offset(offset)
    return [_view(principal, row, unit, done_by_name, now) for row, unit, done_by_name in db.execute(stmt)]


class _Facts(NamedTuple):
    unit_path: str
    playbook_type: str
    measure_code: str
    opens_at: datetime
    due_at: datetime
    done_at: datetime | None
    late: bool
    covered: int | None
    population: int | None


@dataclass(frozen=True)
class UnitCoverage:
    """One unit's rounds of the current periods, its whole subtree counted: in all and per measure."""

    unit: OrgUnit
    has_children: bool
    total: Tally
    measures: list[tuple[MeasureKey, Tally]]


@dataclass(frozen=True)
class Coverage:
    """Coverage as a unit's page shows it: where it sits, the current periods, its own rounds counted,
    its whole subtree counted, and each unit under it (or the caller's top units) counted."""

    unit: OrgUnit | None
    trail: list[OrgUnit]
    periods: dict[str, str]
    own: Tally
    whole: Tally
    units: list[UnitCoverage]


def _tallies(facts: Iterable[_Facts], now: datetime, order: Sequence[MeasureKey]) -> tuple[Tally, list[tuple[MeasureKey, Tally]]]:
    per: dict[MeasureKey, Tally] = {}
    for fact in facts:
        key = (fact.playbook_type, fact.measure_code)
        per[key] = per.get(key, Tally()) + rules.tally_one(fact, now)
    rank = {key: index for index, key in enumerate(order)}
    ordered = sorted(per.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))
    return sum((t for _, t in ordered), Tally()), ordered


def _within(path: str, units: dict[str, OrgUnit]) -> OrgUnit | None:
    """The unit among `units` (by path) whose subtree holds `path`."""
    end = path.find("/", 1)
    while end != -1:
        if (found := units.get(path[: end + 1])) is not None:
            return found
        end = path.find("/", end + 1)
    return None


def coverage(
    db: Session,
    clock: Clock,
    calendar: Calendar,
    library: PlaybookLibrary,
    principal: Principal,
    unit_id: int | None = None,
) -> Coverage:
    """Done, due and overdue rounds of the current periods for each unit under `unit_id` (or each of the
    caller's top units), per measure, counted over each unit's subtree within the caller's scope."""
    now = clock.now()
    codes = calendar.current_codes(now)
    stmt = select(*(getattr(MeasureRound, name) for name in _Facts._fields)).where(
        MeasureRound.period.in_(set(codes.values())), scope_clause(principal, MeasureRound.unit_path)
    )
    unit: OrgUnit | None = None
    if unit_id is not None:
        unit = grid_service.get_unit(db, principal, unit_id)
        rows = list(db.execute(grid_service.units_in_scope(principal, parent_id=unit.id)).scalars())
        stmt = stmt.where(MeasureRound.unit_path.like(unit.path + "%"))
    else:
        roots = grid_service.units_in_scope(principal).where(OrgUnit.path.in_(principal.scope_paths))
        rows = list(db.execute(roots).scalars())
    facts = [_Facts(*row) for row in db.execute(stmt)]
    by_path = {row.path: row for row in rows}
    under: dict[int, list[_Facts]] = {row.id: [] for row in rows}
    own: list[_Facts] = []
    for fact in facts:
        if (holder := _within(fact.unit_path, by_path)) is not None:
            under[holder.id].append(fact)
        elif unit is not None and fact.unit_path == unit.path:
            own.append(fact)
    order = list(measures(library))
    with_children = select(OrgUnit.parent_id).where(OrgUnit.parent_id.in_(list(under))).distinct()
    parents = set(db.execute(with_children).scalars())
    units = []
    for row in rows:
        total, per = _tallies(under[row.id], now, order)
        units.append(UnitCoverage(unit=row, has_children=row.id in parents, total=total, measures=per))
    trail: list[OrgUnit] = []
    if unit is not None:
        above = {u.id: u for u in db.execute(select(OrgUnit).where(OrgUnit.id.in_(path_ids(unit.path)))).scalars()}
        trail = [above[i] for i in path_ids(unit.path) if i in above and principal.covers(above[i].path)]
    return Coverage(
        unit=unit,
        trail=trail,
        periods={every.value: code for every, code in codes.items()},
        own=rules.tally(own, now),
        whole=rules.tally(facts, now),
        units=units,
    )


def register(cfg: PreventionConfig, handlers: DeadlineHandlers) -> None:
    """Wire the daily opening run and the overdue sweeps into the deadline sweeper."""
    handlers.register(OPEN_ROUNDS, on_open_rounds(cfg))
    handlers.register(ROUND_DUE, on_round_due(cfg))
