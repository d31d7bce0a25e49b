"""Request plumbing shared by every router: the app context, sessions, the caller, error replies."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Protocol, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic_core import ErrorDetails
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from riskcontrol.core import audit, i18n, metrics
from riskcontrol.core.bus import Bus, MemoryBus
from riskcontrol.core.clock import Clock
from riskcontrol.core.csvimport import RowError
from riskcontrol.core.deadlines import DeadlineHandlers
from riskcontrol.core.errors import Conflict, DomainError, Forbidden, Locked, NotAuthenticated, TooLarge, UnsupportedMediaType
from riskcontrol.core.events import Events
from riskcontrol.core.i18n import Phrase, phrase, word
from riskcontrol.core.outages import PageReply, install_outage_handlers
from riskcontrol.core.outbox import Channels
from riskcontrol.core.principals import PrincipalCache
from riskcontrol.core.ratelimit import RateLimits, client_address
from riskcontrol.core.refusals import refusal_reply, reply_language, validation_reply
from riskcontrol.core.security import Principal, csrf_token

SESSION_COOKIE = "rc_session"
# Pages' scripts send the session's CSRF token (see `csrf_token`) in this header with every change to the API.
CSRF_HEADER = "X-CSRF-Token"
API_PREFIX = "/api/"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

log = logging.getLogger(__name__)

# Row ids are 32-bit on PostgreSQL: a larger number is refused as input instead of failing in SQL.
MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
# PostgreSQL text cannot hold NUL; every free-text input carries this pattern so it is refused up front.
NO_NUL = r"^[^\x00]*$"


@dataclass
class AppContext:
    """What the composition root hands every request: settings, database, clock, secret."""

    settings: Any
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    secret: str
    # Loads callers by token; remembers them briefly (see core.principals).
    principals: PrincipalCache
    # The wiring the composition root fills in: live bus, domain events, deadline kinds, channels.
    bus: Bus = field(default_factory=MemoryBus)
    events: Events = field(default_factory=Events)
    deadline_handlers: DeadlineHandlers = field(default_factory=DeadlineHandlers)
    channels: Channels = field(default_factory=Channels)
    extras: dict[str, Any] = field(default_factory=dict)
    # Token buckets per address and per user; none by default (the composition root sets them from settings).
    rates: RateLimits = field(default_factory=RateLimits)


# Dependencies that do no blocking I/O are async so that FastAPI does not hop to a worker thread
# for each one; the ones that query the database stay sync and run in the thread pool.
async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


async def get_db(ctx: Ctx) -> AsyncIterator[Session]:
    """A session per request; handlers commit explicitly, anything uncommitted is rolled back."""
    db = ctx.sessions()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


Db = Annotated[Session, Depends(get_db)]


async def get_clock(ctx: Ctx) -> Clock:
    return ctx.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


async def reader_language(request: Request, ctx: Ctx) -> str:
    """The language an API reply's words are written in (`i18n.language_of`, the school's default last)."""
    return i18n.language_of(request, ctx.settings.default_language)


ReaderLanguage = Annotated[str, Depends(reader_language)]


def _bearer(request: HTTPConnection) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def request_token(request: HTTPConnection) -> str | None:
    """The bearer token from the Authorization header, else a `token` query parameter on websockets, else the cookie."""
    if (bearer := _bearer(request)) is not None:
        return bearer
    if request.scope.get("type") == "websocket" and request.query_params.get("token"):
        return request.query_params["token"]
    return request.cookies.get(SESSION_COOKIE) or None


def require_csrf(request: Request, secret: str, token: str) -> None:
    """Refuse a change to the API made with the session cookie unless it carries the session's CSRF token.

    A browser sends the cookie with a request another site makes it send; it never sends a bearer header
    unasked, so bearer requests are exempt. Page forms carry the same token in a `csrf` field, which each
    form route checks (`web.pages.csrf_refused`)."""
    if request.method not in UNSAFE_METHODS or not request.url.path.startswith(API_PREFIX) or _bearer(request) is not None:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(secret, token).encode("utf-8")):
        raise Forbidden(phrase("refusal.session.csrf", header=CSRF_HEADER), field=CSRF_HEADER, code="csrf")


async def optional_principal(request: Request, ctx: Ctx) -> Principal | None:
    """The caller if they hold a live session; remembered on the request for error auditing.

    Each caller's requests are counted against their rate limit (a credential that fails counts
    against the address's, as a request with none does), and a cookie session's changes to the API
    must carry the CSRF token."""
    token = request_token(request)
    if token is None:
        return None
    principal = ctx.principals.cached(ctx.clock, token)
    if principal is None:
        principal = await run_in_threadpool(ctx.principals.load, ctx.sessions, ctx.clock, token)
    request.state.principal = principal
    if principal is None:
        ctx.rates.check_anonymous(client_address(request))
        return None
    ctx.rates.check_user(principal.user_id)
    require_csrf(request, ctx.secret, token)
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise NotAuthenticated(phrase("refusal.session.sign_in"))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def record_denial(ctx: AppContext, principal: Principal | None, subject: str, reason: str, status: int) -> None:
    """Write a refused access to the audit log in a transaction of its own (the request is failing).

    A refusal of nobody in particular (no session) is counted and logged instead: anyone can send
    those, and an audit row for each would let them fill the log (they are rate-limited too)."""
    if principal is None:
        metrics.refused("anonymous")
        log.info("refused an anonymous request: %s -> %s (%s)", subject[:80], status, reason)
        return
    audit.record_apart(
        ctx.sessions,
        ctx.clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="access.denied",
        subject_type="http",
        subject_id=subject[:80],
        outcome="denied",
        detail={"reason": reason, "status": status},
    )


# What FastAPI says when it cannot parse a request body at all.
BODY_UNREADABLE: Final = "There was an error parsing the body"


def install_error_handlers(app: FastAPI, *, outage_page: PageReply | None = None) -> None:
    """Domain errors become clear 4xx replies; denials are audited in a transaction of their own; a
    database in trouble is a 503 with Retry-After (`outage_page` renders it for browsers)."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        if exc.denial:
            principal: Principal | None = getattr(request.state, "principal", None)
            record_denial(request.app.state.ctx, principal, f"{request.method} {request.url.path}", str(exc), exc.status_code)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Locked) else None
        if isinstance(exc, NotAuthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return refusal_reply(request, exc, headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_reply(request, exc.errors())

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == BODY_UNREADABLE:
            # FastAPI's own refusal of a body it could not parse (JSON nested thousands deep, say):
            # the same shape as every other refusal.
            unreadable = ErrorDetails(type="json_invalid", loc=("body",), msg=BODY_UNREADABLE, input=None)
            return validation_reply(request, [unreadable])
        return await http_exception_handler(request, exc)

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    install_outage_handlers(app, outage_page)


def same_origin(connection: HTTPConnection, public_base_url: str) -> bool:
    """True unless the request names an Origin other than this server's: its public address, or the
    address it was reached at (the Host header). Clients other than browsers send no Origin."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    secure = connection.url.scheme in {"https", "wss"}
    reached = f"{'https' if secure else 'http'}://{connection.headers.get('host', '')}".lower()
    return origin in {public_base_url.rstrip("/").lower(), reached}


async def socket_principal(websocket: WebSocket) -> Principal | None:
    """The caller of a websocket (token in the query, header or session cookie); the socket is
    closed with 4401 when there is none, and refused before it opens when another site's page
    opened it (the browser would have sent this user's cookie along)."""
    ctx: AppContext = websocket.app.state.ctx
    if not same_origin(websocket, ctx.settings.public_base_url):
        metrics.refused("cross_origin_socket")
        await websocket.close(code=4403, reason="opened from another site")
        return None
    token = request_token(websocket)
    principal = await run_in_threadpool(ctx.principals.get, ctx.sessions, ctx.clock, token) if token else None
    if principal is None:
        await websocket.close(code=4401, reason="sign in first")
    return principal


async def until_first_ends(*loops: Callable[[], Awaitable[None]]) -> None:
    """Run a socket's loops (say, one sending, one receiving) until the first ends, then stop the rest."""
    tasks = [asyncio.ensure_future(loop()) for loop in loops]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


# --- uploaded files (imports) ----------------------------------------------------------------------

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Browsers and scripts label CSV files in several ways; anything else is most likely a form or JSON.
CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream"})
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The OpenAPI request body of an endpoint that takes a CSV or .xlsx file as its body.
TABLE_UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def upload_body(request: Request, accepted: frozenset[str], *, what: Phrase) -> bytes:
    """The raw request body of an uploaded file, refused unless its media type is `accepted` or when it
    is larger than 10 MB (checked while it streams in)."""
    media_type = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if media_type not in accepted:
        raise UnsupportedMediaType(phrase("refusal.upload.media_type", what=what, media_type=media_type), field="file")
    too_large = TooLarge(phrase("refusal.upload.too_large", megabytes=MAX_UPLOAD_BYTES // (1024 * 1024)), field="file")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class _Report(Protocol):
    errors: list[RowError]


ReportT = TypeVar("ReportT", bound=_Report)


def committed_import(db: Session, run: Callable[[], ReportT]) -> ReportT:
    """Run an all-or-nothing import in `db`: committed when it found no problem, rolled back when it
    did; another change saved to the same records meanwhile is a 409 (import the file again)."""
    try:
        report = run()
        if report.errors:
            db.rollback()
        else:
            db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise Conflict(phrase("refusal.upload.changed_meanwhile"), field="file") from exc
    return report


def import_refused(request: Request, errors: Sequence[RowError]) -> JSONResponse:
    """The 422 of an all-or-nothing import: nothing was stored, and every problem by line and column."""
    first = errors[0]
    lang = reply_language(request)
    summary = phrase("refusal.upload.problems", count=len(errors), line=first.line, column=first.column, reason=first.reason)
    return JSONResponse(
        status_code=422,
        content={
            "error": "invalid",
            "message": word(lang, summary),
            "field": "file",
            "errors": [{"line": e.line, "column": e.column, "reason": word(lang, e.reason)} for e in errors],
        },
    )


# What every page and every file served carries: no content sniffing (a "photo" that is HTML stays
# an image), no framing, no referrer to other sites, no caching of personal data.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class NoSniff:
    """ASGI middleware: every HTTP response carries `X-Content-Type-Options: nosniff` (API answers,
    photos, exports), unless it set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
