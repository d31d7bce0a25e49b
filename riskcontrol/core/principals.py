"""Callers remembered by token for a few seconds, so most requests do not query session and roles.

Every hit is still checked against the clock (a session that has expired is never served). A write
committed in this process to a table a caller is built from (the composition root names them)
forgets, at commit, the callers of the users it touched, or everyone when a change reaches all
of them (units: a move changes everyone's scope paths below). A change committed by another
server process takes effect there within `ttl_seconds`. A `ttl_seconds` of 0 turns the cache off.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from riskcontrol.core.clock import Clock
from riskcontrol.core.security import Principal, hash_token

Loader = Callable[[Session, Clock, str], Principal | None]
# Per watched table, the attribute naming the user a row belongs to; None: a change concerns everyone.
Watched = Mapping[str, str | None]
# What a session changed before commit: (table, user attribute) → user ids, or None for "all".
_TOUCHED = "riskcontrol.principals.touched"
Touched = dict[tuple[str, str | None], set[int] | None]


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
        watched_tables: Watched,
        max_entries: int = 20_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loader = loader
        self.timer = timer
        self.ttl_seconds = ttl_seconds
        self.watched_tables = dict(watched_tables)
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

    def get(self, sessions: sessionmaker[Session], clock: Clock, token: str) -> Principal | None:
        """The caller behind `token`: remembered, else read (blocking: call it off the event loop)."""
        return self.cached(clock, token) or self.load(sessions, clock, token)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def forget_users(self, user_ids: Iterable[int]) -> None:
        """Forget every remembered caller of these users."""
        gone = set(user_ids)
        with self._lock:
            self._generation += 1
            self._entries = {key: e for key, e in self._entries.items() if e.principal.user_id not in gone}

    def forget_touched(self, touched: Touched) -> None:
        """Forget what a committed session's writes made stale."""
        for (table, attribute), user_ids in touched.items():
            if table not in self.watched_tables or self.watched_tables[table] != attribute:
                continue
            if user_ids is None:
                self.clear()
                return
            self.forget_users(user_ids)


_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def _watched_by_caches(table: str) -> set[str | None]:
    return {cache.watched_tables[table] for cache in list(_CACHES) if table in cache.watched_tables}


def _user_ids(obj: Any, attribute: str) -> set[int]:
    """The users a changed row belonged to, before and after the change (no database access)."""
    history = inspect(obj).attrs[attribute].history
    return {v for v in chain(history.added, history.unchanged, history.deleted) if isinstance(v, int)}


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _flush_context: Any) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table is None:
            continue
        for attribute in _watched_by_caches(table):
            touched: Touched = session.info.setdefault(_TOUCHED, {})
            user_ids = touched.get((table, attribute), set())
            if attribute is None or user_ids is None:
                touched[(table, attribute)] = None
            else:
                touched[(table, attribute)] = user_ids | _user_ids(obj, attribute)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_write(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name is None:
        return
    for attribute in _watched_by_caches(name):
        # Which rows a bulk statement reaches is not known here: everyone's callers go.
        state.session.info.setdefault(_TOUCHED, {})[(name, attribute)] = None


@event.listens_for(Session, "after_commit")
def _apply_after_commit(session: Session) -> None:
    touched: Touched | None = session.info.pop(_TOUCHED, None)
    if touched:
        for cache in list(_CACHES):
            cache.forget_touched(touched)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
