"""Integration fixtures: a night on the demo campus with a manual clock and a fake Twilio server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import build_worker, create_app
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.worker import Worker
from riskcontrol.demo import DEMO_PASSWORD, seed_demo
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Student, User
from riskcontrol.settings import Settings
from tests.conftest import START, from_snapshot
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TEN_PM = START  # 22:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS_URL = "http://testserver/api/v1/notify/twilio/status"


@dataclass
class Night:
    client: TestClient
    app: FastAPI
    worker: Worker
    clock: ManualClock
    twilio: FakeTwilio
    sessions: sessionmaker[Session]
    signed_in: dict[str, tuple[datetime, dict[str, str]]] = field(default_factory=dict)

    def at(self, hh_mm: str) -> None:
        """Move the clock to hh:mm Shanghai time tonight and let the worker do one round."""
        hours, minutes = (int(x) for x in hh_mm.split(":"))
        self.clock.set(TEN_PM + timedelta(hours=hours - 22, minutes=minutes))
        self.worker.run_once()

    def token(self, username: str) -> dict[str, str]:
        """A bearer header for `username`: signed in once, and again when the clock has left the hour after."""
        now = self.clock.now()
        held = self.signed_in.get(username)
        if held is None or not held[0] <= now <= held[0] + timedelta(hours=1):
            reply = self.client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            held = self.signed_in[username] = (now, {"Authorization": f"Bearer {reply.json()['access_token']}"})
        return held[1]

    def user(self, username: str) -> User:
        with self.sessions() as db:
            found = db.execute(select(User).where(User.username == username)).scalar_one()
            db.expunge(found)
            return found


@contextmanager
def a_night(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path, clock: ManualClock | None = None, **overrides: Any
) -> Iterator[Night]:
    """The demo campus at 22:00 with the app and its worker, on `clock` (a new one at 22:00 by default);
    `overrides` are further settings."""
    from_snapshot(sessions, "demo", lambda db: seed_demo(db, ManualClock(TEN_PM)))
    clock = clock or ManualClock(TEN_PM)
    assert clock.now() == TEN_PM
    with FakeTwilio(clock=clock) as twilio:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "var_dir": tmp_path / "var",
            "secret_key": "scenario-" + "k" * 40,
            "run_worker_in_process": False,
            "sms_backend": "twilio",
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": "+8610690000",
            "twilio_api_base": twilio.base_url,
            "public_base_url": "http://testserver",
        }
        settings = Settings(**(values | overrides))
        app = create_app(settings, clock=clock)
        with TestClient(app) as client:
            yield Night(client, app, build_worker(app.state.ctx), clock, twilio, sessions)


@pytest.fixture
def night(sessions: sessionmaker[Session], database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Night]:
    """The night on the test's clock, which a live server in the same test shares."""
    with a_night(sessions, database_url, tmp_path, clock) as it:
        yield it


def file_observation(night: Night, checklist: tuple[str, ...], *, client_id: str = "phone-7f3a-0001") -> dict[str, Any]:
    """The dorm head of E1-101 files about her first roommate; returns the API's answer."""
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        roommate = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert roommate is not None
        room_id, student_id = room.id, roommate.id
    reply = night.client.post(
        "/api/v1/observations",
        headers=night.token("dorm_e1_101"),
        json={
            "client_id": client_id,
            "unit_id": room_id,
            "student_id": student_id,
            "checklist": list(checklist),
            "note": "她说今晚想结束一切，桌上有药瓶",
            "observed_at": night.clock.now().isoformat(),
        },
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def file_red_observation(night: Night) -> dict[str, Any]:
    """A red observation (a suicide plan) from the dorm head of E1-101."""
    body = file_observation(night, ("suicide_plan",))
    assert body["level"] == "red"
    return body
