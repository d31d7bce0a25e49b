"""A database in trouble (busy, unreachable, dropped) is a 503 with Retry-After, never a 500.

Busy (SQLite's "database is locked", PostgreSQL's lock timeouts, deadlocks and serialisation
failures) and unreachable (refused, dropped, restarted, the pool exhausted) are both temporary: the
transaction rolled back, nothing is half-stored, and the same request can simply be sent again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa
from starlette.websockets import WebSocket, WebSocketState

from riskcontrol.core import i18n
from riskcontrol.core.refusals import reply_language

log = logging.getLogger(__name__)

Trouble = Literal["busy", "unavailable"]

BUSY_RETRY_AFTER = 2  # seconds a client waits before trying again when the database is busy
UNAVAILABLE_RETRY_AFTER = 5  # … and when it cannot be reached (a restart takes a few seconds)
RETRY_AFTER: dict[Trouble, int] = {"busy": BUSY_RETRY_AFTER, "unavailable": UNAVAILABLE_RETRY_AFTER}
# The websocket close code for "try again later" (RFC 6455 registry): the screen reconnects.
TRY_AGAIN_LATER = 1013

# What a database says when another transaction holds what this one needs for too long: SQLite's
# "database is locked" after its busy timeout; PostgreSQL's lock timeout, deadlock and serialisation failure.
_BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001"})
# PostgreSQL going away: connection exceptions (class 08), shutting down or starting up, too many clients.
_GONE_SQLSTATE_CLASSES = frozenset({"08"})
_GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

_ERRORS = (sa.DBAPIError, sa.DisconnectionError, sa.TimeoutError)

# Renders the 503 as a page for a browser's navigation (the web layer provides it).
PageReply = Callable[[Request, Trouble, int], Response]


def database_trouble(exc: BaseException) -> Trouble | None:
    """Whether `exc` means the database is busy or unreachable for now (None: a fault, a 500)."""
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):
        return "unavailable"  # the pool waited in vain for a connection, or lost one
    if not isinstance(exc, sa.DBAPIError):
        return None
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    text = str(original).lower()
    if sqlstate in _BUSY_SQLSTATES or "database is locked" in text or "database table is locked" in text:
        return "busy"
    if exc.connection_invalidated or isinstance(exc, sa.InterfaceError):
        return "unavailable"
    if not isinstance(exc, sa.OperationalError):
        return None
    if sqlstate in _GONE_SQLSTATES or (sqlstate or "")[:2] in _GONE_SQLSTATE_CLASSES:
        return "unavailable"
    # A PostgreSQL driver error without a SQLSTATE came from the client library, not the server: the
    # connection could not be made or was lost. (SQLite's errors carry no SQLSTATE attribute at all.)
    if hasattr(original, "sqlstate") and sqlstate is None:
        return "unavailable"
    return None


def trouble_body(trouble: Trouble, lang: str) -> dict[str, object]:
    """The JSON body of the 503: the usual error shape, worded in `lang`, naming the dependency."""
    message = i18n.translate(lang, f"error.database_{trouble}", seconds=RETRY_AFTER[trouble])
    return {"error": trouble, "message": message, "field": None, "dependency": "database"}


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install_outage_handlers(app: FastAPI, page: PageReply | None = None) -> None:
    """Database trouble becomes a 503 with Retry-After (a page for browsers when `page` is given);
    any other database error stays a server error."""

    async def on_database_error(request: Request, exc: Exception) -> Response:
        trouble = database_trouble(exc)
        if trouble is None:
            raise exc
        retry_after = RETRY_AFTER[trouble]
        log.warning("%s %s: database %s (%s)", request.method, request.url.path, trouble, type(exc).__name__)
        if page is not None and _wants_page(request):
            reply = page(request, trouble, retry_after)
        else:
            reply = JSONResponse(status_code=503, content=trouble_body(trouble, reply_language(request)))
        reply.headers["Retry-After"] = str(retry_after)
        return reply

    for error in _ERRORS:
        app.add_exception_handler(error, on_database_error)


@asynccontextmanager
async def closed_on_outage(websocket: WebSocket) -> AsyncIterator[None]:
    """Close a live socket with "try again later" when the database is in trouble, instead of
    failing with a traceback; the screen reconnects and fetches afresh."""
    try:
        yield
    except _ERRORS as exc:
        trouble = database_trouble(exc)
        if trouble is None:
            raise
        log.warning(
            "%s: database %s (%s); socket closed, the screen will reconnect", websocket.url.path, trouble, type(exc).__name__
        )
        if websocket.application_state != WebSocketState.DISCONNECTED:
            # The screen may have gone meanwhile: then there is nothing left to close.
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=TRY_AGAIN_LATER, reason=f"database {trouble}")
