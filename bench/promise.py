"""Promises kept under load, on PostgreSQL (issue #14).

1. Deadline lag while texting: DEADLINES rows falling due over 10 s, each queueing one text when it
   fires, swept and sent by two worker processes with the production loop (sweep, then the outbox
   dispatcher with its per-channel pools) through the Twilio adapter to a fake Twilio in this
   process. Run once with a provider that answers after 9 s per text, once with one that answers at
   once. Target: p99 lag under 2 s in both, and no text sent twice.
2. Filing to first step told: red observations filed open-loop at FILING_RATE per second for
   FILING_SECONDS through 2 uvicorn processes (each sweeping and sending too, as served) and one
   `riskcontrol worker`, once all three sweep and after WARMUP_SECONDS of the same filings (not
   counted); from the observation's `filed_at` to the first step's inbox items stored.
   Target: p99 under 2 s.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, String, cast, func, select

from bench import texter
from bench.scope import prepare
from bench.serve import serving_processes
from bench.warning import PG_URL, dorm_heads, fired_lags, percentile, schedule_due, sign_in
from riskcontrol.core.db import make_engine
from riskcontrol.core.deadlines import PENDING, Deadline
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.core.worker import WorkerHeartbeat
from riskcontrol.escalation.service import BEGIN
from riskcontrol.notify.models import Notification
from riskcontrol.observations.models import Observation
from tests.fakes.fake_twilio import FakeTwilio

DEADLINES = int(os.environ.get("BENCH_DEADLINES", "10000"))
FILING_RATE = float(os.environ.get("BENCH_FILING_RATE", "100"))
FILING_SECONDS = float(os.environ.get("BENCH_FILING_SECONDS", "60"))
SLOW_PROVIDER = 9.0
# Workers run this long after the last deadline falls due (texts still in flight then finish).
SETTLE = timedelta(seconds=5)
# From starting the worker processes to the first deadline falling due.
WORKER_START = timedelta(seconds=10)
# Threads sending filings: far more than 100/s needs at loopback latency, so a slow server shows as
# latency, never as a lower offered rate.
FILING_CLIENTS = 64
TARGET_SECONDS = 2.0
# Filings at the same rate before the measured ones, not counted, and everything they caused done: the
# processes' first requests and sweeps (imports, statement caches, connection pools) are not what the
# night of a flood looks like; a quiet server is.
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))


@dataclass
class TextingRun:
    delay: float
    ready: bool
    lags: list[float]
    received: int
    received_twice: int
    peak_in_flight: int
    outbox: dict[str, int]


def texting_run(delay: float) -> TextingRun:
    """One run of the deadlines-with-texts benchmark against a provider answering after `delay` s."""
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    with FakeTwilio() as fake:
        fake.delay = delay
        # The workers start first (imports take seconds on a busy machine) and are seen looping
        # before anything falls due, so the lag measured is the loop's, not the start-up's.
        start = datetime.now(UTC) + WORKER_START
        stop_at = str((start + timedelta(seconds=10) + SETTLE).timestamp())
        names = [f"texter-{i}" for i in range(2)]
        workers = [
            subprocess.Popen([sys.executable, "-m", "bench.texter", PG_URL, name, stop_at, fake.base_url]) for name in names
        ]
        try:
            schedule_due(engine, texter.KIND, DEADLINES, start)
            ready = _looping(engine, names, start)
            for w in workers:
                w.wait(timeout=120)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
        with fake.lock:
            bodies = Counter(m["Body"] for m in fake.messages)
            created = Counter(m["Created"] for m in fake.messages)
    statuses = outbox_statuses(engine)
    lags = fired_lags(engine, texter.KIND)
    engine.dispose()
    return TextingRun(
        delay=delay,
        ready=ready,
        lags=lags,
        received=sum(bodies.values()),
        received_twice=sum(1 for n in bodies.values() if n > 1),
        peak_in_flight=_peak_in_flight(created, delay) if delay >= 1 else 0,
        outbox=statuses,
    )


def outbox_statuses(engine: Engine) -> dict[str, int]:
    """How many outbox messages are in each status."""
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {str(status): int(count) for status, count in rows}


def _outbox_line(statuses: dict[str, int]) -> str:
    return ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))


def _looping(engine: Engine, names: list[str], start: datetime) -> bool:
    """Whether every named worker beat its heartbeat before `start` (waits until then)."""
    stmt = select(func.count()).select_from(WorkerHeartbeat).where(WorkerHeartbeat.name.in_(names))
    while datetime.now(UTC) < start:
        with engine.connect() as conn:
            if conn.execute(stmt).scalar_one() == len(names):
                return True
        time.sleep(0.2)
    return False


def _peak_in_flight(created: Counter[str], delay: float) -> int:
    """Most requests the fake held at once, from its per-second creation stamps (each held `delay` s)."""
    seconds = sorted((datetime.strptime(stamp, "%a, %d %b %Y %H:%M:%S %Z"), n) for stamp, n in created.items())
    span = timedelta(seconds=max(1.0, delay))
    return max((sum(n for at, n in seconds if t - span < at <= t) for t, _ in seconds), default=0)


@dataclass
class FilingRun:
    sent: int
    seconds: float
    failures: list[str]
    request_latencies: list[float]
    told_lags: list[float]
    never_told: int
    outbox: dict[str, int]


def open_loop(
    base: str, make: Callable[[int], tuple[dict[str, Any], dict[str, str]]], seconds: float = FILING_SECONDS
) -> tuple[list[float], list[str], float]:
    """POST filings at FILING_RATE per second for `seconds`, each at its fixed time whatever the
    server's pace; returns each request's latency from its scheduled time, the failures, and the
    seconds from the first scheduled request to the last answer."""
    total = int(FILING_RATE * seconds)
    latencies: list[float] = []
    failures: list[str] = []
    clients: list[httpx.Client] = []
    local = threading.local()
    done = [0.0]

    def file(n: int, at: float) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base, timeout=30)
            clients.append(local.http)
        body, headers = make(n)
        try:
            reply = local.http.post("/api/v1/observations", json=body, headers=headers)
            if reply.status_code != 201:
                failures.append(f"{reply.status_code} {reply.text[:200]}")
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finished = time.perf_counter()
        latencies.append(finished - at)
        done[0] = max(done[0], finished)

    start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(FILING_CLIENTS) as pool:
        for n in range(total):
            at = start + n / FILING_RATE
            time.sleep(max(0.0, at - time.perf_counter()))
            pool.submit(file, n, at)
    for http in clients:
        http.close()
    return sorted(latencies), failures, done[0] - start


def wait_for_sweepers(engine: Engine, count: int, timeout: float) -> None:
    """Until `count` processes have beaten their sweeping heartbeat in the last few seconds."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        recent = datetime.now(UTC) - timedelta(seconds=5)
        with engine.connect() as conn:
            beating = conn.execute(select(func.count()).where(WorkerHeartbeat.beat_at >= recent)).scalar_one()
        if beating >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"fewer than {count} processes sweeping after {timeout:.0f} s")


def wait_until_quiet(engine: Engine, timeout: float) -> None:
    """Until nothing is due: no deadline past its time still pending, no message waiting to be sent."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        now = datetime.now(UTC)
        due = select(func.count()).select_from(Deadline).where(Deadline.status == PENDING, Deadline.due_at <= now)
        unsent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_(("pending", "sending")))
        with engine.connect() as conn:
            if conn.execute(due).scalar_one() == 0 and conn.execute(unsent).scalar_one() == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the warm-up's work was not done after {timeout:.0f} s")


def wait_until_told(engine: Engine, timeout: float) -> None:
    """Until no escalation waits for its first step to be told (or `timeout` seconds)."""
    ends = time.monotonic() + timeout
    waiting = select(func.count()).select_from(Deadline).where(Deadline.kind == BEGIN, Deadline.status == PENDING)
    while time.monotonic() < ends:
        with engine.connect() as conn:
            if conn.execute(waiting).scalar_one() == 0:
                return
        time.sleep(0.5)


def told_lags(engine: Engine, prefix: str) -> tuple[list[float], int]:
    """Seconds from each bench filing to its escalation's first step-0 inbox item, and how many were never told."""
    step0 = (
        select(Notification.subject_id, func.min(Notification.created_at).label("told_at"))
        .where(Notification.subject_type == "escalation", Notification.data["step"].as_integer() == 0)
        .group_by(Notification.subject_id)
        .subquery()
    )
    stmt = (
        select(Observation.filed_at, step0.c.told_at)
        .join(step0, step0.c.subject_id == cast(Observation.escalation_id, String), isouter=True)
        .where(Observation.client_id.startswith(prefix), Observation.escalation_id.is_not(None))
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    lags = sorted((told - filed).total_seconds() for filed, told in rows if told is not None)
    return lags, sum(1 for _, told in rows if told is None)


def filing_run(var_dir: Path) -> FilingRun:
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    heads = dorm_heads(engine)
    env = {
        "RISKCONTROL_ENVIRONMENT": "test",
        "RISKCONTROL_DATABASE_URL": PG_URL,
        "RISKCONTROL_VAR_DIR": str(var_dir),
        "RISKCONTROL_SECRET_KEY": "bench-" + "k" * 40,
        "RISKCONTROL_RUN_WORKER_IN_PROCESS": "true",
        "RISKCONTROL_ARGON2_PROFILE": "cheapest",
    }
    prefix = f"promise-{uuid.uuid4().hex[:8]}-"
    with serving_processes("riskcontrol.app:create_served_app", 2, env) as base:
        # `python -c` rather than the console script, so the worker runs this checkout's code too.
        command = [sys.executable, "-c", "from riskcontrol.cli import main; main()", "worker"]
        worker = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
        try:
            tokens = sign_in(base, [u for u, _ in heads])
            observed_at = datetime.now(UTC).isoformat()

            def maker(client_prefix: str) -> Callable[[int], tuple[dict[str, Any], dict[str, str]]]:
                def make(n: int) -> tuple[dict[str, Any], dict[str, str]]:
                    user, unit = heads[n % len(heads)]
                    body = {
                        "client_id": f"{client_prefix}{n}",
                        "unit_id": unit,
                        "checklist": ["suicide_plan"],
                        "observed_at": observed_at,
                    }
                    return body, {"Authorization": f"Bearer {tokens[user]}"}

                return make

            # A server as it runs on the night: every process sweeping and past its first requests.
            wait_for_sweepers(engine, 3, timeout=60)
            open_loop(base, maker(f"warm-{prefix}"), WARMUP_SECONDS)
            wait_until_quiet(engine, timeout=180)
            latencies, failures, seconds = open_loop(base, maker(prefix))
            wait_until_told(engine, timeout=60)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    lags, never = told_lags(engine, prefix)
    statuses = outbox_statuses(engine)
    engine.dispose()
    return FilingRun(len(latencies), seconds, failures, latencies, lags, never, statuses)


def _spread(values: list[float]) -> str:
    if not values:
        return "no values"
    return f"p50 {statistics.median(values):.3f} s   p99 {percentile(values, 0.99):.3f} s   max {values[-1]:.3f} s"


def _verdict(values: list[float]) -> str:
    return "met" if values and percentile(values, 0.99) < TARGET_SECONDS else "MISSED"


def print_texting(runs: list[TextingRun]) -> None:
    print(f"\nDeadline lag while texting, PostgreSQL: {DEADLINES} deadlines due over 10 s, each queueing one text;")
    print("  2 worker processes (sweep, then dispatch: 16 sends at once per process), fake Twilio in the bench process")
    print(f"  {'provider':<20} {'fired':>13}  {'lag (target p99 < 2 s)':<52} {'texts':>6} {'twice':>6} {'peak':>5}  outbox")
    for run in runs:
        provider = f"answers after {run.delay:g} s" if run.delay else "answers at once"
        outbox = _outbox_line(run.outbox)
        fired = f"{len(run.lags)}/{DEADLINES}"
        print(
            f"  {provider:<20} {fired:>13}  {_spread(run.lags):<52} {run.received:>6} {run.received_twice:>6}"
            f" {run.peak_in_flight or '-':>5}  {outbox}"
        )
        late_start = "" if run.ready else "; the workers were NOT looping when the first deadline fell due"
        print(f"  {'':<20} p99 {_verdict(run.lags)}; texts received twice: {run.received_twice} (target 0){late_start}")
    print("  texts: messages the fake took; twice: bodies it took more than once; peak: most requests the slow one held at once")


def print_filing(run: FilingRun) -> None:
    print(
        f"\nFiling to first step told, PostgreSQL: red observations offered at {FILING_RATE:g}/s for {FILING_SECONDS:g} s"
        f" (open loop), after {WARMUP_SECONDS:g} s of the same not counted;"
    )
    print("  2 uvicorn processes, each also sweeping deadlines and sending the outbox, plus 1 `riskcontrol worker`")
    rate = run.sent / max(run.seconds, 1e-9)
    print(f"  filings answered: {run.sent} in {run.seconds:.1f} s ({rate:.1f}/s), not 201: {len(run.failures)}")
    if run.failures:
        print(f"    e.g. {run.failures[0]}")
    print(f"  filing request (from its scheduled time): {_spread(run.request_latencies)}")
    print(f"  filed_at to step-0 inbox items stored:   {_spread(run.told_lags)}   (target p99 < 2 s: {_verdict(run.told_lags)})")
    print(f"  escalations whose first step was never told: {run.never_told}")
    print(f"  outbox afterwards: {_outbox_line(run.outbox)}")


def main() -> None:
    try:
        texting = [texting_run(SLOW_PROVIDER), texting_run(0.0)]
    except Exception as exc:  # report an unreachable server instead of failing
        print(f"texting benchmark skipped: {type(exc).__name__}: {exc}")
    else:
        print_texting(texting)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            filing = filing_run(Path(tmp))
        except Exception as exc:
            print(f"filing benchmark skipped: {type(exc).__name__}: {exc}")
            return
    print_filing(filing)


if __name__ == "__main__":
    main()
