"""The 7×24 rapid-response duty roster: shifts, handovers, who is on duty, and the daily gap warning.

Student affairs and admins keep the roster; a lead must hold the response-team role, a deputy the
response-team or student-affairs role. Each morning (09:00 school time) one deadline row,
`roster.gap_check`, looks a week ahead and tells the school's student-affairs officers of every
stretch without a lead or a deputy, then schedules the next morning's check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from riskcontrol.core.events import Events
from riskcontrol.core.i18n import Phrase, phrase
from riskcontrol.core.security import Principal, roles_named
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.incidents import roster_rules as rules
from riskcontrol.incidents.models import DutyShift
from riskcontrol.incidents.roster_rules import Gap, Position
from riskcontrol.incidents.roster_schemas import ShiftIn
from riskcontrol.notify import service as notify
from riskcontrol.people.models import RoleAssignment, User
from riskcontrol.people.rules import Role

GAP_CHECK: Final = "roster.gap_check"
# The check's deadline rows are about the roster; subject_id is the local date the check is for.
SUBJECT: Final = "duty_roster"
MANAGES: Final = frozenset({Role.STUDENT_AFFAIRS, Role.ADMIN})
READS: Final = frozenset({Role.RESPONSE_TEAM, Role.STUDENT_AFFAIRS, Role.LEADER, Role.ADMIN})
# Who may stand a shift: a lead answers the first minutes of a crisis, so only the response team.
ROSTERABLE: Final[dict[Position, frozenset[str]]] = {
    Position.LEAD: frozenset({Role.RESPONSE_TEAM}),
    Position.DEPUTY: frozenset({Role.RESPONSE_TEAM, Role.STUDENT_AFFAIRS}),
}
# How long after a shift the outgoing person may still write the handover, and how far apart
# two shifts may be and still hand over from one to the other.
HANDOVER_GRACE: Final = timedelta(hours=2)
CHANGING: Final = phrase("refusal.roster.changing")
GAP_LINES: Final = 20
# When the daily gap check runs, school time (a school default, like every time limit).
CHECK_AT: Final = time(9, 0)


@dataclass(frozen=True)
class RosterConfig:
    """What the roster needs from the composition root."""

    tz: tzinfo
    events: Events = field(default_factory=Events)
    check_at: time = CHECK_AT
    horizon: timedelta = timedelta(days=7)
    sms_daily_cap: int | None = None


@dataclass(frozen=True)
class OnDuty:
    """Someone on duty now, with the note the previous shift of their position left them."""

    shift: DutyShift
    user: User
    handed_over_by: tuple[DutyShift, User] | None


@dataclass(frozen=True)
class Now:
    at: datetime
    on_duty: list[OnDuty]
    uncovered: list[Position]
    next_handover_at: datetime | None


@dataclass(frozen=True)
class Week:
    starts_at: datetime
    ends_at: datetime
    shifts: list[tuple[DutyShift, User]]
    gaps: list[Gap]


def _audit(db: Session, clock: Clock, by: Principal, action: str, shift: DutyShift, **detail: Any) -> None:
    audit.record(
        db,
        clock,
        actor_user_id=by.user_id,
        actor=by.username,
        action=action,
        subject_type="duty_shift",
        subject_id=shift.id,
        detail={"user_id": shift.user_id, "position": shift.position, **detail},
    )


def _require(principal: Principal, roles: frozenset[str], doing: Phrase) -> None:
    if not principal.has_role(*roles):
        raise Forbidden(phrase("refusal.roster.role", doing=doing, roles=roles_named(roles)))


def require_reader(principal: Principal) -> None:
    """Refuse unless the caller may see the roster."""
    _require(principal, READS, phrase("refusal.roster.reading"))


def _shifts_between(db: Session, starts_at: datetime, ends_at: datetime) -> list[tuple[DutyShift, User]]:
    """Shifts of active users overlapping [starts_at, ends_at), in order."""
    stmt = (
        select(DutyShift, User)
        .join(User, User.id == DutyShift.user_id)
        .where(DutyShift.starts_at < ends_at, DutyShift.ends_at > starts_at, User.active.is_(True))
        .order_by(DutyShift.starts_at, DutyShift.position, DutyShift.id)
    )
    return [(shift, user) for shift, user in db.execute(stmt)]


def _gaps(rows: Sequence[tuple[DutyShift, User]], starts_at: datetime, ends_at: datetime) -> list[Gap]:
    spans = [(Position(shift.position), (shift.starts_at, shift.ends_at)) for shift, _user in rows]
    return rules.coverage_gaps(spans, starts_at, ends_at)


def _rosterable(db: Session, user_id: int, position: Position) -> User:
    """The active user to roster, locked so that two requests cannot give them overlapping shifts."""
    user = db.get(User, user_id, with_for_update=True)
    if user is None or not user.active:
        raise InvalidInput(phrase("refusal.people.no_active_user", id=user_id), field="user_id")
    roles = ROSTERABLE[position]
    held = select(RoleAssignment.id).where(RoleAssignment.user_id == user.id, RoleAssignment.role.in_(roles))
    if db.execute(held.limit(1)).first() is None:
        refusal = phrase("refusal.roster.position_role", position=phrase(f"roster.position.{position}"), roles=roles_named(roles))
        raise InvalidInput(refusal, field="user_id")
    return user


def add_shift(db: Session, clock: Clock, principal: Principal, data: ShiftIn, *, tz: tzinfo) -> tuple[DutyShift, User]:
    """Put someone on the roster for one shift; their own shifts may not overlap (a clash is told on the school's clock)."""
    _require(principal, MANAGES, CHANGING)
    if (problem := rules.shift_problem(data.starts_at, data.ends_at, clock.now())) is not None:
        raise InvalidInput(problem[1], field=problem[0])
    user = _rosterable(db, data.user_id, data.position)
    theirs = select(DutyShift.starts_at, DutyShift.ends_at).where(
        DutyShift.user_id == user.id, DutyShift.starts_at < data.ends_at, DutyShift.ends_at > data.starts_at
    )
    spans = [(starts_at, ends_at) for starts_at, ends_at in db.execute(theirs)]
    if (clash := rules.first_overlap((data.starts_at, data.ends_at), spans)) is not None:
        start, end = (i18n.moment(at, tz, clock.now()) for at in clash)
        raise Conflict(phrase("refusal.roster.overlap", name=user.name, start=start, end=end), field="starts_at")
    shift = DutyShift(
        user_id=user.id,
        position=data.position.value,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        handover_note="",
        created_at=clock.now(),
        created_by=principal.user_id,
    )
    db.add(shift)
    db.flush()
    _audit(db, clock, principal, "roster.shift.add", shift, starts_at=shift.starts_at, ends_at=shift.ends_at)
    return shift, user


def _get(db: Session, shift_id: int) -> tuple[DutyShift, User]:
    shift = db.get(DutyShift, shift_id, with_for_update=True)
    user = db.get(User, shift.user_id) if shift is not None else None
    if shift is None or user is None:
        raise NotFound(phrase("refusal.roster.no_shift", id=shift_id), field="shift_id")
    return shift, user


def remove_shift(db: Session, clock: Clock, principal: Principal, shift_id: int) -> tuple[str, DutyShift]:
    """Delete a shift that has not started; end one under way now (who was on duty stays on record)."""
    _require(principal, MANAGES, CHANGING)
    shift, _user = _get(db, shift_id)
    now = clock.now()
    if shift.ends_at <= now:
        raise Conflict(phrase("refusal.roster.shift_over"), field="shift_id")
    outcome = "deleted" if shift.starts_at >= now else "ended"
    _audit(db, clock, principal, "roster.shift.remove", shift, outcome=outcome, starts_at=shift.starts_at, ends_at=shift.ends_at)
    if outcome == "deleted":
        db.delete(shift)
    else:
        shift.ends_at = now
    db.flush()
    return outcome, shift


def _same_position(shift: DutyShift) -> Select[DutyShift, User]:
    """The other shifts of `shift`'s position, with their people."""
    return (
        select(DutyShift, User)
        .join(User, User.id == DutyShift.user_id)
        .where(DutyShift.position == shift.position, DutyShift.id != shift.id)
    )


def predecessor(db: Session, shift: DutyShift) -> tuple[DutyShift, User] | None:
    """The shift of the same position that handed over to `shift`: the latest to end shortly before it starts."""
    stmt = _same_position(shift).where(
        DutyShift.starts_at < shift.starts_at, DutyShift.ends_at >= shift.starts_at - HANDOVER_GRACE
    )
    row = db.execute(stmt.order_by(DutyShift.ends_at.desc(), DutyShift.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def successors(db: Session, shift: DutyShift) -> list[tuple[DutyShift, User]]:
    """The shifts of the same position that take over from `shift`: those starting first after it."""
    stmt = _same_position(shift).where(
        DutyShift.starts_at > shift.starts_at, DutyShift.starts_at <= shift.ends_at + HANDOVER_GRACE
    )
    rows = [(s, u) for s, u in db.execute(stmt.order_by(DutyShift.starts_at, DutyShift.id))]
    return [row for row in rows if row[0].starts_at == rows[0][0].starts_at]


def handover(db: Session, clock: Clock, principal: Principal, shift_id: int, note: str) -> tuple[DutyShift, User]:
    """The outgoing person writes what the next shift must know; it is shown to the next on duty."""
    shift, user = _get(db, shift_id)
    if shift.user_id != principal.user_id:
        raise Forbidden(phrase("refusal.roster.handover_own"), field="shift_id")
    now = clock.now()
    if now < shift.starts_at:
        raise Conflict(phrase("refusal.roster.not_started"), field="shift_id")
    if now > shift.ends_at + HANDOVER_GRACE:
        raise Conflict(phrase("refusal.roster.handover_late", hours=HANDOVER_GRACE // timedelta(hours=1)), field="shift_id")
    text = note.strip()
    if not text:
        raise InvalidInput(phrase("refusal.roster.handover_empty"), field="note")
    replaced = bool(shift.handover_note)
    shift.handover_note = text
    _audit(db, clock, principal, "roster.handover", shift, chars=len(text), replaced=replaced)
    return shift, user


def on_duty(db: Session, at: datetime) -> list[tuple[DutyShift, User]]:
    """Who is on the rapid-response duty roster at `at`, leads first."""
    stmt = (
        select(DutyShift, User)
        .join(User, User.id == DutyShift.user_id)
        .where(DutyShift.starts_at <= at, DutyShift.ends_at > at, User.active.is_(True))
        .order_by(DutyShift.position != "lead", DutyShift.starts_at)  # leads first
    )
    return [(shift, user) for shift, user in db.execute(stmt).all()]


def current(db: Session, at: datetime) -> Now:
    """Who is on duty at `at` (leads first), what was handed to them, and when the next handover is."""
    order = list(Position)
    rows = sorted(on_duty(db, at), key=lambda row: (order.index(Position(row[0].position)), row[0].starts_at, row[0].id))
    people = [OnDuty(shift, user, predecessor(db, shift)) for shift, user in rows]
    held = {Position(shift.position) for shift, _user in rows}
    return Now(
        at=at,
        on_duty=people,
        uncovered=[position for position in Position if position not in held],
        next_handover_at=min((shift.ends_at for shift, _user in rows), default=None),
    )


def week(db: Session, start: datetime) -> Week:
    """The roster for the 7 days from `start`, with its gaps."""
    ends_at = start + timedelta(days=7)
    rows = _shifts_between(db, start, ends_at)
    return Week(starts_at=start, ends_at=ends_at, shifts=rows, gaps=_gaps(rows, start, ends_at))


def coming_gaps(db: Session, clock: Clock, days: int = 7) -> list[Gap]:
    """The stretches of the coming `days` with no lead or no deputy on duty."""
    now = clock.now()
    ends_at = now + timedelta(days=days)
    return _gaps(_shifts_between(db, now, ends_at), now, ends_at)


# --- the daily gap warning ---------------------------------------------------------------------


def _student_affairs(db: Session) -> list[User]:
    """The active student-affairs officers at the school."""
    stmt = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(RoleAssignment.role == Role.STUDENT_AFFAIRS, OrgUnit.kind == UnitKind.SCHOOL, User.active.is_(True))
        .order_by(User.id)
        .distinct()
    )
    return list(db.execute(stmt).scalars())


def gap_message(cfg: RosterConfig, found: Sequence[Gap], day: str, now: datetime) -> notify.Message:
    """The warning: every gap of the coming week on the school's clock, the lead's marked as high."""

    def when(moment: datetime) -> i18n.Moment:
        return i18n.moment(moment, cfg.tz, now)

    def line(gap: Gap) -> i18n.Phrase:
        return i18n.phrase(
            "notice.roster.gaps.line",
            starts=when(gap.starts_at),
            ends=when(gap.ends_at),
            position=i18n.phrase(f"roster.position.{gap.position.value}"),
            severity=i18n.phrase(f"roster.severity.{gap.severity}"),
        )

    count, days = len(found), cfg.horizon.days
    leads = sum(1 for gap in found if gap.position == Position.LEAD)
    more = i18n.phrase("notice.roster.gaps.more", count=count) if count > GAP_LINES else ""
    lines = i18n.listing((line(gap) for gap in found[:GAP_LINES]), style="lines")
    return notify.Message.worded(
        "roster.gaps",
        level="orange" if leads else "yellow",
        title=i18n.phrase("notice.roster.gaps.title", days=days, count=count),
        body=i18n.phrase("notice.roster.gaps.body", lines=lines, more=more),
        sms=i18n.phrase("notice.roster.gaps.sms", days=days, count=count, leads=leads, first=when(found[0].starts_at)),
        data={
            "date": day,
            "gaps": [
                {
                    "position": g.position.value,
                    "severity": g.severity,
                    "starts_at": g.starts_at.isoformat(),
                    "ends_at": g.ends_at.isoformat(),
                }
                for g in found
            ],
        },
    )


def gap_check_job(cfg: RosterConfig) -> deadlines.DailyJob:
    """The daily gap check: one pending row, due at the next check time."""
    return deadlines.DailyJob(kind=GAP_CHECK, subject_type=SUBJECT, tz=cfg.tz, at=cfg.check_at)


def on_gap_check(cfg: RosterConfig) -> deadlines.Handler:
    """Deadline handler: warn student affairs of the coming week's gaps (once a day), then schedule tomorrow's check."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        day = deadline.subject_id
        checked = select(Deadline.id).where(
            Deadline.kind == GAP_CHECK,
            Deadline.subject_id == day,
            Deadline.status == deadlines.FIRED,
            Deadline.id != deadline.id,
        )
        if db.execute(checked.limit(1)).first() is None:
            _warn(db, clock, cfg, day)
        gap_check_job(cfg).rescheduled(db, clock, deadline)

    return handle


def _warn(db: Session, clock: Clock, cfg: RosterConfig, day: str) -> None:
    found = coming_gaps(db, clock, days=cfg.horizon.days)
    if not found:
        return
    message = gap_message(cfg, found, day, clock.now())
    told = _student_affairs(db)
    for user in told:
        notify.notify(
            db,
            clock,
            cfg.events,
            user=user,
            channels=(notify.IN_APP, notify.SMS),
            message=message,
            subject_type=SUBJECT,
            subject_id=day,
            sms_cap=cfg.sms_daily_cap,
        )
    audit.record(
        db,
        clock,
        actor_user_id=None,
        actor="system",
        action="roster.gap_warning",
        subject_type=SUBJECT,
        subject_id=day,
        detail={
            "gaps": len(found),
            "lead_gaps": sum(1 for gap in found if gap.position == Position.LEAD),
            "told": [user.id for user in told],
        },
    )


def register(cfg: RosterConfig, handlers: DeadlineHandlers) -> None:
    """Wire the daily gap check into the deadline sweeper."""
    handlers.register(GAP_CHECK, on_gap_check(cfg))
