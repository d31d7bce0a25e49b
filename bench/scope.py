"""Cost of authentication and grid scope on reads, against a bare endpoint on the same database.

Seeds the demo campus (2,400 students) on SQLite and, when reachable, on PostgreSQL, then times
scoped API reads in process and a bare FastAPI endpoint that selects the same page of students
without any auth or scope. Prints median / p95 latency and requests per second.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, make_url, text

from riskcontrol.app import create_app
from riskcontrol.core import migrations
from riskcontrol.core.clock import SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker, transaction
from riskcontrol.demo import DEMO_PASSWORD, seed_demo
from riskcontrol.settings import Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))
PG_URL = os.environ.get("RISKCONTROL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/riskcontrol_bench")


def prepare(url: str) -> None:
    """An empty schema at head, then the demo campus."""
    target = make_url(url)
    if target.get_backend_name() == "postgresql":
        admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": target.database}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
        admin.dispose()
    engine = make_engine(url)
    existing = MetaData()
    existing.reflect(bind=engine)
    existing.drop_all(bind=engine)
    migrations.upgrade(url)
    with transaction(make_sessionmaker(engine)) as db:
        seed_demo(db, SystemClock())
    engine.dispose()


def timed(call: Callable[[], object], rounds: int = ROUNDS) -> tuple[float, float, float]:
    """Median and p95 latency in ms, and requests per second, after a short warm-up."""
    for _ in range(10):
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], 1000 * len(samples) / sum(samples)


def bare_app(url: str) -> FastAPI:
    """The baseline: one endpoint selecting a page of students, no auth, no scope, no audit."""
    engine = make_engine(url)
    app = FastAPI()

    @app.get("/students")
    def students() -> list[dict[str, object]]:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, student_no, name, gender, class_id, dorm_id FROM student ORDER BY student_no LIMIT 100")
            )
            return [dict(r._mapping) for r in rows]

    return app


def run_backend(label: str, url: str, var_dir: Path) -> list[tuple[str, str, float, float, float]]:
    prepare(url)
    settings = Settings(
        environment="test", database_url=url, var_dir=var_dir, secret_key="bench-" + "k" * 40, run_worker_in_process=False
    )
    results = []
    with TestClient(create_app(settings)) as client, TestClient(bare_app(url)) as bare:

        def token(username: str) -> dict[str, str]:
            reply = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            return {"Authorization": f"Bearer {reply.json()['access_token']}"}

        counselor, affairs, dorm_head = token("counselor_cs"), token("affairs"), token("dorm_e1_101")
        cases: list[tuple[str, Callable[[], object]]] = [
            ("bare endpoint: 100 students, no auth/scope (baseline)", lambda: bare.get("/students")),
            (
                "students?limit=100 as student affairs (whole school)",
                lambda: client.get("/api/v1/people/students?limit=100", headers=affairs),
            ),
            (
                "students?limit=100 as counsellor (his classes)",
                lambda: client.get("/api/v1/people/students?limit=100", headers=counselor),
            ),
            ("students as dorm head (one room)", lambda: client.get("/api/v1/people/students", headers=dorm_head)),
            ("grid/units as student affairs (all units)", lambda: client.get("/api/v1/grid/units", headers=affairs)),
        ]
        for name, call in cases:
            results.append((label, name, *timed(call)))
    return results


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp) / "var")
        try:
            rows += run_backend("PostgreSQL", PG_URL, Path(tmp) / "var")
        except Exception as exc:  # the bench reports an unreachable server instead of failing
            print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")
    print(f"\nScoped reads vs bare endpoint ({ROUNDS} requests each, in-process ASGI client)")
    print(f"{'backend':<11} {'case':<56} {'median ms':>10} {'p95 ms':>8} {'req/s':>8}")
    for backend, name, median, p95, rps in rows:
        print(f"{backend:<11} {name:<56} {median:>10.2f} {p95:>8.2f} {rps:>8.0f}")


if __name__ == "__main__":
    main()
