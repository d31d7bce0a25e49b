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
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await client.aclose()

    def close(self) -> None:
        self._publisher.close()


def make_bus(redis_url: str | None) -> Bus:
    """Redis pub/sub when a URL is configured, else the in-process bus."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
