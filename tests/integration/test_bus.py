"""The live bus delivers what is published after subscribing, in process and over Redis; a stopped or
hung Redis never holds up a publisher, and a subscription notices it instead of waiting forever."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.serve import private_redis
from riskcontrol.core.bus import Bus, MemoryBus, Message, RedisBus, publish_after_commit

REDIS_URL = os.environ.get("RISKCONTROL_TEST_REDIS_URL")
REDIS_SERVER = shutil.which("redis-server")
# Generous bounds that only keep a broken test from hanging; the behaviour is asserted otherwise.
HANG_GUARD = 5.0

BUSES = ["memory"] + (["redis"] if REDIS_URL else [])


def build(kind: str) -> Bus:
    if kind == "redis":
        assert REDIS_URL is not None
        return RedisBus(REDIS_URL)
    return MemoryBus()


@pytest.mark.parametrize("kind", BUSES)
async def test_a_board_hears_a_message_published_from_a_worker_thread(kind: str) -> None:
    bus = build(kind)
    try:
        async with bus.subscribe("board") as messages:
            if kind == "redis":
                await asyncio.sleep(0.05)  # let the SUBSCRIBE reach the server before publishing
            thread = threading.Thread(target=bus.publish, args=("board", {"seq": 1, "text": "寝室 305 报告"}))
            thread.start()
            thread.join()
            received = await asyncio.wait_for(anext(messages), timeout=5)
        assert received == {"seq": 1, "text": "寝室 305 报告"}
    finally:
        bus.close()


@pytest.mark.parametrize("kind", BUSES)
async def test_other_channels_are_not_heard(kind: str) -> None:
    bus = build(kind)
    try:
        async with bus.subscribe("inbox:1") as messages:
            if kind == "redis":
                await asyncio.sleep(0.05)
            bus.publish("inbox:2", {"seq": 1})
            bus.publish("inbox:1", {"seq": 2})
            assert await asyncio.wait_for(anext(messages), timeout=5) == {"seq": 2}
    finally:
        bus.close()


@contextmanager
def hung_redis() -> Iterator[str]:
    """The URL of a "Redis" that accepts connections and never answers, as a frozen (SIGSTOPped) one does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        # Shutting the listening socket down wakes the blocked accept(); closing it alone does not.
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)
        for conn in held:
            conn.close()


def test_a_publish_to_a_hung_redis_costs_the_publisher_nothing_and_is_counted_dropped() -> None:
    with hung_redis() as url:
        bus = RedisBus(url)
        try:
            started = time.monotonic()
            bus.publish("board", {"seq": 1})
            bus.publish("board", {"seq": 2})
            assert time.monotonic() - started < HANG_GUARD  # handed over, not sent: see the counter
            assert bus.flush(timeout=HANG_GUARD)
            assert (bus.published, bus.dropped) == (0, 2)
        finally:
            bus.close()


def test_a_publish_to_a_stopped_redis_is_counted_dropped_and_a_running_one_counts_none() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0")
    bus.publish("board", {"seq": 1})
    assert bus.flush(timeout=HANG_GUARD)
    assert bus.dropped == 1
    bus.close()
    if REDIS_URL:
        bus = RedisBus(REDIS_URL)
        bus.publish("board", {"seq": 1})
        assert bus.flush(timeout=HANG_GUARD)
        assert (bus.published, bus.dropped) == (1, 0)
        bus.close()


async def test_subscribing_to_a_hung_redis_fails_instead_of_hanging() -> None:
    with hung_redis() as url:
        bus = RedisBus(url, subscribe_timeout=0.1)
        try:
            with pytest.raises((TimeoutError, redis.RedisError)):
                async with bus.subscribe("board"):
                    pass
        finally:
            bus.close()


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (installed by `make test`)")
async def test_a_subscription_notices_when_redis_hangs_and_hears_again_once_it_is_back() -> None:
    assert REDIS_SERVER is not None
    with private_redis(REDIS_SERVER) as server:
        bus = RedisBus(server.url, heartbeat_seconds=0.1, subscribe_timeout=0.5)
        try:
            async with bus.subscribe("board") as messages:
                bus.publish("board", {"seq": 1})
                assert await asyncio.wait_for(anext(messages), timeout=HANG_GUARD) == {"seq": 1}
                server.pause()
                try:
                    # Two quiet heartbeats without an answer: the subscription gives up, so its
                    # owner falls back on the database and subscribes again.
                    with pytest.raises(redis.ConnectionError):
                        await asyncio.wait_for(anext(messages), timeout=HANG_GUARD)
                finally:
                    server.resume()
            async with bus.subscribe("board") as messages:
                bus.publish("board", {"seq": 2})
                assert await asyncio.wait_for(anext(messages), timeout=HANG_GUARD) == {"seq": 2}
        finally:
            bus.close()


class Heard(MemoryBus):
    """A bus that notes what is published to it."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[Message] = []

    def publish(self, channel: str, message: Message) -> None:
        self.heard.append(message)


def test_a_message_queued_for_after_commit_waits_for_the_outer_commit_and_a_savepoint_rolled_back_drops_its_own(
    sessions: sessionmaker[Session],
) -> None:
    bus = Heard()
    with sessions() as db:
        db.execute(select(1))
        publish_after_commit(db, bus, "board", {"n": 1})
        with db.begin_nested():
            publish_after_commit(db, bus, "board", {"n": 2})
        assert bus.heard == []  # a savepoint released is not a commit: the transaction may still roll back
        with contextlib.suppress(RuntimeError), db.begin_nested():
            publish_after_commit(db, bus, "board", {"n": 3})
            with db.begin_nested():
                publish_after_commit(db, bus, "board", {"n": 4})
            raise RuntimeError("a deadline in the group fails")
        db.commit()
    assert bus.heard == [{"n": 1}, {"n": 2}]
    with sessions() as db:
        publish_after_commit(db, bus, "board", {"n": 5})  # before anything began the session's transaction
        db.rollback()
        db.commit()
    assert bus.heard == [{"n": 1}, {"n": 2}]
