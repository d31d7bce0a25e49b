"""Post-commit messages for live screens: in-process fan-out, or Redis pub/sub across workers.

The database is the truth and the bus a courtesy: publishers call `publish` only after their
transaction committed, and a subscriber that misses a message re-syncs from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from riskcontrol.core.publisher import BackgroundPublisher

log = logging.getLogger(__name__)

Message = dict[str, Any]


class Bus(Protocol):
    """Publish from any thread; subscribe from the event loop."""

    @property
    def dropped(self) -> int:
        """Messages published but never sent (the live screens they were for re-sync)."""
        ...

    def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]: ...

    def close(self) -> None: ...


class _Subscription:
    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=maxsize)

    def offer(self, message: Message) -> None:
        # A slow screen loses messages rather than holding up the publisher; it re-syncs.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(message)

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()


class MemoryBus:
    """In-process fan-out: the embedded default, and the fake for tests."""

    # Published messages always reach this process's subscribers (a slow screen may skip some).
    dropped = 0

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: dict[str, set[_Subscription]] = {}
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def publish(self, channel: str, message: Message) -> None:
        with self._lock:
            subs = list(self._subs.get(channel, ()))
        for sub in subs:
            if sub.loop.is_closed():
                continue
            sub.loop.call_soon_threadsafe(sub.offer, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        sub = _Subscription(asyncio.get_running_loop(), self._maxsize)
        with self._lock:
            self._subs.setdefault(channel, set()).add(sub)
        try:
            yield sub.messages()
        finally:
            with self._lock:
                self._subs[channel].discard(sub)

    def close(self) -> None:
        with self._lock:
            self._subs.clear()


# A publish that cannot reach Redis this fast is dropped (it is sent off the request path anyway).
PUBLISH_TIMEOUT = 0.25
# A subscription that Redis has not confirmed this fast counts as failed, and is tried again.
SUBSCRIBE_TIMEOUT = 1.0
# A quiet subscription pings Redis this often; no answer by the next beat means Redis is gone or hung.
HEARTBEAT_SECONDS = 1.0


class RedisBus:
    """Redis pub/sub, so every web worker's screens hear what any process committed.

    Publishing never waits on Redis: messages go out from a thread of their own (`core.publisher`),
    and `dropped` counts those that could not. A subscription notices a stopped or hung Redis within
    two heartbeats and fails, so its owner can fall back on the database and subscribe again.
    """

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = PUBLISH_TIMEOUT,
        subscribe_timeout: float = SUBSCRIBE_TIMEOUT,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._url = url
        self._subscribe_timeout, self._heartbeat = subscribe_timeout, heartbeat_seconds
        # No retries: a second try would wait on the same broken Redis, and the message is a courtesy.
        self._client = redis.Redis.from_url(
            url, socket_timeout=publish_timeout, socket_connect_timeout=publish_timeout, retry=Retry(NoBackoff(), 0)
        )
        self._publisher = BackgroundPublisher(self._client.publish)

    @property
    def dropped(self) -> int:
        """Messages given up on because Redis was slow, down or hung (or too many waited)."""
        return self._publisher.dropped

    @property
    def published(self) -> int:
        return self._publisher.published

    def publish(self, channel: str, message: Message) -> None:
        self._publisher.offer(channel, json.dumps(message, ensure_ascii=False, default=str))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything published so far was sent or dropped (tests, shutdown)."""
        return self._publisher.flush(timeout)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        timeout = self._subscribe_timeout
        client = aredis.Redis.from_url(
            self._url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=AsyncRetry(NoBackoff(), 0)
        )
        pubsub = client.pubsub()
        try:
            # Live means confirmed by Redis, not merely asked: what is published after this is heard.
            await asyncio.wait_for(self._confirmed(pubsub, channel), timeout)
            yield self._messages(pubsub)
        finally:
            # When Redis went away the goodbye fails or hangs too; the connections are closed either way.
            with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
                await asyncio.wait_for(pubsub.unsubscribe(channel), timeout)
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.aclose()
                await client.aclose()

    @staticmethod
    async def _confirmed(pubsub: aredis.client.PubSub, channel: str) -> None:
        await pubsub.subscribe(channel)
        while (raw := await pubsub.get_message(timeout=None)) is None or raw.get("type") != "subscribe":
            pass

    async def _messages(self, pubsub: aredis.client.PubSub) -> AsyncIterator[Message]:
        pinged = False
        while True:
            raw = await pubsub.get_message(timeout=self._heartbeat)
            if raw is None:
                if pinged:
                    raise redis.ConnectionError(f"Redis did not answer a ping within {self._heartbeat} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False  # anything heard, a message or the pong, shows Redis is alive
            if raw.get("type") == "message":
                yield json.loads(raw["data"])

    def close(self) -> None:
        self._publisher.close()
        self._client.close()


def make_bus(redis_url: str | None, *, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> Bus:
    """Redis pub/sub when a URL is configured, else the in-process bus."""
    return RedisBus(redis_url, heartbeat_seconds=heartbeat_seconds) if redis_url else MemoryBus()


_AFTER_COMMIT = "riskcontrol.bus.after_commit"


def publish_after_commit(db: Session, bus: Bus, channel: str, message: Message) -> None:
    """Publish `message` once `db`'s transaction has committed: the outermost one, not a savepoint
    released inside it. A rollback drops it, and a savepoint rolled back drops what was queued in it
    (a deadline fired inside a group that failed), leaving what the transaction queued before."""
    queued_in = db.get_nested_transaction() or db.get_transaction() or db.begin()
    db.info.setdefault(_AFTER_COMMIT, []).append((queued_in, bus, channel, message))


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: the transaction around it may still roll back
    for _, bus, channel, message in session.info.pop(_AFTER_COMMIT, ()):
        bus.publish(channel, message)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    queued = session.info.get(_AFTER_COMMIT)
    if queued:
        queued[:] = [item for item in queued if not _within(item[0], previous_transaction)]


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False
