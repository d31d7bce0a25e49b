"""The stage every fault plays on: services, the fake provider, a server that sweeps, a worker, a phone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import audit, migrations, outbox
from riskcontrol.core.clock import SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker, transaction
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.core.security import use_password_hashing
from riskcontrol.core.worker import WorkerHeartbeat
from riskcontrol.demo import seed_demo
from riskcontrol.escalation.models import Escalation, EscalationEvent
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import Student
from tests.fakes.fake_twilio import FakeTwilio
from tests.faults.phone import Phone
from tests.faults.services import FaultyRedis, PostgresCluster, services
from tests.faults.system import ACK_WITHIN_SECONDS, AUDIT_KEY, Process, System, short_sop, start_together
from tests.faults.tally import Run, Text

RED = ["suicide_plan"]
BLUE = ["sudden_mood_change"]
# Red climbs tell the class, the college at one window and the school at two.
CLIMB_SECONDS = 2 * ACK_WITHIN_SECONDS


@dataclass
class Stage:
    """Everything a fault needs to reach: the services, the processes, the phone, the database."""

    root: Path
    cluster: PostgresCluster
    redis: FaultyRedis
    twilio: FakeTwilio
    system: System
    sessions: sessionmaker[Session]
    front: Process  # the server the phone talks to; it does not sweep
    server: Process  # a second server, sweeping as every server does by default
    worker: Process
    phone: Phone
    room_id: int
    student_id: int
    runs: list[Run] = field(default_factory=list)
    dead_claimants: list[str] = field(default_factory=list)

    def file(self, run: Run, number: int, checklist: list[str] | None = None) -> int | None:
        """File observation `number` of this run (red unless told otherwise); its escalation's id."""
        client_id = f"{run.prefix}-{number:03d}"
        stored = self.phone.file(client_id, unit_id=self.room_id, student_id=self.student_id, checklist=checklist or RED)
        if stored is None:
            run.never_answered.append(client_id)
            return None
        escalation_id = stored.get("escalation_id")
        return None if escalation_id is None else int(escalation_id)

    def school_told(self, escalation_ids: list[int]) -> bool:
        with self.sessions() as db:
            told = db.execute(
                select(func.count(func.distinct(EscalationEvent.escalation_id))).where(
                    EscalationEvent.escalation_id.in_(escalation_ids), EscalationEvent.kind == "step", EscalationEvent.step == 2
                )
            ).scalar_one()
        return int(told) == len(escalation_ids)

    def provider_has_its_text(self, process: Process) -> bool:
        """Whether `process` is mid-send: the provider has taken a text it claimed and not yet answered."""
        with self.sessions() as db:
            bodies = db.execute(
                select(OutboxMessage.payload).where(
                    OutboxMessage.status == outbox.SENDING, OutboxMessage.claimed_by.startswith(f"{_host()}:{process.pid}:")
                )
            ).scalars()
            claimed = {str(payload.get("body")) for payload in bodies}
        return any(body in claimed for _, _, body in self.texts())

    def wait_for_heartbeat(self, process: Process, timeout: float = 30) -> datetime:
        """Until `process` has finished a worker round (swept and dispatched); when it had."""
        name = f"{_host()}:{process.pid}"
        found: list[datetime] = []

        def beat() -> bool:
            with self.sessions() as db:
                at = db.get(WorkerHeartbeat, name)
                found[:] = [at.beat_at] if at else []
            return bool(found)

        wait_until(beat, timeout, f"{process.name} never swept")
        return found[0]

    def settle(self, run: Run, timeout: float = 30) -> None:
        """Acknowledge the run's climbs (so they stop), then wait until nothing is left to send but
        what dead processes hold (their claims expire, and are counted at the end)."""
        with self.sessions() as db:
            open_ids = db.execute(
                select(Escalation.id)
                .join(Observation, Observation.escalation_id == Escalation.id)
                .where(Observation.client_id.startswith(run.prefix), Escalation.status == "open")
            ).scalars()
            for escalation_id in list(open_ids):
                self.phone.acknowledge(escalation_id)
        wait_until(lambda: self.unsettled(live_only=True) == 0, timeout, "the outbox did not settle")

    def unsettled(self, *, live_only: bool) -> int:
        """Messages waiting or being sent (leaving out those that dead processes hold, with `live_only`)."""
        held = [OutboxMessage.claimed_by.startswith(name) for name in self.dead_claimants]
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_([outbox.PENDING, outbox.SENDING]))
        if live_only and held:
            stmt = stmt.where(~or_(*held) | OutboxMessage.claimed_by.is_(None))
        with self.sessions() as db:
            return int(db.execute(stmt).scalar_one())

    def wait_for_retries(self, timeout: float = 30) -> None:
        """Until no message waits for a retry (the provider is back: they go out before anyone acknowledges)."""
        stmt = (
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == outbox.PENDING, OutboxMessage.attempts > 0)
        )

        def none_waiting() -> bool:
            with self.sessions() as db:
                return int(db.execute(stmt).scalar_one()) == 0

        wait_until(none_waiting, timeout, "retried messages did not go out")

    def killed(self, process: Process) -> None:
        """Remember a process killed mid-send: its claims wait for their lease to run out."""
        self.dead_claimants.append(f"{_host()}:{process.pid}:")

    def texts(self) -> list[Text]:
        with self.twilio.lock:
            return [(m["Sid"], m["To"], m["Body"]) for m in self.twilio.messages]


def _host() -> str:
    import socket

    return socket.gethostname()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() > ends:
            raise TimeoutError(what)
        time.sleep(0.2)


def now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def stage(root: Path) -> Iterator[Stage]:
    """Services, a seeded demo campus, the fake provider, one sweeping server and one worker."""
    use_password_hashing("cheapest")
    short_sop(root / "sop")
    with services(root) as (cluster, redis_server), FakeTwilio() as twilio:
        migrations.upgrade(cluster.url)
        engine = make_engine(cluster.url)
        sessions = audit.keyed(make_sessionmaker(engine), AUDIT_KEY.encode())
        with transaction(sessions) as db:
            seed_demo(db, SystemClock())
            room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
            student = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
            assert student is not None
            room_id, student_id = room.id, student.id
        system = System(root, cluster.url, redis_server.url, twilio.base_url)
        front, server = system.server("front", sweeps=False), system.server("server", sweeps=True)
        worker = system.worker("worker")
        phone = Phone("")
        try:
            start_together(front, server, worker)
            assert front.base is not None
            phone = Phone(front.base)
            yield Stage(root, cluster, redis_server, twilio, system, sessions, front, server, worker, phone, room_id, student_id)
        finally:
            phone.close()
            system.stop_all()
            engine.dispose()
