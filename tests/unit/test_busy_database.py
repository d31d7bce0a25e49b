"""A database that is busy (locked past its timeout, a deadlock, a serialisation failure) answers 503 with
Retry-After, so a client tries again; any other database fault stays a server error."""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from riskcontrol.core.http import BUSY_RETRY_AFTER, install_error_handlers


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def app_raising(original: BaseException) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    def write() -> None:
        raise OperationalError("UPDATE something", {}, original)

    return TestClient(app, raise_server_exceptions=False)


def test_a_locked_sqlite_database_asks_the_client_to_retry() -> None:
    reply = app_raising(sqlite3.OperationalError("database is locked")).post("/write")
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == str(BUSY_RETRY_AFTER)
    assert reply.json()["error"] == "busy"


def test_postgresql_lock_timeouts_deadlocks_and_serialisation_failures_are_busy_too() -> None:
    for sqlstate in ("55P03", "40P01", "40001"):
        assert app_raising(_PgError(sqlstate)).post("/write").status_code == 503, sqlstate


def test_other_database_faults_stay_server_errors() -> None:
    assert app_raising(sqlite3.OperationalError("no such table: hazard")).post("/write").status_code == 500
    assert app_raising(_PgError("08006")).post("/write").status_code == 500
