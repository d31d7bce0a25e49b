"""Live-board fan-out: 500 websocket screens on one uvicorn process, PostgreSQL and the Redis bus.

Two paths, measured alternately on the same server and the same screens, EVENTS events each after
WARMUP of each:
(a) an incident transition through the API (`change_level`, alternating Ⅱ and Ⅲ, over a few open
    incidents): from just before the request is sent until every screen has received the event
    (matched by incident id and sequence number);
(b) the bare fan-out: a message of the same shape and size published straight to Redis on the
    board channel, from the publish until every screen has received it.
The screens, the requests and the publishes live in this process and share its monotonic clock;
the server runs in a process of its own. Target: p99 of (a) within 2× the p99 of (b).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import redis.asyncio as aredis
import uvloop
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from bench.scope import prepare
from bench.serve import RedisProcess, private_redis, raise_open_files, serving_processes
from bench.warning import PG_URL
from riskcontrol.core.db import make_engine
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.board import BOARD_CHANNEL

SCREENS = int(os.environ.get("BENCH_BOARD_SCREENS", "500"))
EVENTS = int(os.environ.get("BENCH_BOARD_EVENTS", "200"))
WARMUP = int(os.environ.get("BENCH_BOARD_WARMUP", "20"))
# Open incidents the transitions rotate over, as on a busy night (each timeline grows more slowly).
INCIDENTS = int(os.environ.get("BENCH_BOARD_INCIDENTS", "4"))
# A Redis of one's own by default: pub/sub channels are shared by every database number of a server.
REDIS_URL = os.environ.get("RISKCONTROL_BENCH_REDIS_URL")
# School-wide users, so that every screen is in scope of every incident.
VIEWERS = ("response1", "leader", "affairs")
TARGET_RATIO = 2.0
# Screens connecting at once (each takes a snapshot from the database); far below uvicorn's accept
# backlog of 2048.
CONNECT_BATCH = 25
# The board's websocket (see riskcontrol.incidents.api.board_socket).
BOARD_SOCKET = "/ws/board"
EVENT_TIMEOUT = 15.0

Key = tuple[int, int]

# The server serialises messages with json.dumps, keys in order: the head names the event cheaply,
# so a screen's receipt is timestamped before anything else is done with the message.
_HEAD = re.compile(r'\{"type": "incident", "incident_id": (\d+), "seq": (\d+)')


def key_of(text: str) -> Key | None:
    """(incident id, seq) of an incident message; None for anything else (resync, ...)."""
    head = _HEAD.match(text)
    if head is not None:
        return int(head[1]), int(head[2])
    message = json.loads(text)
    if message.get("type") == "incident":
        return int(message["incident_id"]), int(message["seq"])
    return None


class Arrivals:
    """When the first and the last of the screens received each event."""

    def __init__(self, screens: int) -> None:
        self.screens = screens
        self._first: dict[Key, float] = {}
        self._counts: dict[Key, int] = {}
        self._done: dict[Key, asyncio.Future[tuple[float, float]]] = {}
        # The text of the last event that every screen received.
        self.last_text = ""

    def _future(self, key: Key) -> asyncio.Future[tuple[float, float]]:
        if key not in self._done:
            self._done[key] = asyncio.get_running_loop().create_future()
        return self._done[key]

    def note(self, key: Key, at: float, text: str) -> None:
        first = self._first.setdefault(key, at)
        count = self._counts[key] = self._counts.get(key, 0) + 1
        if count == self.screens:
            self._future(key).set_result((first, at))
            self.last_text = text

    async def everyone(self, key: Key) -> tuple[float, float] | None:
        """When the first and the last screen received `key`; None if some had not within EVENT_TIMEOUT."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future(key)), EVENT_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            for seen in (self._done, self._first, self._counts):
                seen.pop(key, None)


async def watch(screen: ClientConnection, arrivals: Arrivals) -> None:
    async for text in screen:
        at = time.perf_counter()
        assert isinstance(text, str)
        key = key_of(text)
        if key is not None:
            arrivals.note(key, at, text)


async def open_screen(url: str) -> ClientConnection:
    """A board screen, past its snapshot. Compression is offered, as browsers do."""
    screen = await connect(url, max_size=None, open_timeout=120, ping_interval=None)
    first = json.loads(await screen.recv())
    if first.get("type") != "snapshot":
        raise RuntimeError(f"expected the board's snapshot first, got {str(first)[:200]}")
    return screen


@dataclass
class Samples:
    """Seconds from the start of each event to its arrival at the last screen (and at the first);
    events some screen missed."""

    seconds: list[float] = field(default_factory=list)
    to_first: list[float] = field(default_factory=list)
    missed: int = 0

    async def time(self, start_event: Callable[[], Awaitable[Key]], arrivals: Arrivals, *, keep: bool) -> None:
        start = time.perf_counter()
        key = await start_event()
        seen = await arrivals.everyone(key)
        if not keep:
            return
        if seen is None:
            self.missed += 1
        else:
            self.to_first.append(seen[0] - start)
            self.seconds.append(seen[1] - start)


def percentile(sorted_seconds: list[float], fraction: float) -> float:
    return sorted_seconds[max(0, int(len(sorted_seconds) * fraction) - 1)]


def summary_ms(samples: Samples) -> tuple[float, float, float, float]:
    """p50, p95, p99 and max in milliseconds."""
    s = sorted(samples.seconds)
    return 1000 * percentile(s, 0.50), 1000 * percentile(s, 0.95), 1000 * percentile(s, 0.99), 1000 * s[-1]


async def measure(base: str, redis_url: str, tokens: list[str], incident_ids: list[int]) -> tuple[Samples, Samples]:
    """Connect the screens, then alternate a transition and a bare publish, WARMUP + EVENTS times each."""
    arrivals = Arrivals(SCREENS)
    ws_base = base.replace("http://", "ws://", 1) + BOARD_SOCKET + "?token="
    screens: list[ClientConnection] = []
    for first in range(0, SCREENS, CONNECT_BATCH):
        batch = range(first, min(first + CONNECT_BATCH, SCREENS))
        screens += await asyncio.gather(*(open_screen(ws_base + tokens[n % len(tokens)]) for n in batch))
    watchers = [asyncio.create_task(watch(s, arrivals)) for s in screens]
    publisher = aredis.Redis.from_url(redis_url)
    transitions, bare = Samples(), Samples()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60, headers={"Authorization": f"Bearer {tokens[0]}"}) as http:
            levels = dict.fromkeys(incident_ids, "II")

            async def transition(n: int) -> Key:
                incident_id = incident_ids[n % len(incident_ids)]
                levels[incident_id] = "III" if levels[incident_id] == "II" else "II"
                body = {"reason": f"bench {n}", "level": levels[incident_id]}
                reply = await http.post(f"/api/v1/incidents/{incident_id}/transitions/change_level", json=body)
                if reply.status_code != 200:
                    raise RuntimeError(f"transition refused: {reply.status_code} {reply.text[:300]}")
                return incident_id, int(reply.json()["seq"])

            async def publish(n: int) -> Key:
                # The last message every screen received (a transition's, or a copy), under a seq of its own.
                message: dict[str, Any] = json.loads(arrivals.last_text)
                message["seq"] = 1_000_000_000 + n
                await publisher.publish(BOARD_CHANNEL, json.dumps(message, ensure_ascii=False))
                return int(message["incident_id"]), message["seq"]

            for n in range(WARMUP + EVENTS):
                await transitions.time(partial(transition, n), arrivals, keep=n >= WARMUP)
                await asyncio.sleep(0.02)
                await bare.time(partial(publish, n), arrivals, keep=n >= WARMUP)
                await asyncio.sleep(0.02)
    finally:
        await publisher.aclose()
        await asyncio.gather(*(s.close() for s in screens), return_exceptions=True)
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    return transitions, bare


def open_incidents(base: str, token: str, count: int) -> list[int]:
    engine = make_engine(PG_URL)
    with engine.connect() as conn:
        class_id = conn.execute(select(OrgUnit.id).where(OrgUnit.code == "CS2301")).scalar_one()
    engine.dispose()
    ids = []
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(count):
            body = {"type": "missing_student", "level": "II", "title": f"学生失联（压测 {n + 1}）", "unit_id": class_id}
            reply = http.post("/api/v1/incidents", json=body)
            if reply.status_code != 201:
                raise RuntimeError(f"could not open an incident: {reply.status_code} {reply.text[:300]}")
            ids.append(int(reply.json()["id"]))
    return ids


def run(var_dir: str) -> tuple[Samples, Samples]:
    prepare(PG_URL)
    raise_open_files(4 * SCREENS + 1024)  # the server process inherits it
    redis_server: AbstractContextManager[RedisProcess | None] = nullcontext() if REDIS_URL else private_redis()
    with redis_server as own:
        redis_url = own.url if own is not None else str(REDIS_URL)
        env = {
            "RISKCONTROL_ENVIRONMENT": "test",
            "RISKCONTROL_DATABASE_URL": PG_URL,
            "RISKCONTROL_REDIS_URL": redis_url,
            "RISKCONTROL_VAR_DIR": var_dir,
            "RISKCONTROL_SECRET_KEY": "bench-" + "k" * 40,
            "RISKCONTROL_RUN_WORKER_IN_PROCESS": "false",
        }
        with serving_processes("riskcontrol.app:create_served_app", 1, env) as base:
            with httpx.Client(base_url=base, timeout=30) as http:
                tokens = [
                    http.post("/api/v1/auth/token", json={"username": u, "password": DEMO_PASSWORD}).json()["access_token"]
                    for u in VIEWERS
                ]
            incident_ids = open_incidents(base, tokens[0], INCIDENTS)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(measure(base, redis_url, tokens, incident_ids))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            transitions, bare = run(tmp)
        except Exception as exc:  # report an unreachable server or Redis instead of failing
            print(f"board benchmark skipped: {type(exc).__name__}: {exc}")
            return
    print(
        f"\nLive board on PostgreSQL + Redis: {SCREENS} websocket screens on one uvicorn process, "
        f"{EVENTS} events per path after {WARMUP} warm-up, until the last screen has each"
    )
    print(f"  {'path':<52} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  missed")
    for name, samples in (("(a) transition through the API", transitions), ("(b) bare: published straight to Redis", bare)):
        if not samples.seconds:
            print(f"  {name:<52} no event reached every screen")
            return
        cells = "".join(f"{v:>6.1f}ms" for v in summary_ms(samples))
        print(f"  {name:<52} {cells}  {samples.missed}")
    first = [1000 * statistics.median(s.to_first) for s in (transitions, bare)]
    fanout = [1000 * statistics.median(b - a for a, b in zip(s.to_first, s.seconds, strict=True)) for s in (transitions, bare)]
    print(f"  medians: until the first screen has it (a) {first[0]:.1f}ms (b) {first[1]:.1f}ms;")
    print(f"           from the first screen to the last (a) {fanout[0]:.1f}ms (b) {fanout[1]:.1f}ms")
    ratio = summary_ms(transitions)[2] / summary_ms(bare)[2]
    verdict = "PASS" if ratio <= TARGET_RATIO and not (transitions.missed or bare.missed) else "FAIL"
    print(f"  p99 (a) / p99 (b) = {ratio:.2f}×   (target: within {TARGET_RATIO:.0f}× of the bare path)   {verdict}")


if __name__ == "__main__":
    main()
