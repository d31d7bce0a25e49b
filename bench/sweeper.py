"""A benchmark worker process: the production worker loop with a no-op handler, until a set time."""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers, sweep
from riskcontrol.core.worker import Worker


def noop(db: Session, clock: Clock, deadline: Deadline) -> None:
    """Fire and do nothing: the benchmark measures the sweeper, not a domain's reaction."""


def main(url: str, name: str, stop_at: float) -> None:
    engine = make_engine(url)
    handlers = DeadlineHandlers()
    handlers.register("bench.noop", noop)

    def sweep_job(sessions: sessionmaker[Session], clock: Clock) -> object:
        return sweep(sessions, clock, handlers, worker=name)

    worker = Worker(sessions=make_sessionmaker(engine), clock=SystemClock(), jobs=[("deadlines", sweep_job)], name=name)
    stop = threading.Event()
    threading.Timer(max(0.0, stop_at - time.time()), stop.set).start()
    worker.run_forever(stop, timedelta(seconds=1))
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
