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
from dataclasses import dataclass
from typing import Any, Protocol

import redis
import redis.asyncio as aredis
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Message = dict[str, Any]


class Bus(Protocol):
    """Publish from any thread; subscribe from the event loop."""

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


class RedisBus:
    """Redis pub/sub, so every web worker's screens hear what any process committed."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, channel: str, message: Message) -> None:
        try:
            self._publisher.publish(channel, json.dumps(message, ensure_ascii=False, default=str))
        except redis.RedisError:
            # Redis down slows the screens (they re-sync), never the change that already committed.
            log.warning("bus publish to %s failed; screens will re-sync", channel, exc_info=True)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        client = aredis.Redis.from_url(self._url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)

        async def messages() -> AsyncIterator[Message]:
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    yield json.loads(raw["data"])

        try:
            yield messages()
        finally:
            # When Redis went away the goodbye fails too; the connections are closed either way.
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.unsubscribe(channel)
            await pubsub.aclose()
            await client.aclose()

    def close(self) -> None:
        self._publisher.close()


def make_bus(redis_url: str | None) -> Bus:
    """Redis pub/sub when a URL is configured, else the in-process bus."""
    return RedisBus(redis_url) if redis_url else MemoryBus()


_AFTER_COMMIT = "riskcontrol.bus.after_commit"


def publish_after_commit(db: Session, bus: Bus, channel: str, message: Message) -> None:
    """Publish `message` once `db`'s transaction has committed; a rollback drops it."""
    db.info.setdefault(_AFTER_COMMIT, []).append((bus, channel, message))


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    for bus, channel, message in session.info.pop(_AFTER_COMMIT, ()):
        bus.publish(channel, message)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# Told to every local screen when the shared subscription was lost and is back: fetch a snapshot.
RESYNC: Message = {"type": "resync"}


@dataclass(frozen=True)
class Envelope:
    """A message and its JSON text, serialised once for every screen it goes to."""

    message: Message
    text: str


class Fanout:
    """One subscription per process to a busy channel, shared by every local screen.

    Five hundred board screens cost one Redis connection, and a message is serialised once. If the
    subscription breaks (Redis restarted), it is re-made every `retry_seconds`, and every screen is
    told to re-sync from the database, since what was published meanwhile is lost.
    """

    def __init__(self, bus: Bus, channel: str, *, maxsize: int = 1000, retry_seconds: float = 1.0) -> None:
        self.bus, self.channel = bus, channel
        self._maxsize, self._retry = maxsize, retry_seconds
        self._queues: set[asyncio.Queue[Envelope]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def _offer(self, envelope: Envelope) -> None:
        for queue in list(self._queues):
            # A slow screen loses messages rather than holding up the others; it re-syncs on the gap.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(envelope)

    async def _pump(self) -> None:
        lost = False
        while True:
            try:
                async with self.bus.subscribe(self.channel) as messages:
                    self.connected.set()
                    if lost:
                        self._offer(Envelope(RESYNC, json.dumps(RESYNC)))
                    async for message in messages:
                        self._offer(Envelope(message, json.dumps(message, ensure_ascii=False, default=str)))
            except asyncio.CancelledError:
                raise
            except Exception:  # any failure of the subscription means: retry, then re-sync
                log.warning("subscription to %s lost; retrying", self.channel, exc_info=True)
            self.connected.clear()
            lost = True
            await asyncio.sleep(self._retry)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Envelope]]:
        """A queue of this channel's messages for one screen, while the block runs."""
        queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=self._maxsize)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump(), name=f"fanout:{self.channel}")
        if not self.connected.is_set():
            # The first screen waits (a moment) for the subscription, so the snapshot it takes next
            # cannot miss a change published before the subscription was live.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), self._retry)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
