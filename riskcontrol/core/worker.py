"""The background worker: runs registered jobs (sweeper, dispatcher) in a loop and beats a heartbeat."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base, UTCDateTime, transaction

log = logging.getLogger(__name__)

# A job gets the session factory: it commits in units that suit it (the sweeper, one batch at a time).
Job = Callable[[sessionmaker[Session], Clock], object]


class WorkerHeartbeat(Base):
    """The last time each worker process finished a loop; /readyz and the board read it."""

    __tablename__ = "worker_heartbeat"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass
class Worker:
    """Runs each job in turn, then records a heartbeat; one failing job spares the rest."""

    sessions: sessionmaker[Session]
    clock: Clock
    jobs: list[tuple[str, Job]] = field(default_factory=list)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    # Run once the loop stops (the dispatcher's pools finish their sends).
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Loops of their own that `run_forever` starts in threads beside the rounds (the dispatcher).
    loops: list[Callable[[threading.Event], None]] = field(default_factory=list)
    # True inside `run_forever`: jobs then start slow work and return, instead of waiting for it.
    running: bool = False
    # Set while the last round had the climb's rows to fire, or left some: loops beside it hold back.
    behind: threading.Event = field(default_factory=threading.Event)

    def run_once(self) -> bool:
        """One round of every job, then the heartbeat; True when a job stopped with work left that
        cannot wait (the climb's rows, a sweep at its time limit), so the next round should follow at
        once. A round that left such work or fired any (`busy`: red reports coming in) sets `behind`
        until a round ends with neither."""
        again = busy = False
        for job_name, job in self.jobs:
            try:
                result = job(self.sessions, self.clock)
            except Exception:
                log.exception("worker job %s failed", job_name)
                continue
            again = again or bool(getattr(result, "again", False))
            busy = busy or bool(getattr(result, "busy", False))
        with transaction(self.sessions) as db:
            beat = db.get(WorkerHeartbeat, self.name)
            if beat is None:
                db.add(WorkerHeartbeat(name=self.name, beat_at=self.clock.now()))
            else:
                beat.beat_at = self.clock.now()
        if again or busy:
            self.behind.set()
        else:
            self.behind.clear()
        return again

    def run_forever(self, stop: threading.Event, interval: timedelta) -> None:
        """Loop until `stop` is set, waiting `interval` (real time) between rounds."""
        self.running = True
        threads = [
            threading.Thread(target=loop, args=(stop,), daemon=True, name=f"worker-loop-{i}") for i, loop in enumerate(self.loops)
        ]
        for thread in threads:
            thread.start()
        try:
            while not stop.is_set():
                again = False
                try:
                    again = self.run_once()
                except Exception:
                    log.exception("worker round failed")
                if not again:
                    pause(stop, interval.total_seconds())
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            self.running = False
            for close in self.closers:
                close()


# Short relative sleeps, not `stop.wait(seconds)`: a timed lock wait hands the kernel an absolute
# monotonic deadline, which libfaketime (`make test-future`) moves 400 days on, and the loop never
# wakes. A stop is seen within one slice.
PAUSE_SLICE = 0.05


def pause(stop: threading.Event, seconds: float, *, wake: threading.Event | None = None) -> None:
    """Wait `seconds`, or less once `stop` (or `wake`) is set."""
    ends = time.monotonic() + seconds
    while not stop.is_set() and not (wake is not None and wake.is_set()) and (left := ends - time.monotonic()) > 0:
        time.sleep(min(left, PAUSE_SLICE))


def latest_heartbeat(db: Session) -> datetime | None:
    return db.execute(select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)).scalar_one_or_none()
