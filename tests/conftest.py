"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when configured), a manual clock, the app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import create_app
from riskcontrol.core import migrations
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.models import metadata
from riskcontrol.settings import Settings

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


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on an empty, migrated database."""
    wipe(engine)
    return make_sessionmaker(engine)


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
