"""A benchmark worker process: the production loop (sweeping, and the outbox dispatcher beside it) whose deadlines
each queue one text to a Twilio endpoint, until a set time."""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import outbox
from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers, SweepPolicy, sweep
from riskcontrol.core.dispatcher import Dispatcher
from riskcontrol.core.outbox import Channels
from riskcontrol.core.worker import Worker
from riskcontrol.notify.senders import SmsSender
from riskcontrol.notify.service import SMS
from riskcontrol.notify.sms import TwilioSmsChannel
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

KIND = "bench.text"
FROM_NUMBER = "+8613900000000"


def text_body(deadline_id: int) -> str:
    """The text a deadline queues; unique, so the provider's log shows any text sent twice."""
    return f"bench deadline {deadline_id}"


def phone(deadline_id: int) -> str:
    """One recipient per deadline, as when each promise concerns its own person."""
    return f"+86138{deadline_id % 10**8:08d}"


def queue_text(db: Session, clock: Clock, deadline: Deadline) -> None:
    """Fire by queueing one SMS in the firing's transaction, as the escalation's handlers do."""
    payload = {"body": text_body(deadline.id)}
    outbox.enqueue(
        db, clock, channel=SMS, address=phone(deadline.id), payload=payload, subject_type="bench", subject_id=deadline.id
    )


def main(url: str, name: str, stop_at: float, api_base: str) -> None:
    engine = make_engine(url)
    sessions, clock = make_sessionmaker(engine), SystemClock()
    handlers = DeadlineHandlers()
    handlers.register(KIND, queue_text)
    sms = TwilioSmsChannel(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base=api_base)
    texts = SmsSender(sms, None)
    channels = Channels()
    channels.register(SMS, texts, reconcile=texts.reconcile)
    worker = Worker(sessions=sessions, clock=clock, name=name)
    sender = Dispatcher(sessions, clock, channels, name=f"{name}:outbox")
    worker.closers.append(sender.close)

    def sweep_job(sessions: sessionmaker[Session], clock: Clock) -> object:
        return sweep(sessions, clock, handlers, worker=name, policy=SweepPolicy(max_seconds=1.0))

    # As `riskcontrol.app.build_worker` loops: the dispatcher in a thread of its own beside the sweep.
    worker.jobs = [("deadlines", sweep_job)]
    worker.loops.append(lambda stop: sender.run_forever(stop, behind=worker.behind))
    stop = threading.Event()
    threading.Timer(max(0.0, stop_at - time.time()), stop.set).start()
    worker.run_forever(stop, timedelta(seconds=1))
    sms.close()
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
