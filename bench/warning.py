"""Warning-stage benchmarks on PostgreSQL.

1. Observations filed per second through the API (triage, escalation, notification, deadline and
   outbox rows, audit) against a bare FastAPI endpoint that inserts one row per request on the same
   database; both served by uvicorn on loopback and driven by the same concurrent clients.
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
from bench.serve import serving, serving_processes
from riskcontrol.app import create_app
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
# Uvicorn worker processes for both servers alike (1: one process, as the embedded default).
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))


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


def ingest(var_dir: Path) -> list[tuple[str, float]]:
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_row"))
        conn.execute(
            text(
                "CREATE TABLE bench_row (id serial PRIMARY KEY, client_id text, body json, created_at timestamptz DEFAULT now())"
            )
        )
    settings = Settings(
        environment="test", database_url=PG_URL, var_dir=var_dir, secret_key="bench-" + "k" * 40, run_worker_in_process=False
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
    bare_server = serving_processes("bench.warning:bare_factory", WORKERS, env) if WORKERS > 1 else serving(bare_app(engine))
    app_server = serving_processes("riskcontrol.app:create_app", WORKERS, env) if WORKERS > 1 else serving(create_app(settings))
    with bare_server as bare:
        rate = drive(
            bare, lambda n: ("/bare", {"client_id": f"bare-{n}", "checklist": ["long_isolation"], "note": "x"}, {}), REQUESTS
        )
        results.append(("bare endpoint: insert one row (baseline)", rate))
    with app_server as base:
        with httpx.Client(base_url=base) as http:
            tokens = {
                u: http.post("/api/v1/auth/token", json={"username": u, "password": DEMO_PASSWORD}).json()["access_token"]
                for u, _ in heads
            }
        now = datetime.now(UTC).isoformat()
        for label, checklist in (
            ("yellow (one counsellor, in-app)", ["long_isolation", "eating_sleeping_change"]),
            ("red (two people, in-app + SMS, reminders)", ["suicide_plan"]),
        ):

            def make(n: int, checklist: list[str] = checklist) -> tuple[str, dict[str, Any], dict[str, str]]:
                user, unit = heads[n % len(heads)]
                body = {"client_id": f"bench-{uuid.uuid4().hex}", "unit_id": unit, "checklist": checklist, "observed_at": now}
                return "/api/v1/observations", body, {"Authorization": f"Bearer {tokens[user]}"}

            results.append((f"observations API: {label}", drive(base, make, REQUESTS)))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_row"))
    engine.dispose()
    return results


def deadline_lag() -> tuple[float, float, float, int]:
    """p50, p99 and max lag in seconds for DEADLINES rows falling due over 10 s, two worker processes."""
    prepare(PG_URL)
    engine = make_engine(PG_URL)
    start = datetime.now(UTC) + timedelta(seconds=3)
    rows = [
        {
            "kind": "bench.noop",
            "subject_type": "bench",
            "subject_id": str(i),
            "due_at": start + timedelta(seconds=10 * i / DEADLINES),
            "status": "pending",
            "payload": {},
            "created_at": datetime.now(UTC),
            "late": False,
            "attempts": 0,
        }
        for i in range(DEADLINES)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Deadline), rows)
    stop_at = (start + timedelta(seconds=25)).timestamp()
    workers = [subprocess.Popen([sys.executable, "-m", "bench.sweeper", PG_URL, f"bench-{i}", str(stop_at)]) for i in range(2)]
    for w in workers:
        w.wait(timeout=120)
    with engine.connect() as conn:
        lags = [
            (fired - due).total_seconds()
            for due, fired in conn.execute(select(Deadline.due_at, Deadline.fired_at).where(Deadline.kind == "bench.noop")).all()
            if fired is not None
        ]
    engine.dispose()
    lags.sort()
    return statistics.median(lags), lags[int(len(lags) * 0.99) - 1], lags[-1], len(lags)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            rates = ingest(Path(tmp))
        except Exception as exc:  # report an unreachable server instead of failing
            print(f"ingest benchmark skipped: {type(exc).__name__}: {exc}")
            return
    print(f"\nFiling on PostgreSQL: {REQUESTS} POSTs per case, {CLIENTS} concurrent clients, {WORKERS} uvicorn process(es) each")
    baseline = rates[0][1]
    for name, rate in rates:
        print(f"  {name:<62} {rate:>8.0f} req/s  ({rate / baseline:>4.0%} of baseline)")
    p50, p99, worst, fired = deadline_lag()
    print(f"\nDeadline lag on PostgreSQL: {fired} of {DEADLINES} fired by 2 worker processes (1 s loop)")
    print(f"  p50 {p50:.3f} s   p99 {p99:.3f} s   max {worst:.3f} s   (target p99 < 2 s)")


if __name__ == "__main__":
    main()
