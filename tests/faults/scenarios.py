"""The faults, one function each: inject it, let the system live through it, put things right."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from tests.faults.suite import BLUE, CLIMB_SECONDS, Stage, now, wait_until
from tests.faults.system import ACK_WITHIN_SECONDS, start_together
from tests.faults.tally import Run

Scenario = Callable[[Stage, Run], None]
# Beyond the climb's own length: a round to notice, then sends and reminders in flight.
MARGIN = 8.0


def reach_school(stage: Stage, escalation_ids: list[int], timeout: float = CLIMB_SECONDS + MARGIN) -> None:
    """Wait for each climb to reach the school (not reaching it is counted lost, not raised)."""
    ids = [i for i in escalation_ids if i is not None]
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: stage.school_told(ids), timeout, "")


def filed(stage: Stage, run: Run, number: int) -> list[int]:
    escalation_id = stage.file(run, number)
    return [] if escalation_id is None else [escalation_id]


def worker_killed(stage: Stage, run: Run) -> None:
    """kill -9 the worker mid-climb, while it holds a text the slow provider has not answered yet if it
    comes to that, and keep it dead for longer than two windows; the sweeping server carries on."""
    stage.twilio.delay = 2.0
    ids = filed(stage, run, 1)
    try:
        wait_until(lambda: stage.provider_has_its_text(stage.worker), ACK_WITHIN_SECONDS + 4, "")
        run.notes.append("killed mid-send")
    except TimeoutError:
        run.notes.append("killed between sends")
    stage.worker.kill9()
    stage.killed(stage.worker)
    time.sleep(2 * ACK_WITHIN_SECONDS + 1)
    stage.twilio.delay = 0.0
    stage.worker = stage.system.worker("worker-after-kill")
    start_together(stage.worker)
    reach_school(stage, ids)


def no_worker(stage: Stage, run: Run) -> None:
    """Nothing sweeps for a whole climb; then a worker starts and tells every step already due at once."""
    stage.worker.stop()
    stage.server.stop()
    ids = filed(stage, run, 1)
    time.sleep(CLIMB_SECONDS + ACK_WITHIN_SECONDS / 2)
    stage.worker = stage.system.worker("worker-after-outage")
    stage.server = stage.system.server("server-after-outage", sweeps=True)
    stage.worker.start()
    stage.server.start()
    run.fault_end = stage.wait_for_heartbeat(stage.worker)
    reach_school(stage, ids, timeout=10)
    stage.server.wait_serving()


def sms_refused(stage: Stage, run: Run) -> None:
    """The provider refuses connections for a few seconds (its port is closed), then is back."""
    stage.twilio.__exit__(None, None, None)
    ids = filed(stage, run, 1)
    time.sleep(4)
    stage.twilio.__enter__()
    reach_school(stage, ids)
    stage.wait_for_retries()


def sms_500(stage: Stage, run: Run) -> None:
    """The provider answers 500 for a few seconds."""
    stage.twilio.mode = "error_500"
    ids = filed(stage, run, 1)
    time.sleep(4)
    stage.twilio.mode = "queued"
    reach_school(stage, ids)
    stage.wait_for_retries()


def sms_slow(stage: Stage, run: Run) -> None:
    """The provider takes each text at once but answers after 9 s, for a whole climb."""
    stage.twilio.delay = 9.0
    ids = filed(stage, run, 1)
    reach_school(stage, ids)
    stage.twilio.delay = 0.0


def postgres_restarted(stage: Stage, run: Run) -> None:
    """PostgreSQL restarts (fast mode: sessions cut) while a phone files every 0.2 s and a red climbs."""
    ids = filed(stage, run, 1)
    stop = threading.Event()

    def load() -> None:
        number = 100
        while not stop.is_set():
            stage.file(run, number, BLUE)
            number += 1
            time.sleep(0.2)

    filing = threading.Thread(target=load, name="filing-load")
    filing.start()
    try:
        time.sleep(2)
        stage.cluster.restart()
        run.fault_end = now()
        time.sleep(3)
    finally:
        stop.set()
        filing.join()
    reach_school(stage, ids)


def redis_stopped(stage: Stage, run: Run) -> None:
    """Redis is down for a whole climb."""
    stage.redis.stop()
    try:
        ids = filed(stage, run, 1)
        stage.file(run, 2, BLUE)
        reach_school(stage, ids)
    finally:
        stage.redis.start()


def redis_hung(stage: Stage, run: Run) -> None:
    """Redis is frozen (SIGSTOP) for a whole climb: connections open, nothing ever answers."""
    stage.redis.freeze()
    try:
        ids = filed(stage, run, 1)
        stage.file(run, 2, BLUE)
        reach_school(stage, ids)
    finally:
        stage.redis.thaw()


def resubmitted(stage: Stage, run: Run) -> None:
    """The same observation (one client id) sent ten times at once, as a phone on a bad line might."""
    answers: list[int | None] = []
    threads = [threading.Thread(target=lambda: answers.append(stage.file(run, 1))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = sorted({a for a in answers if a is not None})
    if len(ids) > 1:
        raise AssertionError(f"one observation answered with escalations {ids}")
    reach_school(stage, ids)


SCENARIOS: list[tuple[str, Scenario]] = [
    ("worker kill -9 mid-climb", worker_killed),
    ("no worker for a climb", no_worker),
    ("SMS refusing connections", sms_refused),
    ("SMS answering 500", sms_500),
    ("SMS answering after 9 s", sms_slow),
    ("PostgreSQL restarted", postgres_restarted),
    ("Redis stopped", redis_stopped),
    ("Redis hung (SIGSTOP)", redis_hung),
    ("same observation ×10", resubmitted),
]
