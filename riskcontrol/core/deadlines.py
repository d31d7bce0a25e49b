"""Durable deadlines: one table of promises with due times, and a sweeper that fires each exactly once.

Every time limit in the system (acknowledge within 5 minutes, weekly talk, rectify by a date) is a
row here. Domains register a handler per `kind`; the sweeper claims due rows with
`FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises writers), marks them fired and runs the
handler in the same transaction, so the reaction commits together with the firing or not at all.
A row that fell due while the system was down fires at the next sweep and is marked late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from time import monotonic
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from riskcontrol.core import metrics
from riskcontrol.core.claims import Queue, Retry
from riskcontrol.core.clock import Clock, next_local
from riskcontrol.core.db import Base, UTCDateTime, transaction

log = logging.getLogger(__name__)

PENDING, FIRED, CANCELLED, FAILED, DROPPED = "pending", "fired", "cancelled", "failed", "dropped"


class Deadline(Base):
    """A promise that something happens by `due_at`; what happens when it passes is its kind's handler."""

    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_status_due_at", "status", "due_at"),
        Index("ix_deadline_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fired_by: Mapped[str | None] = mapped_column(String(120))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


# Claimed inside the sweeping transaction, which holds the row locks while the handler runs: no lease.
QUEUE = Queue(Deadline, Deadline.due_at, waiting=PENDING, failed=FAILED)

Handler = Callable[[Session, Clock, Deadline], None]
# Fires many rows of one kind at once (one query for all, bulk inserts); the rows come due-time first.
BatchHandler = Callable[[Session, Clock, Sequence[Deadline]], None]


@dataclass
class DeadlineHandlers:
    """Which handler runs for each kind of deadline (domains register theirs at composition); a kind
    may also have a batch handler, used for all its rows in a sweep batch, with the one-row handler
    as the fallback when the batch fails."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    batches: dict[str, BatchHandler] = field(default_factory=dict)
    # Kinds claimed before all others when both are due (the climb of a warning before what follows it).
    urgent: set[str] = field(default_factory=set)

    def register(self, kind: str, handler: Handler, batch: BatchHandler | None = None, *, urgent: bool = False) -> None:
        if kind in self.handlers and self.handlers[kind] is not handler:
            raise ValueError(f"a handler for deadline kind {kind!r} is already registered")
        self.handlers[kind] = handler
        if batch is not None:
            self.batches[kind] = batch
        if urgent:
            self.urgent.add(kind)


class DeadlineFields(TypedDict):
    """What a new deadline says: what falls due, about which subject, when, with what data."""

    kind: str
    subject_type: str
    subject_id: str | int
    due_at: datetime
    payload: NotRequired[dict[str, Any] | None]
    # A reminder is pointless once what it reminds of has fallen due: a row still pending at
    # `stale_at` (the system was down) is dropped by the sweeper and recorded, never handled.
    stale_at: NotRequired[datetime | None]


STALE_AT = "stale_at"


def pending(clock: Clock, **fields: Unpack[DeadlineFields]) -> Deadline:
    """A pending deadline, not yet added to any session."""
    payload = dict(fields.get("payload") or {})
    if (stale_at := fields.get("stale_at")) is not None:
        payload[STALE_AT] = stale_at.isoformat()
    return Deadline(
        kind=fields["kind"],
        subject_type=fields["subject_type"],
        subject_id=str(fields["subject_id"]),
        due_at=fields["due_at"],
        status=PENDING,
        payload=payload,
        created_at=clock.now(),
        late=False,
        attempts=0,
    )


def schedule(db: Session, clock: Clock, **fields: Unpack[DeadlineFields]) -> Deadline:
    """Add a pending deadline in the caller's transaction."""
    deadline = pending(clock, **fields)
    db.add(deadline)
    return deadline


def ensure_pending(db: Session, clock: Clock, *, kind: str, subject_type: str, subject_id: str | int, due_at: datetime) -> None:
    """One pending deadline of `kind` for the subject: scheduled for `due_at` unless one is pending already
    (one sweep for every row that falls due at the same time)."""
    stmt = select(Deadline.id).where(
        Deadline.kind == kind,
        Deadline.subject_type == subject_type,
        Deadline.subject_id == str(subject_id),
        Deadline.status == PENDING,
    )
    if db.execute(stmt.limit(1)).first() is None:
        schedule(db, clock, kind=kind, subject_type=subject_type, subject_id=subject_id, due_at=due_at)


def cancel(
    db: Session, *, subject_type: str, subject_id: str | int | Sequence[str | int], kind: str | Sequence[str] | None = None
) -> int:
    """Cancel the pending deadlines of a subject, or of several (optionally of one kind, or of some); how many."""
    ids = (
        [str(i) for i in subject_id]
        if isinstance(subject_id, Sequence) and not isinstance(subject_id, str)
        else [str(subject_id)]
    )
    if not ids:
        return 0
    stmt = (
        update(Deadline)
        .where(Deadline.status == PENDING, Deadline.subject_type == subject_type, Deadline.subject_id.in_(ids))
        .values(status=CANCELLED)
    )
    if isinstance(kind, str):
        stmt = stmt.where(Deadline.kind == kind)
    elif kind is not None:
        stmt = stmt.where(Deadline.kind.in_(list(kind)))
    return int(db.execute(stmt.execution_options(synchronize_session="fetch")).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SweepPolicy:
    """How the sweeper works: batch size, when firing counts as late, retries of a failing handler.

    `late_after` is the lag the system promises to keep below (deadline lag p99 < 2 s): a row
    fired later than that is marked late, whatever its window."""

    batch: int = 200
    late_after: timedelta = timedelta(seconds=2)
    # Rounds (committed batches) one sweep may take; None: until nothing due is left, including rows
    # the handlers scheduled for a time already passed (a climb catching up after an outage).
    max_rounds: int | None = None
    # Real seconds a batch may spend on rows that are not urgent before it commits and claims again.
    slow_budget: float = 0.1
    # Real seconds one sweep may go on (None: until nothing is due). The worker loop bounds it, so
    # that a backlog holds up neither its heartbeat nor its other jobs; the next round goes on at once.
    max_seconds: float | None = None
    # While the climb has rows in this sweep, work that can wait stops at its budget and waits for the
    # next round (the worker loop; a single sweep fires everything due).
    slow_yields: bool = False

    @property
    def retry(self) -> Retry:
        return Retry(self.max_attempts, self.retry_after)

    max_attempts: int = 5
    retry_after: timedelta = timedelta(seconds=10)


@dataclass
class SweepResult:
    fired: int = 0
    late: int = 0
    failed: int = 0
    dropped: int = 0
    # The sweep stopped at its time limit with rows possibly still due (`again`: some of the climb's).
    unfinished: bool = False
    again: bool = False
    # Rows of the climb claimed (fired or dropped), and whether work that can wait was left at its budget.
    urgent: int = 0
    slow_left: bool = False

    @property
    def busy(self) -> bool:
        """The climb had rows in this sweep, or has rows due still: what runs beside it should yield."""
        return self.urgent > 0 or self.again


def is_stale(deadline: Deadline, now: datetime) -> bool:
    """Whether a row fires too late to mean anything (a reminder of something already due)."""
    stale_at = deadline.payload.get(STALE_AT)
    return isinstance(stale_at, str) and now >= datetime.fromisoformat(stale_at)


def sweep_batch(db: Session, clock: Clock, handlers: DeadlineHandlers, *, worker: str, policy: SweepPolicy) -> SweepResult:
    """Claim up to one batch of due rows (skipping rows other workers hold) and fire them."""
    now = clock.now()
    rows = []
    if handlers.urgent:
        rows = [row for row, _ in QUEUE.claim(db, now, limit=policy.batch, where=[Deadline.kind.in_(handlers.urgent)])]
    urgent = len(rows)  # the climb's rows, claimed first
    if urgent < policy.batch:
        rest = [Deadline.kind.not_in(handlers.urgent)] if handlers.urgent else []
        rows += [row for row, _ in QUEUE.claim(db, now, limit=policy.batch - len(rows), where=rest)]
    result = SweepResult(urgent=urgent)
    live = []
    for deadline in rows:
        if is_stale(deadline, now):
            deadline.status, deadline.fired_at, deadline.fired_by = DROPPED, now, worker
            deadline.late, deadline.last_error = True, f"dropped: stale since {deadline.payload[STALE_AT]}"
            result.dropped += 1
        else:
            live.append(deadline)
    grouped: dict[str, list[Deadline]] = {}
    for deadline in live:
        if deadline.kind in handlers.batches:
            grouped.setdefault(deadline.kind, []).append(deadline)
    together, alone = [], []
    for deadline in live:
        group = grouped.pop(deadline.kind, None)
        if group is None and deadline.kind in handlers.batches:
            continue  # fired with its group
        if group is None:
            together.append(deadline)
        elif not _fire_batch(db, clock, handlers.batches[deadline.kind], group, worker, policy, result):
            alone.extend(group)  # a row in the batch fails: each on its own
    # The rest, a handler per row, fire together under one savepoint; should any fail, nothing of the
    # group is kept and each fires on its own. Work that is not the climb's may be slow (opening an
    # incident): it fires within a time budget, so that the climb's rows falling due meanwhile wait no
    # more than that; what is left stays pending for the next round.
    if not _fire_group(db, clock, handlers, together, worker, policy, result):
        alone.extend(together)
    budget = _Budget(handlers, policy.slow_budget)
    for deadline in alone:
        if budget.allows(deadline, result):
            _fire_one(db, clock, handlers.handlers.get(deadline.kind), deadline, worker, policy, result)
    return result


@dataclass
class _Budget:
    """The time a batch may spend on rows that are not the climb's: it starts with the first such row,
    which always goes in, and every row of the climb goes in whatever the time."""

    handlers: DeadlineHandlers
    seconds: float
    until: float | None = None

    def allows(self, deadline: Deadline, result: SweepResult) -> bool:
        """Whether `deadline` fires in this batch; one left for the next round sets `slow_left`."""
        if deadline.kind in self.handlers.urgent:
            return True
        if self.until is None:
            self.until = monotonic() + self.seconds
            return True
        if monotonic() <= self.until:
            return True
        result.slow_left = True
        return False


def _mark_fired(deadline: Deadline, now: datetime, worker: str, policy: SweepPolicy) -> None:
    deadline.status, deadline.fired_at, deadline.fired_by = FIRED, now, worker
    deadline.late = now - deadline.due_at > policy.late_after


def _count_fired(deadline: Deadline, now: datetime, result: SweepResult) -> None:
    result.fired += 1
    result.late += int(deadline.late)
    metrics.observe_deadline_lag(deadline.kind, (now - deadline.due_at).total_seconds())


def _fire_batch(
    db: Session, clock: Clock, handler: BatchHandler, group: list[Deadline], worker: str, policy: SweepPolicy, result: SweepResult
) -> bool:
    """Fire a group of one kind with its batch handler; False (nothing kept) when it fails."""
    now = clock.now()

    def fire(fired: list[Deadline]) -> None:
        for deadline in group:
            fired.append(deadline)
            _mark_fired(deadline, now, worker, policy)
        handler(db, clock, group)

    return _under_one_savepoint(db, now, result, fire)


def _fire_group(
    db: Session,
    clock: Clock,
    handlers: DeadlineHandlers,
    rows: list[Deadline],
    worker: str,
    policy: SweepPolicy,
    result: SweepResult,
) -> bool:
    """Fire rows, each with its kind's handler, under one savepoint (one SAVEPOINT, and the rows'
    updates and the handlers' inserts flushed together, rather than a savepoint per row), within the
    budget for slow work; False, with nothing kept, when any row fails."""
    if not rows:
        return True
    budget = _Budget(handlers, policy.slow_budget)
    now = clock.now()

    def fire(fired: list[Deadline]) -> None:
        for deadline in rows:
            if not budget.allows(deadline, result):
                continue
            handler = handlers.handlers.get(deadline.kind)
            if handler is None:
                raise LookupError(f"no handler registered for deadline kind {deadline.kind!r}")
            fired.append(deadline)
            _mark_fired(deadline, now, worker, policy)
            handler(db, clock, deadline)

    return _under_one_savepoint(db, now, result, fire)


def _under_one_savepoint(db: Session, now: datetime, result: SweepResult, fire: Callable[[list[Deadline]], None]) -> bool:
    """Run `fire` (which notes each row it marks fired) under one savepoint and count what it fired;
    when it fails, nothing is kept, its rows are pending again and the caller fires them one by one."""
    fired: list[Deadline] = []
    try:
        with db.begin_nested():
            fire(fired)
    except Exception:
        log.warning("%d deadlines fired together failed; firing them one by one", len(fired), exc_info=True)
        for deadline in fired:
            deadline.status, deadline.fired_at, deadline.fired_by = PENDING, None, None
        return False
    for deadline in fired:
        _count_fired(deadline, now, result)
    return True


def _fire_one(
    db: Session, clock: Clock, handler: Handler | None, deadline: Deadline, worker: str, policy: SweepPolicy, result: SweepResult
) -> None:
    now = clock.now()
    try:
        with db.begin_nested():
            if handler is None:
                raise LookupError(f"no handler registered for deadline kind {deadline.kind!r}")
            _mark_fired(deadline, now, worker, policy)
            handler(db, clock, deadline)
    except Exception as exc:  # one failing handler must not stop the others
        log.exception("deadline %s (%s) failed", deadline.id, deadline.kind)
        deadline.attempts += 1
        QUEUE.retry_or_give_up(deadline, now, f"{type(exc).__name__}: {exc}", policy.retry)
        result.failed += 1
        return
    _count_fired(deadline, now, result)


def sweep(
    sessions: sessionmaker[Session],
    clock: Clock,
    handlers: DeadlineHandlers,
    *,
    worker: str,
    policy: SweepPolicy | None = None,
) -> SweepResult:
    """Fire everything due now, one committed batch at a time, until nothing due is left unclaimed
    (including rows the handlers scheduled for a time already passed)."""
    policy = policy or SweepPolicy()
    total = SweepResult()
    ends = None if policy.max_seconds is None else monotonic() + policy.max_seconds
    rounds = 0
    while policy.max_rounds is None or rounds < policy.max_rounds:
        rounds += 1
        with transaction(sessions) as db:
            batch = sweep_batch(db, clock, handlers, worker=worker, policy=policy)
        total.fired += batch.fired
        total.late += batch.late
        total.failed += batch.failed
        total.dropped += batch.dropped
        total.urgent += batch.urgent
        if batch.fired + batch.dropped == 0:
            return total
        if policy.slow_yields and total.urgent and batch.slow_left:
            # The climb is busy (a flood of red reports): work that can wait had its budget for this
            # round and waits for the next, so that it takes no more than a share of the processor
            # from filing and from the climb.
            break
        if ends is not None and monotonic() > ends:
            break
    # Left with work at the time limit: the next round should follow at once if the climb has rows
    # due; what is not urgent waits for the next round.
    total.unfinished = True
    total.again = not handlers.urgent or _urgent_due(sessions, clock, handlers)
    return total


def _urgent_due(sessions: sessionmaker[Session], clock: Clock, handlers: DeadlineHandlers) -> bool:
    with sessions() as db:
        stmt = select(Deadline.id).where(
            Deadline.status == PENDING, Deadline.due_at <= clock.now(), Deadline.kind.in_(handlers.urgent)
        )
        return db.execute(stmt.limit(1)).first() is not None


def serialise(db: Session, name: str) -> None:
    """Take a transaction-long lock named `name` (PostgreSQL; SQLite serialises writers anyway), so
    workers starting together do a thing one at a time and the second finds it done."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))


@dataclass(frozen=True)
class RecurringJob:
    """A job run again and again: always exactly one pending row of `kind`, due at the next run time,
    its subject the run it stands for. The kinds of recurrence below say when the next run is."""

    kind: str
    subject_type: str

    def next_run(self, after: datetime) -> tuple[datetime, str]:
        """The first run time strictly after `after`, and the subject naming that run."""
        raise NotImplementedError

    def pending(self, db: Session) -> Deadline | None:
        stmt = select(Deadline).where(Deadline.kind == self.kind, Deadline.status == PENDING)
        return db.execute(stmt.order_by(Deadline.due_at).limit(1)).scalar_one_or_none()

    def schedule_after(self, db: Session, clock: Clock, after: datetime) -> Deadline:
        due_at, subject = self.next_run(after)
        return schedule(db, clock, kind=self.kind, subject_type=self.subject_type, subject_id=subject, due_at=due_at)

    def ensure(self, db: Session, clock: Clock) -> Deadline:
        """The one pending run, scheduled for the next run time when there is none."""
        serialise(db, self.kind + ".job")
        return self.pending(db) or self.schedule_after(db, clock, clock.now())

    def rescheduled(self, db: Session, clock: Clock, fired: Deadline) -> None:
        """From the run's handler: schedule the next run unless one is pending."""
        if self.pending(db) is None:
            self.schedule_after(db, clock, max(clock.now(), fired.due_at))

    def keeper(self) -> Callable[[sessionmaker[Session], Clock], object]:
        """A worker job that keeps the one pending row; it looks again only once the known row falls due."""
        known: list[datetime] = []

        def keep(sessions: sessionmaker[Session], clock: Clock) -> object:
            if known and clock.now() < known[0]:
                return None
            with transaction(sessions) as db:
                due_at = self.ensure(db, clock).due_at
            known[:] = [due_at]
            return due_at

        return keep


@dataclass(frozen=True)
class DailyJob(RecurringJob):
    """Run once a day at a local time (the roster's gap check, opening prevention rounds); the subject
    is the local day it runs for."""

    tz: tzinfo
    at: time

    def next_run(self, after: datetime) -> tuple[datetime, str]:
        due_at = next_local(after, self.tz, self.at)
        return due_at, due_at.astimezone(self.tz).date().isoformat()


@dataclass(frozen=True)
class HourlyJob(RecurringJob):
    """Run at the top of every hour (anchoring the audit chain); the subject is the UTC hour."""

    def next_run(self, after: datetime) -> tuple[datetime, str]:
        due_at = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return due_at, due_at.strftime("%Y-%m-%dT%H:00Z")
