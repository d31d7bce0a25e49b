"""The worker's pause between rounds: it ends when asked to stop, whatever the interval."""

from __future__ import annotations

import threading
from datetime import timedelta

from riskcontrol.core.clock import ManualClock
from riskcontrol.core.worker import Worker, pause
from tests.conftest import START


def test_a_stopped_pause_returns_at_once_and_a_short_one_ends_by_itself() -> None:
    stop = threading.Event()
    pause(stop, 0.01)
    stop.set()
    pause(stop, 3600)


def test_the_worker_loop_ends_soon_after_stop_even_with_an_hour_between_rounds() -> None:
    rounds: list[int] = []
    worker = Worker(sessions=None, clock=ManualClock(START), jobs=[])  # type: ignore[arg-type]

    def one_round() -> bool:
        rounds.append(1)
        return False

    worker.run_once = one_round  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=worker.run_forever, args=(stop, timedelta(hours=1)), daemon=True)
    loop.start()
    while not rounds:
        pause(threading.Event(), 0.01)
    stop.set()
    loop.join(timeout=30)
    assert not loop.is_alive()
    assert rounds == [1]


def test_a_woken_pause_returns_at_once() -> None:
    wake = threading.Event()
    wake.set()
    pause(threading.Event(), 3600, wake=wake)


def test_a_round_with_work_left_is_followed_at_once_and_loops_of_their_own_run_beside() -> None:
    rounds: list[int] = []
    beside = threading.Event()
    worker = Worker(sessions=None, clock=ManualClock(START), jobs=[])  # type: ignore[arg-type]

    def round_with_work_left() -> bool:
        rounds.append(1)
        return len(rounds) < 3

    def alongside(stop: threading.Event) -> None:
        beside.set()
        while not stop.is_set():
            pause(stop, 0.05)

    worker.run_once = round_with_work_left  # type: ignore[method-assign]
    worker.loops.append(alongside)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run_forever, args=(stop, timedelta(hours=1)), daemon=True)
    loop.start()
    while len(rounds) < 3 or not beside.is_set():
        pause(threading.Event(), 0.01)
    stop.set()
    loop.join(timeout=30)
    assert not loop.is_alive()
    assert rounds == [1, 1, 1]  # three busy rounds with no hour between them
