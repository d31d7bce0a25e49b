"""Claiming rows that fall due, leasing them, and trying them again: the one mechanism under the
deadline sweeper and the outbox dispatcher.

A queue is a table whose rows wait in one status until a time column passes. Claiming locks due
rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises writers), so any number of
processes may claim at once and none takes a row another holds. Work done inside the claiming
transaction (a deadline's handler) needs nothing more; work done after it (a send to a provider)
leases its rows: they move to a held status until the lease runs out, the holder renews the lease
while it works, and a row whose holder died is claimed again once its lease has passed, marked as
abandoned. A failed row waits out a backoff and is tried again, until its attempts are spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


class Claimable(Protocol):
    """What a queue's rows have: an id, a status, and how often they were tried and why they failed."""

    id: Any
    status: Any
    attempts: Any
    last_error: Any


R = TypeVar("R", bound=Claimable)


@dataclass(frozen=True)
class Retry:
    """How a failed row is tried again: up to `max_attempts` tries, `backoff` apart (doubling each
    time when `exponential`)."""

    max_attempts: int
    backoff: timedelta
    exponential: bool = False

    def wait_after(self, attempts: int) -> timedelta:
        return self.backoff * (2 ** max(0, attempts - 1)) if self.exponential else self.backoff


@dataclass(frozen=True)
class Lease:
    """The columns of a leased claim: the held status, until when, and by whom."""

    held: str
    until: InstrumentedAttribute[Any]
    by: InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Queue(Generic[R]):
    """Rows of `model` waiting in status `waiting` until `due`; `lease` when claims outlive their transaction."""

    model: type[R]
    due: InstrumentedAttribute[Any]
    waiting: str
    failed: str
    lease: Lease | None = None

    def claim(
        self,
        db: Session,
        now: datetime,
        *,
        limit: int,
        where: Sequence[ColumnElement[bool]] = (),
        lease_for: timedelta | None = None,
        by: str | None = None,
    ) -> list[tuple[R, bool]]:
        """Lock up to `limit` due rows, oldest due first, skipping rows others hold; with `lease_for`,
        lease them to `by` and count the try. Each comes with whether its last holder abandoned it."""
        status = self.model.status
        due = (status == self.waiting) & (self.due <= now)
        if self.lease is not None:
            due = or_(due, (status == self.lease.held) & (self.lease.until < now))
        ident = self.model.id
        stmt = select(self.model).where(due, *where).order_by(self.due, ident).limit(limit).with_for_update(skip_locked=True)
        rows = list(db.execute(stmt).scalars())
        claimed = []
        for row in rows:
            abandoned = self.lease is not None and row.status == self.lease.held
            if lease_for is not None and self.lease is not None:
                row.status = self.lease.held
                setattr(row, self.lease.until.key, now + lease_for)
                setattr(row, self.lease.by.key, by)
                row.attempts += 1
            claimed.append((row, abandoned))
        return claimed

    def renew(self, db: Session, now: datetime, ids: Sequence[int], *, lease_for: timedelta, by: str) -> None:
        """Extend `by`'s leases on rows it still works on; a row someone else claimed meanwhile stays theirs."""
        if not ids or self.lease is None:
            return
        ident, status = self.model.id, self.model.status
        stmt = (
            update(self.model)
            .where(ident.in_(list(ids)), status == self.lease.held, self.lease.by == by)
            .values({self.lease.until.key: now + lease_for})
        )
        db.execute(stmt.execution_options(synchronize_session=False))

    def release(self, row: R) -> None:
        """Forget the lease of a row whose work is over (done, retried later, or given up)."""
        if self.lease is not None:
            setattr(row, self.lease.until.key, None)
            setattr(row, self.lease.by.key, None)

    def give_up(self, row: R, error: str | None) -> None:
        """Record a failure that no further try can mend."""
        self.release(row)
        row.status, row.last_error = self.failed, None if error is None else error[:2000]

    def retry_or_give_up(self, row: R, now: datetime, error: str | None, retry: Retry) -> bool:
        """Record a failed try: the row waits out the backoff and falls due again, or, its tries
        spent, is given up. True when given up."""
        if row.attempts >= retry.max_attempts:
            self.give_up(row, error)
            return True
        self.release(row)
        row.status, row.last_error = self.waiting, None if error is None else error[:2000]
        setattr(row, self.due.key, now + retry.wait_after(row.attempts))
        return False
