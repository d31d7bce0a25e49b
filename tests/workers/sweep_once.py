"""A worker process for tests: sweep all due deadlines once; each firing enqueues one outbox message."""

from __future__ import annotations

import sys

from sqlalchemy.orm import Session

from riskcontrol.core import outbox
from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers, SweepPolicy, sweep


def record_firing(db: Session, clock: Clock, deadline: Deadline) -> None:
    outbox.enqueue(db, clock, channel="test", payload={"deadline": deadline.id}, subject_type="deadline", subject_id=deadline.id)


def main(url: str, name: str) -> None:
    engine = make_engine(url)
    handlers = DeadlineHandlers()
    handlers.register("test.fire", record_firing)
    result = sweep(make_sessionmaker(engine), SystemClock(), handlers, worker=name, policy=SweepPolicy(batch=100))
    engine.dispose()
    print(f"{name} fired {result.fired}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
