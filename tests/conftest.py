"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when configured), a manual clock, the app."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import create_app
from riskcontrol.core import audit, migrations
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.security import use_password_hashing
from riskcontrol.models import metadata
from riskcontrol.settings import Settings

# The suite signs in thousands of times: argon2's cheapest profile, in this process and in every
# server or worker process a test starts (production refuses it; tests/unit/test_settings.py).
os.environ["RISKCONTROL_ARGON2_PROFILE"] = "cheapest"
use_password_hashing("cheapest")
# One audit key for the test's own sessions, every app, command and process it starts (core.audit).
TEST_AUDIT_KEY = "test-audit-key-" + "a" * 40
os.environ["RISKCONTROL_AUDIT_KEY"] = TEST_AUDIT_KEY

# 22:00 in Shanghai on the day the foundation was laid.
START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
TEST_DB_ENV = "RISKCONTROL_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database under test: $RISKCONTROL_TEST_DATABASE_URL, else a fresh SQLite file."""
    url = os.environ.get(TEST_DB_ENV)
    if url:
        ensure_database(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist yet."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def reset_schema(engine: Engine) -> None:
    """Drop every table (ours and Alembic's) so the migrations start from nothing."""
    existing = MetaData()
    existing.reflect(bind=engine)
    existing.drop_all(bind=engine)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    reset_schema(eng)
    migrations.upgrade(database_url)
    yield eng
    eng.dispose()


def wipe(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        return
    with engine.begin() as conn:
        # Self-references (unit → parent) make row order matter; check them at commit instead.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))


# Snapshots taken during this test run, by database URL and name (a PostgreSQL template left by an
# earlier run may hold an older schema, so only this run's count).
_SNAPSHOTS: set[tuple[str, str]] = set()


def from_snapshot(sessions: sessionmaker[Session], name: str, build: Callable[[Session], object]) -> None:
    """Fill the (wiped) test database with the state `build` makes, building it only once per test run.

    The first call runs `build` and keeps a copy of the whole database; later calls restore that copy:
    SQLite's backup API into the live file, PostgreSQL's `CREATE DATABASE … TEMPLATE`."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    url = engine.url.render_as_string(hide_password=False)
    if (url, name) in _SNAPSHOTS:
        _copy_database(engine, name, restore=True)
        return
    with sessions() as db:
        build(db)
        db.commit()
    _copy_database(engine, name, restore=False)
    _SNAPSHOTS.add((url, name))


def _copy_database(engine: Engine, name: str, *, restore: bool) -> None:
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        kept = sqlite3.connect(f"{engine.url.database}.{name}")
        live = engine.raw_connection()
        try:
            driver = live.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            source, target = (kept, driver) if restore else (driver, kept)
            source.backup(target)
        finally:
            live.close()
            kept.close()
        return
    live_name, kept_name = engine.url.database, f"{engine.url.database}_{name}"
    origin, copy = (kept_name, live_name) if restore else (live_name, kept_name)
    # A template must have no other sessions; the test's own pooled ones reconnect afterwards.
    engine.dispose()
    admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                {"n": origin},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{origin}"'))
    finally:
        admin.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on an empty, migrated database."""
    wipe(engine)
    return audit.keyed(make_sessionmaker(engine), TEST_AUDIT_KEY.encode())


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """The test's own session. End its transaction (commit or rollback) before calling the app:
    on SQLite every transaction holds the write lock, and a read after the call must start afresh
    to see what the app committed."""
    with sessions() as session:
        yield session


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-" + "x" * 40,
        run_worker_in_process=False,
    )


@pytest.fixture
def client(settings: Settings, clock: ManualClock, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app) as test_client:
        yield test_client
