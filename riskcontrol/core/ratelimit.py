"""Token-bucket rate limits: anonymous requests and sign-ins per client address, requests per user.

The buckets live in the serving process. Redis is deliberately not on this path: a limiter that asks
Redis on every request would make a Redis outage slow every phone filing a report, and the bus
promises the opposite (Redis down slows the board, never the escalation). With several processes
each keeps its own buckets, so a client may get up to that many times the limit; the durable limit
on guessing passwords is the per-account lockout kept in the database (`login_max_failures`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from riskcontrol.core import metrics
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import RateLimited
from riskcontrol.core.i18n import Phrase, phrase
from riskcontrol.core.refusals import refusal_reply

# Beyond this many remembered buckets the full ones are forgotten (a full bucket is a fresh one).
MAX_BUCKETS: Final = 50_000


@dataclass(frozen=True)
class Rate:
    """`per_minute` requests a minute, refilled evenly, with a burst of the same size."""

    per_minute: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class Buckets:
    """Token buckets by key, in this process; `take` answers how long to wait (0: go ahead)."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._max = max_buckets

    def take(self, key: str, rate: Rate, now: datetime) -> float:
        """Take one token from `key`'s bucket; the seconds until one is there when it is empty."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max:
                    self._forget_full(rate, now)
                bucket = self._buckets[key] = _Bucket(float(rate.per_minute), now)
            elapsed = max((now - bucket.at).total_seconds(), 0.0)
            bucket.tokens = min(float(rate.per_minute), bucket.tokens + elapsed * rate.per_second)
            bucket.at = max(bucket.at, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate.per_second

    def _forget_full(self, rate: Rate, now: datetime) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + max((now - b.at).total_seconds(), 0.0) * rate.per_second >= rate.per_minute
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max:  # a flood of fresh addresses: keep the most recent half
            for key, _ in sorted(self._buckets.items(), key=lambda kv: kv[1].at)[: len(self._buckets) // 2]:
                del self._buckets[key]


@dataclass
class RateLimits:
    """The limits of one application; a rate of None is no limit (the default of a bare context)."""

    clock: Clock | None = None
    anonymous: Rate | None = None
    login: Rate | None = None
    user: Rate | None = None
    buckets: Buckets = field(default_factory=Buckets)

    @classmethod
    def per_minute(cls, clock: Clock, *, anonymous: int, login: int, user: int) -> RateLimits:
        """Limits from settings, where 0 turns one off."""

        def rate(n: int) -> Rate | None:
            return Rate(n) if n > 0 else None

        return cls(clock=clock, anonymous=rate(anonymous), login=rate(login), user=rate(user))

    def _take(self, key: str, rate: Rate | None, message: Phrase, field: str | None = None) -> None:
        if rate is None or self.clock is None:
            return
        wait = self.buckets.take(key, rate, self.clock.now())
        if wait > 0:
            metrics.refused("rate_limited")
            raise RateLimited(message, retry_after=max(1, math.ceil(wait)), field=field)

    def check_anonymous(self, address: str) -> None:
        """Count one request made without a valid session from `address`."""
        self._take(f"anon:{address}", self.anonymous, phrase("refusal.session.too_many_anonymous"))

    def check_login(self, address: str, username: str) -> None:
        """Count one sign-in attempt for `username` from `address`."""
        key = f"login:{address}:{username.strip().lower()}"
        self._take(key, self.login, phrase("refusal.session.too_many_sign_ins"), field="username")

    def check_user(self, user_id: int) -> None:
        """Count one request by the signed-in user `user_id`."""
        self._take(f"user:{user_id}", self.user, phrase("refusal.session.too_many_requests"))


def client_address(connection: HTTPConnection) -> str:
    """The caller's address as the server sees it (behind a proxy: run uvicorn with --proxy-headers)."""
    return connection.client.host if connection.client else "unknown"


def refusal(connection: HTTPConnection, exc: RateLimited) -> JSONResponse:
    """The 429 of every rate limit: the usual refusal body, in the caller's language, and Retry-After."""
    return refusal_reply(connection, exc, {"Retry-After": str(exc.retry_after)})


class AnonymousLimit:
    """ASGI middleware: an HTTP request with no credential at all (no Authorization header, no session
    cookie) takes a token from its address's bucket. Requests with a credential are limited per user
    once the credential is checked (`core.http.optional_principal`), or per address when it fails."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits, session_cookie: str, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.limits = limits
        self.session_cookie = session_cookie
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith(self.exempt):
            connection = HTTPConnection(scope)
            if "authorization" not in connection.headers and self.session_cookie not in connection.cookies:
                try:
                    self.limits.check_anonymous(client_address(connection))
                except RateLimited as exc:
                    await refusal(connection, exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
