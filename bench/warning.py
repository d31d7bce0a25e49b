"""Warning-stage benchmarks on PostgreSQL.

1. Observations filed per second through the API against a bare FastAPI endpoint that inserts one
   row per request on the same database; both served by uvicorn on loopback, in one process and in
   one process per core, driven by the same concurrent clients. A filing is triaged and stores the
   observation, its escalation, the escalation's opening event, the deadline that has the worker
   tell the first step, and the audit entry. The worker's share (notifications and outbox rows for
   the first step, then sending them) is measured afterwards on the same rows.
   Target: at least half the bare endpoint's rate.
2. Lag between `due_at` and firing for 10,000 deadlines falling due over 10 seconds, swept by two
   worker processes with the production loop. Target: p99 under 2 seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, insert, select, text

from bench.scope import prepare
from bench.serve import serving_processes
from riskcontrol.app import build_context
from riskcontrol.core import deadlines, dispatcher
from riskcontrol.core.db import make_engine
from riskcontrol.core.deadlines import Deadline
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import RoleAssignment, User
from riskcontrol.settings import Settings

PG_URL = os.environ.get("RISKCONTROL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/riskcontrol_bench")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
DEADLINES = int(os.environ.get("BENCH_DEADLINES", "10000"))
# Uvicorn worker processes for both servers alike, one configuration after the other: one process,
# and one per core (how the app is deployed). Each server runs apart from the load generator, so
# the clients' own work does not share a Python interpreter with the server it measures.
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_WORKERS", f"1,{os.cpu_count() or 2}").split(",")]
# Requests sent to each server before timing (token cache, prepared statements, pools).
WARMUP = int(os.environ.get("BENCH_WARMUP", "200"))


def bare_app(engine: Engine) -> FastAPI:
    """The baseline: parse JSON, insert one row, answer 201."""
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def bare(body: dict[str, Any]) -> dict[str, int]:
        with engine.begin() as conn:
            row = conn.execute(
                text("INSERT INTO bench_row (client_id, body) VALUES (:c, CAST(:b AS JSON)) RETURNING id"),
                {"c": str(body.get("client_id")), "b": json.dumps(body)},
            ).scalar_one()
        return {"id": int(row)}

    return app


def bare_factory() -> FastAPI:
    """The baseline app for `uvicorn --factory` (reads the database URL from the environment)."""
    return bare_app(make_engine(os.environ["RISKCONTROL_DATABASE_URL"]))


def drive(base: str, make: Callable[[int], tuple[str, dict[str, Any], dict[str, str]]], total: int) -> float:
    """Send `total` POSTs from CLIENTS threads; returns requests per second (all must be 2xx)."""
    counter = iter(range(total))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                path, body, headers = make(n)
                reply = http.post(path, json=body, headers=headers)
                if reply.status_code >= 300:
                    failures.append(f"{reply.status_code} {reply.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return total / elapsed


def dorm_heads(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.username, OrgUnit.id)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
            .where(RoleAssignment.role == "dorm_head")
        ).all()
    return [(r[0], r[1]) for r in rows]


def sign_in(base: str, usernames: list[str]) -> dict[str, str]:
    """A bearer token for each demo user named."""
    with httpx.Client(base_url=base) as http:
        return {
            u: http.post("/api/v1/auth/token", json={"username": u, "password": DEMO_PASSWORD}).json()["access_token"]
            for u in usernames
        }


def ingest(var_dir: Path, workers: int) -> list[tuple[str, float]]:
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_row"))
        conn.execute(
            text(
                "CREATE TABLE bench_row (id serial PRIMARY KEY, client_id text, body json, created_at timestamptz DEFAULT now())"
            )
        )
    heads = dorm_heads(engine)
    results = []
    env = {
        "RISKCONTROL_ENVIRONMENT": "test",
        "RISKCONTROL_DATABASE_URL": PG_URL,
        "RISKCONTROL_VAR_DIR": str(var_dir),
        "RISKCONTROL_SECRET_KEY": "bench-" + "k" * 40,
        "RISKCONTROL_RUN_WORKER_IN_PROCESS": "false",
    }
    with serving_processes("bench.warning:bare_factory", workers, env) as bare:

        def make_bare(n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
            return "/bare", {"client_id": f"bare-{uuid.uuid4().hex}", "checklist": ["long_isolation"], "note": "x"}, {}

        drive(bare, make_bare, WARMUP)
        results.append(("bare endpoint: insert one row (baseline)", drive(bare, make_bare, REQUESTS)))
    with serving_processes("riskcontrol.app:create_served_app", workers, env) as base:
        tokens = sign_in(base, [u for u, _ in heads])
        now = datetime.now(UTC).isoformat()
        for label, checklist in (
            ("yellow (one counsellor, in-app)", ["long_isolation", "eating_sleeping_change"]),
            ("red (two people, in-app + SMS, reminders)", ["suicide_plan"]),
        ):

            def make(n: int, checklist: list[str] = checklist) -> tuple[str, dict[str, Any], dict[str, str]]:
                user, unit = heads[n % len(heads)]
                body = {"client_id": f"bench-{uuid.uuid4().hex}", "unit_id": unit, "checklist": checklist, "observed_at": now}
                return "/api/v1/observations", body, {"Authorization": f"Bearer {tokens[user]}"}

            drive(base, make, WARMUP)
            results.append((f"observations API: {label}", drive(base, make, REQUESTS)))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_row"))
    engine.dispose()
    return results


def worker_catch_up(var_dir: Path) -> tuple[int, float, int, float]:
    """After the filing runs: one worker process tells the first step of every escalation filed
    (notifications and outbox rows), then dispatches the outbox (SMS to the console channel).
    Returns (escalations told, seconds, outbox messages sent, seconds)."""
    settings = Settings(
        environment="test", database_url=PG_URL, var_dir=var_dir, secret_key="bench-" + "k" * 40, run_worker_in_process=False
    )
    ctx = build_context(settings)
    start = time.perf_counter()
    told = deadlines.sweep(ctx.sessions, ctx.clock, ctx.deadline_handlers, worker="bench").fired
    telling = time.perf_counter() - start
    start = time.perf_counter()
    sent = 0
    while tried := dispatcher.dispatch(ctx.sessions, ctx.clock, ctx.channels):
        sent += tried
    ctx.engine.dispose()
    return told, telling, sent, time.perf_counter() - start


def schedule_due(engine: Engine, kind: str, count: int, start: datetime) -> None:
    """`count` pending deadlines of `kind` falling due evenly over the 10 s from `start`."""
    rows = [
        {
            "kind": kind,
            "subject_type": "bench",
            "subject_id": str(i),
            "due_at": start + timedelta(seconds=10 * i / count),
            "status": "pending",
            "payload": {},
            "created_at": datetime.now(UTC),
            "late": False,
            "attempts": 0,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Deadline), rows)


def fired_lags(engine: Engine, kind: str) -> list[float]:
    """Seconds from due to fired of every fired deadline of `kind`, smallest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(Deadline.due_at, Deadline.fired_at).where(Deadline.kind == kind)).all()
    return sorted((fired - due).total_seconds() for due, fired in rows if fired is not None)


def percentile(sorted_values: list[float], share: float) -> float:
    """The value below which `share` of the (sorted, non-empty) values lie."""
    return sorted_values[max(0, int(len(sorted_values) * share) - 1)]


def deadline_lag() -> tuple[float, float, float, int]:
    """p50, p99 and max lag in seconds for DEADLINES rows falling due over 10 s, two worker processes."""
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    start = datetime.now(UTC) + timedelta(seconds=3)
    schedule_due(engine, "bench.noop", DEADLINES, start)
    stop_at = (start + timedelta(seconds=25)).timestamp()
    workers = [subprocess.Popen([sys.executable, "-m", "bench.sweeper", PG_URL, f"bench-{i}", str(stop_at)]) for i in range(2)]
    for w in workers:
        w.wait(timeout=120)
    lags = fired_lags(engine, "bench.noop")
    engine.dispose()
    return statistics.median(lags), percentile(lags, 0.99), lags[-1], len(lags)


def main() -> None:
    for workers in dict.fromkeys(WORKER_COUNTS):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                rates = ingest(Path(tmp), workers)
            except Exception as exc:  # report an unreachable server instead of failing
                print(f"ingest benchmark skipped: {type(exc).__name__}: {exc}")
                return
        print(
            f"\nFiling on PostgreSQL: {REQUESTS} POSTs per case, {CLIENTS} concurrent clients, {workers} uvicorn process(es) each"
        )
        baseline = rates[0][1]
        for name, rate in rates:
            print(f"  {name:<62} {rate:>8.0f} req/s  ({rate / baseline:>4.0%} of baseline)")
        with tempfile.TemporaryDirectory() as tmp:
            told, telling, sent, sending = worker_catch_up(Path(tmp))
        print(f"  worker afterwards: first step told for {told} escalations in {telling:.1f} s ({told / telling:.0f}/s);")
        print(f"  {sent} outbox messages dispatched in {sending:.1f} s ({sent / max(sending, 1e-9):.0f}/s)")
    p50, p99, worst, fired = deadline_lag()
    print(f"\nDeadline lag on PostgreSQL: {fired} of {DEADLINES} fired by 2 worker processes (1 s loop)")
    print(f"  p50 {p50:.3f} s   p99 {p99:.3f} s   max {worst:.3f} s   (target p99 < 2 s)")


if __name__ == "__main__":
    main()
