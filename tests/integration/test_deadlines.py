"""Durable deadlines fire once, late ones are marked late, failing handlers retry, several workers share."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import deadlines, outbox
from riskcontrol.core.clock import Clock, ManualClock
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers, SweepPolicy, sweep
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.core.worker import Worker
from tests.factories import statements


def counting_handlers(seen: list[int]) -> DeadlineHandlers:
    handlers = DeadlineHandlers()

    def fire(db: Session, clock: Clock, deadline: Deadline) -> None:
        seen.append(deadline.id)
        outbox.enqueue(db, clock, channel="test", payload={}, subject_type="deadline", subject_id=deadline.id)

    handlers.register("test.fire", fire)
    return handlers


def add(sessions: sessionmaker[Session], clock: ManualClock, n: int, *, due_in: timedelta = timedelta(0)) -> None:
    rows = [
        {
            "kind": "test.fire",
            "subject_type": "test",
            "subject_id": str(i),
            "due_at": clock.now() + due_in,
            "status": "pending",
            "payload": {},
            "created_at": clock.now(),
            "late": False,
            "attempts": 0,
        }
        for i in range(n)
    ]
    with sessions() as db:
        db.execute(insert(Deadline), rows)
        db.commit()


def due_now(sessions: sessionmaker[Session], clock: ManualClock, kind: str, subjects: Sequence[str]) -> None:
    """One row of `kind` due now for each subject."""
    with sessions() as db:
        for subject in subjects:
            deadlines.schedule(db, clock, kind=kind, subject_type="t", subject_id=subject, due_at=clock.now())
        db.commit()


def test_a_deadline_fires_when_due_and_only_once(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    seen: list[int] = []
    add(sessions, clock, 1, due_in=timedelta(minutes=5))
    assert sweep(sessions, clock, counting_handlers(seen), worker="w").fired == 0
    clock.advance(timedelta(minutes=5))
    assert sweep(sessions, clock, counting_handlers(seen), worker="w").fired == 1
    assert sweep(sessions, clock, counting_handlers(seen), worker="w").fired == 0
    with sessions() as db:
        row = db.execute(select(Deadline)).scalar_one()
        assert (row.status, row.fired_at, row.late, row.fired_by) == ("fired", clock.now(), False, "w")
    assert len(seen) == 1


def test_what_fell_due_while_the_system_was_down_fires_at_start_marked_late(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    add(sessions, clock, 3, due_in=timedelta(minutes=5))
    clock.advance(timedelta(hours=2))  # the server was off
    result = sweep(sessions, clock, counting_handlers([]), worker="restarted")
    assert (result.fired, result.late) == (3, 3)


def test_a_failing_handler_is_retried_then_given_up_without_stopping_others(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = counting_handlers([])

    def broken(db: Session, clock: Clock, deadline: Deadline) -> None:
        raise RuntimeError("phone gateway exploded")

    handlers.register("test.broken", broken)
    with sessions() as db:
        deadlines.schedule(db, clock, kind="test.broken", subject_type="t", subject_id=1, due_at=clock.now())
        deadlines.schedule(db, clock, kind="test.fire", subject_type="t", subject_id=2, due_at=clock.now())
        db.commit()
    policy = SweepPolicy(max_attempts=2, retry_after=timedelta(seconds=10))
    first = sweep(sessions, clock, handlers, worker="w", policy=policy)
    assert (first.fired, first.failed) == (1, 1)
    clock.advance(timedelta(seconds=10))
    sweep(sessions, clock, handlers, worker="w", policy=policy)
    with sessions() as db:
        broken_row = db.execute(select(Deadline).where(Deadline.kind == "test.broken")).scalar_one()
        assert (broken_row.status, broken_row.attempts) == ("failed", 2)
        assert broken_row.last_error == "RuntimeError: phone gateway exploded"
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


def test_cancelled_deadlines_never_fire(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    with sessions() as db:
        deadlines.schedule(db, clock, kind="test.fire", subject_type="escalation", subject_id=7, due_at=clock.now())
        assert deadlines.cancel(db, subject_type="escalation", subject_id=7) == 1
        db.commit()
    assert sweep(sessions, clock, counting_handlers([]), worker="w").fired == 0


def test_two_sweepers_in_threads_fire_each_deadline_exactly_once(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    add(sessions, clock, 1000)
    seen: list[int] = []
    handlers = counting_handlers(seen)
    start = threading.Barrier(2)

    def run(name: str) -> None:
        start.wait()
        sweep(sessions, clock, handlers, worker=name, policy=SweepPolicy(batch=50))

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(set(seen))
    with sessions() as db:
        assert db.execute(select(func.count()).select_from(Deadline).where(Deadline.status == "fired")).scalar_one() == 1000
        assert db.execute(select(func.count(func.distinct(OutboxMessage.subject_id)))).scalar_one() == 1000
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1000


def test_two_worker_processes_fire_ten_thousand_deadlines_exactly_once(
    sessions: sessionmaker[Session], clock: ManualClock, database_url: str
) -> None:
    # On PostgreSQL the workers skip each other's locked rows; on SQLite they take turns.
    add(sessions, clock, 10_000, due_in=-timedelta(seconds=1))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.workers.sweep_once", database_url, f"p{i}"], stdout=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    fired = sum(int(line.rsplit(" ", 1)[1]) for line in outputs)
    assert fired == 10_000
    with sessions() as db:
        assert db.execute(select(func.count()).select_from(Deadline).where(Deadline.status == "fired")).scalar_one() == 10_000
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 10_000
        assert db.execute(select(func.count(func.distinct(OutboxMessage.subject_id)))).scalar_one() == 10_000


def test_rows_falling_due_together_share_one_pending_sweep_and_a_fired_one_is_not_counted(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    due_at = clock.now() + timedelta(minutes=10)

    def ensure(db: Session, subject_id: str) -> None:
        deadlines.ensure_pending(db, clock, kind="test.fire", subject_type="test", subject_id=subject_id, due_at=due_at)

    with sessions() as db:
        for _ in range(3):
            ensure(db, due_at.isoformat())
        ensure(db, "another")
        db.commit()
    clock.advance(timedelta(minutes=10))
    assert sweep(sessions, clock, counting_handlers([]), worker="w").fired == 2
    with sessions() as db:
        ensure(db, due_at.isoformat())
        db.commit()
        pending = select(Deadline.subject_id).where(Deadline.status == deadlines.PENDING)
        assert db.execute(pending).scalars().all() == [due_at.isoformat()]


def test_a_reminder_still_pending_when_what_it_reminds_of_falls_due_is_dropped_not_handled(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    seen: list[int] = []
    with sessions() as db:
        due = clock.now() + timedelta(minutes=2)
        deadlines.schedule(
            db, clock, kind="test.fire", subject_type="test", subject_id=1, due_at=due, stale_at=due + timedelta(minutes=3)
        )
        deadlines.schedule(
            db, clock, kind="test.fire", subject_type="test", subject_id=2, due_at=due, stale_at=due + timedelta(minutes=3)
        )
        db.commit()
    clock.advance(timedelta(minutes=3))  # the first is late but still worth it
    result = sweep(sessions, clock, counting_handlers(seen), worker="w", policy=SweepPolicy(batch=1))
    assert (result.fired, result.dropped) == (2, 0)
    with sessions() as db:
        deadlines.schedule(
            db, clock, kind="test.fire", subject_type="test", subject_id=3, due_at=clock.now(), stale_at=clock.now()
        )
        db.commit()
    result = sweep(sessions, clock, counting_handlers(seen), worker="w")
    assert (result.fired, result.dropped) == (0, 1)
    with sessions() as db:
        row = db.execute(select(Deadline).where(Deadline.subject_id == "3")).scalar_one()
    assert row.status == deadlines.DROPPED
    assert row.last_error is not None
    assert row.last_error.startswith("dropped: stale since")
    assert len(seen) == 2


def test_a_handler_scheduling_a_row_already_due_has_it_fired_in_the_same_sweep(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = DeadlineHandlers()
    fired: list[str] = []

    def climb(db: Session, clock: Clock, deadline: Deadline) -> None:
        fired.append(deadline.subject_id)
        if int(deadline.subject_id) < 3:  # the next rung was due 5 minutes after this one
            nxt = int(deadline.subject_id) + 1
            deadlines.schedule(
                db, clock, kind="test.climb", subject_type="t", subject_id=nxt, due_at=deadline.due_at + timedelta(minutes=5)
            )

    handlers.register("test.climb", climb)
    with sessions() as db:
        deadlines.schedule(db, clock, kind="test.climb", subject_type="t", subject_id=1, due_at=clock.now())
        db.commit()
    clock.advance(timedelta(minutes=12))  # down for 12 minutes: rungs 1 (0'), 2 (5') and 3 (10') are all due
    assert sweep(sessions, clock, handlers, worker="w").fired == 3
    assert fired == ["1", "2", "3"]


def test_rows_with_a_handler_each_fire_under_one_savepoint_and_one_by_one_when_one_fails(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = counting_handlers([])

    def picky(db: Session, clock: Clock, deadline: Deadline) -> None:
        outbox.enqueue(db, clock, channel="test", payload={}, subject_type="deadline", subject_id=deadline.id)
        if deadline.subject_id == "bad":
            raise ValueError("this one cannot be fired")

    handlers.register("test.picky", picky)
    add(sessions, clock, 50)
    with sessions() as db, statements(db) as sql:
        assert sweep(sessions, clock, handlers, worker="w").fired == 50
    assert sum(1 for statement in sql if statement.startswith("SAVEPOINT")) == 1  # not one per row
    due_now(sessions, clock, "test.picky", ("a", "bad", "b"))
    result = sweep(sessions, clock, handlers, worker="w")
    assert (result.fired, result.failed) == (2, 1)
    with sessions() as db:
        states = {
            row.subject_id: row.status
            for row in db.execute(select(Deadline.subject_id, Deadline.status).where(Deadline.kind == "test.picky"))
        }
        told = db.execute(
            select(Deadline.subject_id, func.count(OutboxMessage.id))
            .join(OutboxMessage, OutboxMessage.subject_id == func.cast(Deadline.id, OutboxMessage.subject_id.type))
            .where(Deadline.kind == "test.picky")
            .group_by(Deadline.subject_id)
        )
        # The group was rolled back whole: what its rows did is kept once, the failing row's not at all.
        assert (states, {row[0]: row[1] for row in told}) == (
            {"a": "fired", "bad": "pending", "b": "fired"},
            {"a": 1, "b": 1},
        )


def test_a_kind_with_a_batch_handler_fires_its_rows_together_and_one_by_one_when_the_batch_fails(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    batches: list[list[str]] = []
    singles: list[str] = []

    def one(db: Session, clock: Clock, deadline: Deadline) -> None:
        if deadline.subject_id == "bad":
            raise ValueError("this one cannot be fired")
        singles.append(deadline.subject_id)

    def many(db: Session, clock: Clock, rows: Sequence[Deadline]) -> None:
        batches.append([r.subject_id for r in rows])
        if any(r.subject_id == "bad" for r in rows):
            raise ValueError("one bad row spoils the batch")

    handlers = DeadlineHandlers()
    handlers.register("test.batch", one, batch=many)
    due_now(sessions, clock, "test.batch", ("a", "b", "c"))
    assert sweep(sessions, clock, handlers, worker="w").fired == 3
    assert (batches, singles) == ([["a", "b", "c"]], [])
    due_now(sessions, clock, "test.batch", ("d", "bad", "e"))
    result = sweep(sessions, clock, handlers, worker="w")
    assert (result.fired, result.failed) == (2, 1)
    assert singles == ["d", "e"]  # the batch was rolled back whole, then each row fired on its own
    with sessions() as db:
        states = {row.subject_id: row.status for row in db.execute(select(Deadline.subject_id, Deadline.status))}
    assert states == {"a": "fired", "b": "fired", "c": "fired", "d": "fired", "bad": "pending", "e": "fired"}


def test_urgent_kinds_are_claimed_first_and_a_sweep_bounded_in_time_says_it_left_work(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    order: list[str] = []
    handlers = DeadlineHandlers()
    handlers.register("test.later", lambda db, clock, d: order.append(d.kind))
    handlers.register("test.climb", lambda db, clock, d: order.append(d.kind), urgent=True)
    with sessions() as db:
        for minute in range(3):  # what follows a warning, due first ...
            deadlines.schedule(db, clock, kind="test.later", subject_type="t", subject_id=minute, due_at=clock.now())
        for minute in range(3):  # ... and the climb, due a moment later
            due = clock.now() + timedelta(seconds=1)
            deadlines.schedule(db, clock, kind="test.climb", subject_type="t", subject_id=minute, due_at=due)
        db.commit()
    clock.advance(timedelta(seconds=1))
    result = sweep(sessions, clock, handlers, worker="w", policy=SweepPolicy(batch=2, max_seconds=0))
    assert order == ["test.climb", "test.climb"]  # one batch, then out of time
    assert (result.unfinished, result.again) == (True, True)  # a climb's row is left: go on at once
    result = sweep(sessions, clock, handlers, worker="w", policy=SweepPolicy(batch=2, max_seconds=0))
    assert order == ["test.climb", "test.climb", "test.climb", "test.later"]
    assert (result.unfinished, result.again) == (True, False)  # only what can wait is left
    result = sweep(sessions, clock, handlers, worker="w", policy=SweepPolicy(batch=2))
    assert order == ["test.climb", "test.climb", "test.climb", "test.later", "test.later", "test.later"]
    assert (result.unfinished, result.again) == (False, False)


def test_rows_that_are_not_urgent_get_a_time_budget_per_batch_and_the_rest_wait_for_the_next(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    fired: list[str] = []
    handlers = DeadlineHandlers()
    handlers.register("test.slow", lambda db, clock, d: fired.append(d.subject_id))
    with sessions() as db:
        for n in range(3):
            deadlines.schedule(db, clock, kind="test.slow", subject_type="t", subject_id=n, due_at=clock.now())
        db.commit()
    # No budget at all: each batch fires one row, commits, and claims again (urgent rows first).
    result = sweep(sessions, clock, handlers, worker="w", policy=SweepPolicy(slow_budget=0))
    assert (result.fired, fired) == (3, ["0", "1", "2"])


def climb_beside_later_work(sessions: sessionmaker[Session], clock: ManualClock, order: list[str]) -> DeadlineHandlers:
    """Three rows that can wait and one of the climb, all due; firing appends each row's kind to `order`."""
    handlers = DeadlineHandlers()
    handlers.register("test.later", lambda db, clock, d: order.append(d.kind))
    handlers.register("test.climb", lambda db, clock, d: order.append(d.kind), urgent=True)
    with sessions() as db:
        for n in range(3):
            deadlines.schedule(db, clock, kind="test.later", subject_type="t", subject_id=n, due_at=clock.now())
        deadlines.schedule(db, clock, kind="test.climb", subject_type="t", subject_id=0, due_at=clock.now())
        db.commit()
    return handlers


def test_while_the_climb_has_rows_work_that_can_wait_gets_its_budget_once_per_sweep(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    order: list[str] = []
    handlers = climb_beside_later_work(sessions, clock, order)
    # Red reports coming in: the climb's row, then one row that can wait (no budget), and the sweep ends.
    yielding = SweepPolicy(slow_budget=0, max_seconds=60, slow_yields=True)
    result = sweep(sessions, clock, handlers, worker="w", policy=yielding)
    assert order == ["test.climb", "test.later"]
    assert (result.urgent, result.busy, result.unfinished, result.again) == (1, True, True, False)
    # No climb in this sweep: what can wait goes on until nothing is due.
    result = sweep(sessions, clock, handlers, worker="w", policy=yielding)
    assert order == ["test.climb", "test.later", "test.later", "test.later"]
    assert (result.urgent, result.busy, result.unfinished) == (0, False, False)


def test_a_sweep_that_does_not_yield_fires_what_can_wait_to_the_end_beside_the_climb(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    order: list[str] = []
    handlers = climb_beside_later_work(sessions, clock, order)
    result = sweep(sessions, clock, handlers, worker="w", policy=SweepPolicy(slow_budget=0))
    assert order == ["test.climb", "test.later", "test.later", "test.later"]
    assert (result.fired, result.unfinished) == (4, False)


def test_a_round_that_fired_the_climbs_rows_holds_back_the_loops_beside_until_a_quiet_round(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = DeadlineHandlers()
    handlers.register("test.climb", lambda db, clock, d: None, urgent=True)

    def sweeping(sessions: sessionmaker[Session], clock: Clock) -> object:
        return sweep(sessions, clock, handlers, worker="w")

    worker = Worker(sessions=sessions, clock=clock, jobs=[("deadlines", sweeping)])
    with sessions() as db:
        deadlines.schedule(db, clock, kind="test.climb", subject_type="t", subject_id=0, due_at=clock.now())
        db.commit()
    assert worker.run_once() is False  # nothing left: the next round comes after the pause ...
    assert worker.behind.is_set()  # ... but the sends beside it yield while red reports come in
    worker.run_once()
    assert not worker.behind.is_set()  # a quiet round: they go at full pace again
