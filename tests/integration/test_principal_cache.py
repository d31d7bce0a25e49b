"""Callers remembered by token: served from memory for a few seconds, never past their session's end,
and forgotten at once when this process commits a change to sessions, users, roles or units."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import Clock, ManualClock
from riskcontrol.core.principals import PrincipalCache
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people import auth
from riskcontrol.people.models import RoleAssignment, User
from tests import factories as f


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(db: Session, client: TestClient) -> tuple[str, User]:
    campus = f.build_campus(db)
    user = f.user(db, "counselor", ("counselor", campus["C1K1"]))
    db.commit()
    return f.token(client, "counselor"), user


def cache(ttl: float = 5.0, timer: Timer | None = None) -> PrincipalCache:
    return PrincipalCache(auth.load_principal, ttl_seconds=ttl, watched_tables=auth.PRINCIPAL_TABLES, timer=timer or Timer())


def revoke_behind_its_back(sessions: sessionmaker[Session]) -> None:
    """Revoke every session with plain SQL, as another server process would (no in-process signal)."""
    with sessions() as db:
        db.connection().execute(text("UPDATE auth_session SET revoked_at = expires_at"))
        db.commit()


def test_a_caller_is_served_from_memory_until_the_time_to_live_runs_out(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, user = setup(db, client)
    timer = Timer()
    principals = cache(timer=timer)
    assert principals.cached(clock, token) is None  # nothing remembered before the first load
    loaded = principals.load(sessions, clock, token)
    assert loaded is not None
    assert loaded.user_id == user.id
    revoke_behind_its_back(sessions)
    timer.now += 4.9
    assert principals.cached(clock, token) == loaded  # another process's change is not seen yet...
    timer.now += 0.2
    assert principals.cached(clock, token) is None  # ...but within the time to live it is
    assert principals.load(sessions, clock, token) is None


def test_a_remembered_caller_is_never_served_past_the_end_of_the_session(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, _ = setup(db, client)
    principals = cache()
    loaded = principals.load(sessions, clock, token)
    assert loaded is not None
    assert loaded.session_expires_at is not None
    clock.set(loaded.session_expires_at - timedelta(seconds=1))
    assert principals.cached(clock, token) == loaded
    clock.set(loaded.session_expires_at)
    assert principals.cached(clock, token) is None


def test_a_committed_change_to_roles_users_or_sessions_in_this_process_is_seen_at_once(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, user = setup(db, client)
    principals = cache()
    assert principals.load(sessions, clock, token) is not None
    with sessions() as other:
        other.execute(select(User).where(User.id == user.id)).scalar_one().name = "改了名字"
        other.flush()
        assert principals.cached(clock, token) is not None  # flushed, not committed: still valid
        other.rollback()
    assert principals.cached(clock, token) is not None  # rolled back: nothing changed
    with sessions() as other:
        other.execute(update(RoleAssignment).where(RoleAssignment.user_id == user.id).values(role="dorm_head"))
        other.commit()
    assert principals.cached(clock, token) is None
    reloaded = principals.load(sessions, clock, token)
    assert reloaded is not None
    assert reloaded.roles == frozenset({"dorm_head"})


def test_a_write_forgets_only_the_users_it_touched_and_a_unit_change_forgets_everyone(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, user = setup(db, client)
    with sessions() as other:
        units = {u.code: u for u in other.execute(select(OrgUnit)).scalars()}
        f.user(other, "officer", ("college_officer", units["C2"]))
        other.commit()
    officer_token = f.token(client, "officer")
    principals = cache()
    assert principals.load(sessions, clock, token) is not None
    assert principals.load(sessions, clock, officer_token) is not None
    f.token(client, "officer")  # the officer signs in again elsewhere: her user row and sessions change
    assert principals.cached(clock, token) is not None  # the counsellor's caller stays
    assert principals.cached(clock, officer_token) is None
    with sessions() as other:
        other.add(RoleAssignment(user_id=user.id, role="counselor", unit_id=units["C1K2"].id))
        other.commit()
    assert principals.cached(clock, token) is None
    assert principals.load(sessions, clock, token) is not None
    assert principals.load(sessions, clock, officer_token) is not None
    with sessions() as other:
        other.execute(select(OrgUnit).where(OrgUnit.code == "C2")).scalar_one().name_zh = "改名学院"
        other.commit()
    assert principals.cached(clock, token) is None  # units move paths: everyone is read again
    assert principals.cached(clock, officer_token) is None


def test_a_load_that_raced_a_commit_is_not_remembered(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, user = setup(db, client)
    principals = cache()

    def load_then_commit_a_change(session: Session, at: Clock, tok: str) -> Principal | None:
        found = auth.load_principal(session, at, tok)
        session.commit()  # (SQLite lets one writer in at a time)
        with sessions() as other:  # another request commits a role change while this one reads
            other.execute(update(User).where(User.id == user.id).values(active=False))
            other.commit()
        return found

    principals.loader = load_then_commit_a_change
    assert principals.load(sessions, clock, token) is not None
    assert principals.cached(clock, token) is None


def test_no_time_to_live_means_every_request_reads_the_database(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    token, _ = setup(db, client)
    principals = cache(ttl=0)
    assert principals.load(sessions, clock, token) is not None
    assert principals.cached(clock, token) is None


def test_the_cache_holds_at_most_its_bound(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    first, _ = setup(db, client)
    second = f.token(client, "counselor")
    principals = PrincipalCache(auth.load_principal, ttl_seconds=5, watched_tables=auth.PRINCIPAL_TABLES, max_entries=1)
    principals.load(sessions, clock, first)
    principals.load(sessions, clock, second)
    assert principals.cached(clock, first) is None
    assert principals.cached(clock, second) is not None


def test_signing_out_ends_the_session_for_the_next_request_at_once(client: TestClient, db: Session) -> None:
    token, _ = setup(db, client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/grid/units", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code in (200, 204)
    assert client.get("/api/v1/grid/units", headers=headers).status_code == 401
