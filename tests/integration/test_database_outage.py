"""The database in trouble is a 503 with Retry-After naming it, for the API and for pages, and nothing
is half-stored: the same request sent again once the database is back is stored exactly once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.serve import free_port
from riskcontrol.app import create_app
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.outages import UNAVAILABLE_RETRY_AFTER
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import Student
from riskcontrol.settings import Settings
from tests.integration.conftest import Night

STORED = (Observation, Escalation, Deadline, OutboxMessage, AuditLog)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as db:
        return {model.__name__: db.execute(select(func.count()).select_from(model)).scalar_one() for model in STORED}


def filing(night: Night) -> dict[str, Any]:
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        student = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        return {
            "client_id": "phone-outage-0001",
            "unit_id": room.id,
            "student_id": student.id,
            "checklist": ["suicide_plan"],
            "note": "她说今晚想结束一切",
            "observed_at": night.clock.now().isoformat(),
        }


@contextmanager
def connection_lost_after_first_write(engine: Engine) -> Iterator[list[str]]:
    """The database connection is lost right after the transaction's first write went through: on
    PostgreSQL its server process is really terminated (as in a restart); SQLite cannot lose a
    connection, so it answers what it says when another process holds it too long."""
    writes: list[str] = []

    def cut(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "WITH")):
            return
        writes.append(statement)
        if len(writes) != 1:
            return
        if engine.dialect.name == "sqlite":
            raise sqlite3.OperationalError("database is locked")
        pid = conn.connection.dbapi_connection.info.backend_pid
        admin = create_engine(engine.url, poolclass=None)
        try:
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            admin.dispose()

    event.listen(engine, "after_cursor_execute", cut)
    try:
        yield writes
    finally:
        event.remove(engine, "after_cursor_execute", cut)


def test_a_filing_whose_database_connection_is_lost_is_a_503_and_nothing_is_half_stored(night: Night) -> None:
    headers = night.token("dorm_e1_101")
    body = filing(night)
    before = counts(night.sessions)
    engine = night.app.state.ctx.engine
    with connection_lost_after_first_write(engine) as writes:
        reply = night.client.post("/api/v1/observations", headers=headers, json=body)
    assert writes, "the filing wrote nothing"
    assert reply.status_code == 503, reply.text
    assert int(reply.headers["retry-after"]) > 0
    assert reply.json()["dependency"] == "database"
    assert reply.json()["error"] == ("busy" if engine.dialect.name == "sqlite" else "unavailable")
    assert counts(night.sessions) == before

    # The phone sends it again once the database is back: stored once, whole.
    again = night.client.post("/api/v1/observations", headers=headers, json=body)
    assert again.status_code == 201, again.text
    after = counts(night.sessions)
    assert after["Observation"] == before["Observation"] + 1
    assert after["Escalation"] == before["Escalation"] + 1


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[TestClient]:
    """The application pointed at a PostgreSQL that is not there (nothing listens on the port)."""
    settings = Settings(
        environment="test",
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/riskcontrol",
        var_dir=tmp_path / "var",
        secret_key="unreachable-" + "k" * 40,
        run_worker_in_process=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_an_unreachable_database_is_a_503_with_retry_after_for_the_api_and_for_pages(unreachable: TestClient) -> None:
    credentials = {"username": "affairs", "password": "demo1234"}
    signing_in = unreachable.post("/api/v1/auth/token", json=credentials, headers={"Accept-Language": "en"})
    assert signing_in.status_code == 503
    assert signing_in.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)
    assert signing_in.json() == {
        "error": "unavailable",
        "message": f"The database cannot be reached right now. Please try again in {UNAVAILABLE_RETRY_AFTER} seconds; "
        "nothing was saved.",
        "field": None,
        "dependency": "database",
    }
    in_chinese = unreachable.post("/api/v1/auth/token", json=credentials).json()["message"]
    assert in_chinese == f"暂时无法连接数据库，请 {UNAVAILABLE_RETRY_AFTER} 秒后重试；本次操作未保存任何内容。"
    reading = unreachable.get("/api/v1/board", headers={"Authorization": "Bearer some-token"})
    assert (reading.status_code, reading.json()["dependency"]) == (503, "database")

    unreachable.cookies.set("rc_session", "some-token")
    page = unreachable.get("/board?lang=en", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)
    assert "The database cannot be reached right now" in page.text
    assert unreachable.get("/readyz").status_code == 503


def test_pooled_connections_lost_in_a_database_restart_cost_no_request(night: Night) -> None:
    engine = night.app.state.ctx.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to restart")
    headers = night.token("response1")
    assert night.client.get("/api/v1/board", headers=headers).status_code == 200
    # What a restart does to the connections waiting in the pool: their server processes end.
    admin = create_engine(engine.url)
    try:
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": engine.url.database},
            ).scalar_one()
    finally:
        admin.dispose()
    assert ended >= 1
    assert night.client.get("/api/v1/board", headers=headers).status_code == 200
