"""Callers remembered by token for a few seconds, so most requests do not query session and roles.

Every hit is still checked against the clock (a session that has expired is never served). A write
in this process to a table a caller is built from (sessions, users, roles, units: the composition
root names them) empties the cache when it commits; a change committed by another server process
takes effect there within `ttl_seconds`. A `ttl_seconds` of 0 turns the cache off.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from riskcontrol.core.clock import Clock
from riskcontrol.core.security import Principal, hash_token

Loader = Callable[[Session, Clock, str], Principal | None]
_TOUCHED = "riskcontrol.principals.touched"


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    stored_at: float


class PrincipalCache:
    """A bounded map from token hash to caller, valid for `ttl_seconds` of real time."""

    def __init__(
        self,
        loader: Loader,
        *,
        ttl_seconds: float,
        watched_tables: Iterable[str],
        max_entries: int = 20_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loader = loader
        self.timer = timer
        self.ttl_seconds = ttl_seconds
        self.watched_tables = frozenset(watched_tables)
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._generation = 0
        _CACHES.add(self)

    def cached(self, clock: Clock, token: str) -> Principal | None:
        """The remembered caller behind `token`, or None when it must be loaded from the database."""
        if self.ttl_seconds <= 0:
            return None
        entry = self._entries.get(hash_token(token))
        if entry is None or self.timer() - entry.stored_at > self.ttl_seconds:
            return None
        expires_at = entry.principal.session_expires_at
        if expires_at is not None and expires_at <= clock.now():
            return None
        return entry.principal

    def load(self, sessions: sessionmaker[Session], clock: Clock, token: str) -> Principal | None:
        """The caller behind `token` read from the database (and remembered when valid)."""
        generation = self._generation
        with sessions() as db:
            principal = self.loader(db, clock, token)
            db.commit()
        if principal is not None and self.ttl_seconds > 0:
            with self._lock:
                # A write committed while we read may have made this stale: remember nothing then.
                if generation == self._generation:
                    if len(self._entries) >= self.max_entries:
                        self._entries.pop(next(iter(self._entries)))
                    self._entries[hash_token(token)] = _Entry(principal, self.timer())
        return principal

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def _tables_of(objects: Iterable[Any]) -> set[str]:
    return {name for obj in objects if (name := getattr(obj, "__tablename__", None)) is not None}


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _flush_context: Any) -> None:
    tables = _tables_of(session.new) | _tables_of(session.dirty) | _tables_of(session.deleted)
    if tables:
        session.info.setdefault(_TOUCHED, set()).update(tables)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_write(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name is not None:
            state.session.info.setdefault(_TOUCHED, set()).add(name)


def _forget_touched(session: Session) -> set[str]:
    touched: set[str] = session.info.pop(_TOUCHED, set())
    return touched


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session: Session) -> None:
    touched = _forget_touched(session)
    if touched:
        for cache in list(_CACHES):
            if not touched.isdisjoint(cache.watched_tables):
                cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    _forget_touched(session)
