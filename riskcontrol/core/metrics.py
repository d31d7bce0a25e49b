"""Prometheus metrics: the process's instruments, the hooks that feed them, request timing and `GET /metrics`.

The instruments are created once per process and shared by every application it builds: the hooks
are called from deep inside the sweeper and the dispatcher, which know no application. Each
application has its own `CollectorRegistry` (from `new_registry`) that exposes them next to its own
collectors (say, gauges read from its database), so building many applications in one process, as
the tests do, never registers a time series twice. With `PROMETHEUS_MULTIPROC_DIR` set (several
uvicorn workers, `riskcontrol worker` processes on the same host), the instruments write to files
there and a scrape of any process adds up every process's values.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol, TypeVar
from wsgiref.simple_server import WSGIServer

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"
# Anything else a client sends as a method is one label, so a scanner cannot grow the series without end.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# From a sweep that runs on time (under a second) to a deadline that fell due while the system was
# down for a day.
_LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 6 * 3600, 24 * 3600)
# From the in-app channel (a publish) to an SMS provider that answers only at its timeout.
_SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

DEADLINE_LAG = Histogram(
    "riskcontrol_deadline_lag_seconds",
    "Seconds between a deadline's due time and its firing, by deadline kind.",
    ["kind"],
    buckets=_LAG_BUCKETS,
    registry=None,
)
SEND_SECONDS = Histogram(
    "riskcontrol_outbox_send_seconds",
    "Seconds one call of a channel's sender took, by channel.",
    ["channel"],
    buckets=_SEND_BUCKETS,
    registry=None,
)
SEND_FAILURES = Counter(
    "riskcontrol_outbox_send_failures",
    "Sends that failed (the sender said so or raised), by channel.",
    ["channel"],
    registry=None,
)
SEND_DROPPED = Counter(
    "riskcontrol_outbox_dropped",
    "Messages deliberately not sent because they no longer mattered, by channel.",
    ["channel"],
    registry=None,
)
# Summed over live processes only: a worker that stopped no longer holds any socket.
SOCKET_CLIENTS = Gauge(
    "riskcontrol_websocket_clients",
    "Websocket clients connected now, by route.",
    ["route"],
    multiprocess_mode="livesum",
    registry=None,
)
REQUEST_SECONDS = Histogram(
    "riskcontrol_http_request_duration_seconds",
    "Seconds to answer an HTTP request, by route template, method and status class.",
    ["route", "method", "status"],
    registry=None,
)
# Refusals that leave no audit row: an anonymous caller refused, a rate limit hit, a cross-site socket.
REFUSALS = Counter(
    "riskcontrol_http_refusals",
    "Requests refused without an audit row, by reason.",
    ["reason"],
    registry=None,
)
INSTRUMENTS: tuple[Collector, ...] = (
    DEADLINE_LAG,
    SEND_SECONDS,
    SEND_FAILURES,
    SEND_DROPPED,
    SOCKET_CLIENTS,
    REQUEST_SECONDS,
    REFUSALS,
)


def observe_deadline_lag(kind: str, seconds: float) -> None:
    """A deadline of `kind` fired `seconds` after it fell due."""
    DEADLINE_LAG.labels(kind).observe(max(seconds, 0.0))


def observe_send(channel: str, seconds: float, ok: bool) -> None:
    """One call of `channel`'s sender took `seconds` and succeeded or not."""
    SEND_SECONDS.labels(channel).observe(seconds)
    if not ok:
        SEND_FAILURES.labels(channel).inc()


def send_dropped(channel: str) -> None:
    """A message on `channel` was dropped instead of sent: it no longer mattered."""
    SEND_DROPPED.labels(channel).inc()


def refused(reason: str) -> None:
    """A request was refused for `reason` (a fixed word, never a path or a name) and not audited."""
    REFUSALS.labels(reason).inc()


def socket_opened(route: str) -> None:
    SOCKET_CLIENTS.labels(route).inc()


def socket_closed(route: str) -> None:
    SOCKET_CLIENTS.labels(route).dec()


class _Outcome(Protocol):
    @property
    def ok(self) -> bool: ...


M = TypeVar("M")
R = TypeVar("R", bound=_Outcome)


def timed_sender(channel: str, sender: Callable[[M], R]) -> Callable[[M], R]:
    """`sender`, timing every call and counting the failed ones under `channel`."""

    def send(message: M) -> R:
        started = time.perf_counter()
        ok = False
        try:
            outcome = sender(message)
            ok = outcome.ok
            return outcome
        finally:
            observe_send(channel, time.perf_counter() - started, ok)

    return send


def multiprocess_mode() -> bool:
    """Whether several processes share their metrics through files in $PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get(MULTIPROCESS_DIR))


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry for one application: this process's instruments (or, in multiprocess mode, every
    process's), the process's own figures, and `collectors`."""
    registry = CollectorRegistry()
    if multiprocess_mode():
        # The files hold every process's instruments, this one's included; registering the
        # instruments as well would expose them twice.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the module has no annotations
    else:
        for collector in (*INSTRUMENTS, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    for collector in collectors:
        registry.register(collector)
    return registry


def process_ended() -> None:
    """In multiprocess mode, take this process's live gauges (its sockets) out of the sum."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def route_of(scope: Scope) -> str:
    """The template of the route that handled a request (`/api/v1/incidents/{incident_id}`), never the
    raw path: a label per incident number would grow without end."""
    template = getattr(scope.get("route"), "path_format", None)
    if template:
        return str(template)
    if scope.get("endpoint") is not None:
        # A mounted app (the static files): routing names no route, but it moved the mount's path
        # from the request's path to its root path.
        mount = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path") or "")) :]
        return f"{mount}/{{path}}"
    return UNMATCHED


class MetricsMiddleware:
    """Times every HTTP request by route, method and status class, and counts open websockets by route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._request(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # An exception that escapes the app becomes a 500 in the server-error middleware outside us.
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = str(scope.get("method", ""))
            labels = (route_of(scope), method if method in METHODS else "other", f"{status // 100}xx")
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened: list[str] = []

        async def sending(message: Message) -> None:
            # Counted once accepted: a socket refused at sign-in was never a client.
            if message["type"] == "websocket.accept" and not opened:
                opened.append(route_of(scope))
                socket_opened(opened[0])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if opened:
                socket_closed(opened[0])


router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def scrape(request: Request) -> Response:
    """Operational figures in Prometheus's text format (OpenMetrics when asked for): no personal data."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(content=encode(registry), media_type=content_type)


def install(app: FastAPI, *collectors: Collector) -> None:
    """Serve `GET /metrics` on `app` with its own registry (the instruments and `collectors`) and time its requests."""
    app.state.metrics_registry = new_registry(*collectors)
    app.add_middleware(MetricsMiddleware)
    app.include_router(router)


def serve_apart(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Serve `registry` on a port of its own from a background thread, for a process with no web app
    (`riskcontrol worker`): the deadline lag and send times are observed where sweeps and sends run."""
    server, _thread = start_http_server(port, host, registry=registry)
    return server
