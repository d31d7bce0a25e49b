"""A database in trouble answers 503 with Retry-After, so a client tries again: busy (locked past its
timeout, a deadlock, a serialisation failure) or unreachable (refused, dropped, restarting, the pool
exhausted). Any other database fault stays a server error."""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request

from riskcontrol.core.http import install_error_handlers
from riskcontrol.core.outages import BUSY_RETRY_AFTER, UNAVAILABLE_RETRY_AFTER, Trouble


class _PgError(Exception):
    """What psycopg raises: a SQLSTATE from the server, or None when the client library failed."""

    def __init__(self, sqlstate: str | None, text: str = "") -> None:
        super().__init__(text or f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _page(_request: Request, trouble: Trouble, retry_after: int) -> Response:
    return HTMLResponse(f"<p>{trouble}, {retry_after}</p>", status_code=503)


def app_raising(error: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app, outage_page=_page)

    @app.post("/api/v1/write")
    def write() -> None:
        raise error

    @app.get("/board")
    def page() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def operational(original: BaseException, *, connection_invalidated: bool = False) -> OperationalError:
    return OperationalError("UPDATE something", {}, original, connection_invalidated=connection_invalidated)


def test_a_locked_sqlite_database_asks_the_client_to_retry() -> None:
    client = app_raising(operational(sqlite3.OperationalError("database is locked")))
    reply = client.post("/api/v1/write", headers={"Accept-Language": "en"})
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == str(BUSY_RETRY_AFTER)
    assert reply.json() == {
        "error": "busy",
        "message": f"The database is busy. Please try again in {BUSY_RETRY_AFTER} seconds; nothing was saved.",
        "field": None,
        "dependency": "database",
    }
    # Unasked, the reply is in the school's language.
    unasked = client.post("/api/v1/write").json()["message"]
    assert unasked == f"数据库繁忙，请 {BUSY_RETRY_AFTER} 秒后重试；本次操作未保存任何内容。"


def test_postgresql_lock_timeouts_deadlocks_and_serialisation_failures_are_busy_too() -> None:
    for sqlstate in ("55P03", "40P01", "40001"):
        reply = app_raising(operational(_PgError(sqlstate))).post("/api/v1/write")
        assert (reply.status_code, reply.json()["error"]) == (503, "busy"), sqlstate


def test_an_unreachable_database_asks_the_client_to_retry_later() -> None:
    gone = [
        operational(
            _PgError(None, 'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused')
        ),
        operational(_PgError(None, "server closed the connection unexpectedly")),
        operational(_PgError("57P01", "terminating connection due to administrator command")),
        operational(_PgError("57P03", "the database system is starting up")),
        operational(_PgError("08006")),
        operational(_PgError("53300", "sorry, too many clients already")),
        operational(sqlite3.OperationalError("anything"), connection_invalidated=True),
        InterfaceError("SELECT 1", {}, _PgError(None, "the connection is closed")),
        PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00"),
        DisconnectionError("connection lost"),
    ]
    for error in gone:
        reply = app_raising(error).post("/api/v1/write")
        assert reply.status_code == 503, error
        assert reply.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)
        assert reply.json()["error"] == "unavailable"
        assert reply.json()["dependency"] == "database"


def test_a_page_gets_a_503_page_and_an_api_call_json() -> None:
    client = app_raising(operational(_PgError(None, "Connection refused")))
    page = client.get("/board", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 503
    assert page.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)
    assert page.text == f"<p>unavailable, {UNAVAILABLE_RETRY_AFTER}</p>"
    assert client.get("/board", headers={"Accept": "application/json"}).json()["dependency"] == "database"


def test_other_database_faults_stay_server_errors() -> None:
    faults = [
        operational(sqlite3.OperationalError("no such table: hazard")),
        operational(_PgError("42P01", 'relation "hazard" does not exist')),
        ProgrammingError("SELECT", {}, _PgError("42601", "syntax error")),
        DBAPIError("SELECT", {}, _PgError("XX000", "internal error")),
    ]
    for fault in faults:
        assert app_raising(fault).post("/api/v1/write").status_code == 500, fault
