"""The live bus delivers what is published after subscribing, in process and over Redis."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from riskcontrol.core.bus import Bus, MemoryBus, RedisBus

REDIS_URL = os.environ.get("RISKCONTROL_TEST_REDIS_URL")

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


def test_redis_down_does_not_fail_the_publisher() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0")
    bus.publish("board", {"seq": 1})
    bus.close()
