"""Live screens over the bus, through its outages: one shared subscription per channel, a database
watch while the bus is down, and a re-sync whenever a screen may have missed something."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from riskcontrol.core.bus import Bus, Message

log = logging.getLogger(__name__)

# Told to a screen that may have missed messages (the subscription was lost, or was not live yet
# when the screen took its snapshot, or the database changed while the bus was down): fetch again.
RESYNC: Message = {"type": "resync"}

# A cheap reading of the database that changes whenever a screen of the channel has news (say, the
# newest timeline row's id); watched while the bus is down. Runs in a worker thread.
Watermark = Callable[[], Hashable]


@dataclass(frozen=True)
class Envelope:
    """A message and its JSON text, serialised once for every screen it goes to."""

    message: Message
    text: str


RESYNC_ENVELOPE = Envelope(RESYNC, json.dumps(RESYNC))


class Fanout:
    """One subscription per process to a channel, shared by every local screen listening to it.

    Five hundred board screens cost one Redis connection, and a message is serialised once. When the
    subscription breaks (Redis stopped, restarted or hung), it is re-made every `retry_seconds`;
    meanwhile `watermark` is read every `retry_seconds`, and every screen is told to re-sync when it
    moves, so screens keep up from the database. When the subscription is back, every screen is
    told to re-sync, since what was published meanwhile is lost.
    """

    def __init__(
        self,
        bus: Bus,
        channel: str,
        *,
        watermark: Watermark | None = None,
        maxsize: int = 1000,
        retry_seconds: float = 1.0,
    ) -> None:
        self.bus, self.channel = bus, channel
        self._watermark = watermark
        self._maxsize, self._retry = maxsize, retry_seconds
        self._queues: set[asyncio.Queue[Envelope]] = set()
        # Screens that joined while the subscription was not live: their snapshot may miss a change.
        self._unsure: set[asyncio.Queue[Envelope]] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: Hashable = None  # the watermark as the screens last fetched it
        self.connected = asyncio.Event()

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def _offer(self, envelope: Envelope, queues: set[asyncio.Queue[Envelope]] | None = None) -> None:
        for queue in list(self._queues if queues is None else queues):
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
                        log.warning("subscription to %s is back; screens re-sync", self.channel)
                    self._offer(RESYNC_ENVELOPE, None if lost else self._unsure)
                    self._unsure.clear()
                    lost = False
                    async for message in messages:
                        self._offer(Envelope(message, json.dumps(message, ensure_ascii=False, default=str)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the subscription means: watch the database, retry
                if not lost:
                    # One line per outage, not a traceback a second: the screens carry on.
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    log.warning("subscription to %s lost (%s); following the database", self.channel, reason)
            self.connected.clear()
            await self._while_down(first=not lost)
            lost = True

    async def _while_down(self, *, first: bool) -> None:
        """Wait `retry_seconds` before the next try; tell screens to re-sync when the database moved."""
        if self._watermark is None:
            if first:
                self._offer(RESYNC_ENVELOPE)
            await asyncio.sleep(self._retry)
            return
        if first:
            # Whatever was published just before the loss was noticed may be lost: the screens fetch
            # now, and from this reading on, any change makes them fetch again.
            self._seen = await self._read_watermark()
            self._offer(RESYNC_ENVELOPE)
        await asyncio.sleep(self._retry)
        now = await self._read_watermark()
        if now is not None and now != self._seen:
            self._seen = now
            self._offer(RESYNC_ENVELOPE)

    async def _read_watermark(self) -> Hashable:
        assert self._watermark is not None
        try:
            return await asyncio.to_thread(self._watermark)
        except Exception as exc:  # the database may be in trouble too; try again next round
            log.warning("watching %s in the database failed (%s)", self.channel, type(exc).__name__)
            return None

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Envelope]]:
        """A queue of this channel's messages for one screen, while the block runs."""
        queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=self._maxsize)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump(), name=f"fanout:{self.channel}")
        if not self.connected.is_set():
            # The screen waits (a moment) for the subscription, so the snapshot it takes next cannot
            # miss a change published before the subscription was live. If it is still not live, the
            # screen is told to re-sync once it is (or as soon as the database moves).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), self._retry)
            if not self.connected.is_set():
                self._unsure.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            self._unsure.discard(queue)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected.clear()


class Fanouts:
    """The fan-outs of many small channels (one per user's inbox): made on a screen's first
    listen, closed when its last screen leaves."""

    def __init__(self, bus: Bus, *, retry_seconds: float = 1.0) -> None:
        self.bus = bus
        self._retry = retry_seconds
        self._open: dict[str, Fanout] = {}

    @asynccontextmanager
    async def listen(self, channel: str, watermark: Watermark | None = None) -> AsyncIterator[asyncio.Queue[Envelope]]:
        fanout = self._open.get(channel)
        if fanout is None:
            fanout = self._open[channel] = Fanout(self.bus, channel, watermark=watermark, retry_seconds=self._retry)
        try:
            async with fanout.listen() as queue:
                yield queue
        finally:
            if fanout.listeners == 0 and self._open.get(channel) is fanout:
                del self._open[channel]
                await fanout.close()

    async def close(self) -> None:
        fanouts, self._open = list(self._open.values()), {}
        for fanout in fanouts:
            await fanout.close()
