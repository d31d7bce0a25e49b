"""Live screens through a bus outage: the socket stays open, the screen hears of changes from the
database while the bus is down, and is told to re-sync when it is back or may have missed something."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import ClientConnection, connect

from riskcontrol.core.bus import MemoryBus, Message
from riskcontrol.core.live import RESYNC, Envelope, Fanout
from riskcontrol.notify import service as notify_service
from tests.e2e.conftest import serve
from tests.integration.conftest import a_night, file_red_observation
from tests.integration.test_bus import hung_redis

WAIT = 5.0  # a hang guard only
QUICK = 0.02  # seconds between tries of a lost bus in these tests


class FlakyBus(MemoryBus):
    """The in-process bus, with an outage switch: while down, subscribing fails and subscriptions end."""

    def __init__(self) -> None:
        super().__init__()
        self.up = asyncio.Event()
        self.up.set()

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        if not self.up.is_set():
            raise redis.ConnectionError("Redis is down")
        async with super().subscribe(channel) as messages:

            async def until_down() -> AsyncIterator[Message]:
                lost = asyncio.ensure_future(self._lost())
                try:
                    while True:
                        nxt = asyncio.ensure_future(anext(messages))
                        done, _ = await asyncio.wait({nxt, lost}, return_when=asyncio.FIRST_COMPLETED)
                        if lost in done:
                            nxt.cancel()
                            raise redis.ConnectionError("Redis went away")
                        yield nxt.result()
                finally:
                    lost.cancel()

            yield until_down()

    async def _lost(self) -> None:
        while self.up.is_set():
            await asyncio.sleep(QUICK / 2)


async def next_of(queue: asyncio.Queue[Envelope]) -> Message:
    return (await asyncio.wait_for(queue.get(), WAIT)).message


async def test_while_the_bus_is_down_screens_resync_when_the_database_moves_and_all_resync_when_it_is_back() -> None:
    bus, newest = FlakyBus(), [1]
    fanout = Fanout(bus, "board", watermark=lambda: newest[0], retry_seconds=QUICK)
    try:
        async with fanout.listen() as screen:
            bus.publish("board", {"seq": 1})
            assert await next_of(screen) == {"seq": 1}

            bus.up.clear()
            # Losing the subscription: whatever was published just before may be lost, so fetch.
            assert await next_of(screen) == RESYNC
            newest[0] = 2  # a change commits; its push goes nowhere
            assert await next_of(screen) == RESYNC
            with pytest.raises(TimeoutError):  # nothing moved: no fetch
                await asyncio.wait_for(screen.get(), QUICK * 10)

            bus.up.set()
            assert await next_of(screen) == RESYNC
            await asyncio.wait_for(fanout.connected.wait(), WAIT)
            bus.publish("board", {"seq": 3})
            assert await next_of(screen) == {"seq": 3}
    finally:
        await fanout.close()


async def test_a_screen_that_joined_before_the_subscription_was_live_is_told_to_resync_once_it_is() -> None:
    bus = FlakyBus()
    bus.up.clear()
    fanout = Fanout(bus, "board", retry_seconds=QUICK)
    try:
        async with fanout.listen() as screen:
            # The screen took its snapshot without a live subscription: a change published in the
            # gap reached nobody, so once the subscription is live the screen fetches again.
            with contextlib.suppress(TimeoutError):
                while (await asyncio.wait_for(screen.get(), QUICK * 5)).message == RESYNC:
                    pass
            bus.up.set()
            assert await next_of(screen) == RESYNC
    finally:
        await fanout.close()


def inbox_items_until(screen: ClientConnection, item_id: int) -> list[Message]:
    """What the screen hears until the inbox item `item_id` arrives (within the hang guard)."""
    heard: list[Message] = []
    while not any(m.get("type") == "notification" and m["notification"]["id"] == item_id for m in heard):
        heard.append(json.loads(screen.recv(timeout=WAIT)))
    return heard


@pytest.mark.parametrize("outage", ["stopped", "hung"])
def test_an_inbox_socket_stays_open_through_a_redis_outage_and_gets_new_items_from_the_database(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path, outage: str
) -> None:
    with contextlib.ExitStack() as stack:
        url = "redis://127.0.0.1:1/0" if outage == "stopped" else stack.enter_context(hung_redis())
        night = stack.enter_context(a_night(sessions, database_url, tmp_path, redis_url=url, bus_retry_seconds=0.1))
        live = stack.enter_context(serve(night.app, ws="websockets-sansio"))
        counselor = night.user("counselor_cs")
        token = night.token("counselor_cs")["Authorization"].removeprefix("Bearer ")
        with connect(live.url.replace("http://", "ws://", 1) + f"/ws/inbox?token={token}") as screen:
            assert json.loads(screen.recv(timeout=WAIT))["type"] == "snapshot"
            # A red observation: the worker tells the class at once, the counsellor among them. Her
            # push cannot go out; the socket finds the item in the database instead.
            file_red_observation(night)
            night.worker.run_once()
            with night.sessions() as db:
                newest = notify_service.newest_item_id(db, user_id=counselor.id)
            heard = inbox_items_until(screen, newest)
            item = next(m["notification"] for m in heard if m.get("type") == "notification")
            assert item["subject_type"] == "escalation"
            # The catch-up ends with a re-sync, so the page fetches what waits for her.
            assert json.loads(screen.recv(timeout=WAIT)) == RESYNC or RESYNC in heard
            bus = night.app.state.ctx.bus
            assert bus.flush(timeout=WAIT)
            assert bus.dropped >= 1  # the push the worker tried
