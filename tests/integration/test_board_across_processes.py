"""The live board across two server processes sharing PostgreSQL and Redis, and through a Redis outage.

Process A takes the requests, process B serves a board screen. A transition made through A reaches
B's screen; with Redis stopped, a red observation still climbs (the worker runs from the database),
the incident still moves and B's screen, still open, is told to re-sync from the database; when Redis
is back, B tells its screen to re-sync again and its board shows what changed meanwhile. The test
runs its own `redis-server`, so that it can stop and restart it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import ClientConnection, connect

from bench.serve import RedisProcess, private_redis, serving_apps
from riskcontrol.core.clock import SystemClock
from riskcontrol.core.deadlines import Deadline
from riskcontrol.demo import DEMO_PASSWORD, seed_demo
from riskcontrol.escalation.service import BEGIN
from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Student
from tests.conftest import TEST_DB_ENV

REDIS_SERVER = shutil.which("redis-server")


# Two server processes share one database and one Redis: that is the PostgreSQL + Redis pass of
# `make test` (test-postgres). The SQLite pass runs every process on its own file, so it skips here.
_ON_POSTGRES_PASS = os.environ.get(TEST_DB_ENV, "").startswith("postgresql") and bool(
    os.environ.get("RISKCONTROL_TEST_REDIS_URL")
)
pytestmark = pytest.mark.skipif(
    not _ON_POSTGRES_PASS,
    reason=f"runs in the PostgreSQL + Redis pass of `make test` (set {TEST_DB_ENV} and RISKCONTROL_TEST_REDIS_URL)",
)

BOARD_SOCKET = "/ws/board"
WAIT = 10.0


class Server:
    """One server process, spoken to as one user."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.http = httpx.Client(base_url=base, timeout=WAIT, headers={"Authorization": f"Bearer {token}"})

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def fire(self, incident_id: int, trigger: str) -> dict[str, Any]:
        reply = self.http.post(f"/api/v1/incidents/{incident_id}/transitions/{trigger}", json={"confirm": True})
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    @contextmanager
    def board_socket(self) -> Iterator[ClientConnection]:
        """A board screen, past its snapshot."""
        url = self.base.replace("http://", "ws://", 1) + BOARD_SOCKET
        with connect(url, additional_headers={"Authorization": f"Bearer {self.token}"}) as screen:
            assert json.loads(screen.recv(timeout=WAIT))["type"] == "snapshot"
            yield screen


def sign_in(base: str, username: str) -> str:
    reply = httpx.post(base + "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}, timeout=WAIT)
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["access_token"]
    return token


def next_message(screen: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first message on `screen` that is `wanted`, skipping others, within WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        message: dict[str, Any] = json.loads(screen.recv(timeout=max(0.01, deadline - time.monotonic())))
        if wanted(message):
            return message


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.1)


def subscribers(server: RedisProcess, channel: str) -> int:
    client = redis.Redis.from_url(server.url)
    try:
        counts = client.pubsub_numsub(channel)
    finally:
        client.close()
    return int(counts[0][1])


@pytest.fixture
def campus(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The demo campus, seeded by the real clock the server processes use."""
    with sessions() as db:
        seed_demo(db, SystemClock())
        db.commit()
    return sessions


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    if REDIS_SERVER is None:
        # `make test` installs redis-server: on the PostgreSQL pass its absence is a failure, not a skip.
        pytest.fail("redis-server is not on PATH; run `make test` (it installs Debian's redis-server)")
    with private_redis(REDIS_SERVER) as server:
        yield server


@pytest.fixture
def two_servers(
    campus: sessionmaker[Session], database_url: str, redis_server: RedisProcess, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """Processes A and B on the test database and the private Redis, each running the worker loop."""
    env = {
        "RISKCONTROL_ENVIRONMENT": "test",
        "RISKCONTROL_DATABASE_URL": database_url,
        "RISKCONTROL_REDIS_URL": redis_server.url,
        "RISKCONTROL_SECRET_KEY": "two-processes-" + "k" * 40,
        "RISKCONTROL_RUN_WORKER_IN_PROCESS": "true",
    }
    envs = [{**env, "RISKCONTROL_VAR_DIR": str(tmp_path / name)} for name in ("a", "b")]
    with serving_apps("riskcontrol.app:create_app", envs) as (a, b):
        yield a, b


def open_incident(server: Server, sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as db:
        class_id = db.execute(select(OrgUnit.id).where(OrgUnit.code == "CS2301")).scalar_one()
    body = {"type": "missing_student", "level": "II", "title": "学生晚归未归、电话无法接通", "unit_id": class_id}
    reply = server.http.post("/api/v1/incidents", json=body)
    assert reply.status_code == 201, reply.text
    incident: dict[str, Any] = reply.json()
    return incident


def file_red_observation(base: str, sessions: sessionmaker[Session]) -> int:
    """The dorm head of E1-101 reports a suicide plan; returns the escalation's id."""
    with sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        roommate = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert roommate is not None
        body = {
            "client_id": "phone-outage-0001",
            "unit_id": room.id,
            "student_id": roommate.id,
            "checklist": ["suicide_plan"],
            "note": "她说今晚想结束一切",
            "observed_at": datetime.now(UTC).isoformat(),
        }
    headers = {"Authorization": f"Bearer {sign_in(base, 'dorm_e1_101')}"}
    reply = httpx.post(base + "/api/v1/observations", json=body, headers=headers, timeout=WAIT)
    assert reply.status_code == 201, reply.text
    assert reply.json()["level"] == "red"
    escalation_id: int = reply.json()["escalation_id"]
    return escalation_id


def first_step_told(sessions: sessionmaker[Session], escalation_id: int) -> bool:
    with sessions() as db:
        begun = db.execute(
            select(Deadline.status).where(Deadline.kind == BEGIN, Deadline.subject_id == str(escalation_id))
        ).scalar_one()
        told = db.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.subject_type == "escalation", Notification.subject_id == str(escalation_id))
        ).scalar_one()
    return begun == "fired" and told > 0


def test_a_change_through_one_process_reaches_the_other_and_survives_a_redis_outage(
    two_servers: tuple[str, str], redis_server: RedisProcess, campus: sessionmaker[Session]
) -> None:
    base_a, base_b = two_servers
    token = sign_in(base_a, "response1")
    with Server(base_a, token) as a, Server(base_b, token) as b, b.board_socket() as screen:
        # B's one subscription to the board is made when its first screen connects.
        eventually(lambda: subscribers(redis_server, "board") == 1)
        incident = open_incident(a, campus)

        moved = a.fire(incident["id"], "take_control")
        pushed = next_message(screen, lambda m: m.get("type") == "incident" and m["seq"] == moved["seq"])
        assert pushed["incident_id"] == incident["id"]
        assert pushed["incident"]["state"] == "on_site_control"

        redis_server.stop()
        escalation_id = file_red_observation(base_a, campus)
        assert a.fire(incident["id"], "verify")["state"] == "verification"
        eventually(lambda: first_step_told(campus, escalation_id))
        # B's screen stays open and hears of the change from the database: it is told to re-sync.
        assert next_message(screen, lambda m: m.get("type") != "incident") == {"type": "resync"}
        board = b.http.get("/api/v1/board")
        assert board.status_code == 200, board.text
        assert next(i for i in board.json()["incidents"] if i["id"] == incident["id"])["state"] == "verification"

        redis_server.start()
        eventually(lambda: subscribers(redis_server, "board") == 1)
        # Subscribed again: the screen is told to re-sync, since whatever was published meanwhile is lost.
        assert next_message(screen, lambda m: m.get("type") != "incident") == {"type": "resync"}
        board = b.http.get("/api/v1/board")
        assert board.status_code == 200, board.text
        shown = next(i for i in board.json()["incidents"] if i["id"] == incident["id"])
        assert shown["state"] == "verification"

        # And the board is live again.
        moved = a.fire(incident["id"], "report_to_leaders")
        pushed = next_message(screen, lambda m: m.get("type") == "incident" and m["seq"] == moved["seq"])
        assert pushed["incident"]["state"] == "leaders_informed"
