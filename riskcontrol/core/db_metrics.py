"""Metrics read from the database at scrape time: outbox depth, messages never sent, the age of the last sweep.

These must be right across every server and worker process, so they are counted from the rows that
all processes share rather than kept in any one process's memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import outbox
from riskcontrol.core.clock import Clock
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.core.worker import latest_heartbeat

log = logging.getLogger(__name__)

QUEUED = (outbox.PENDING, outbox.SENDING)
# A message the dispatcher gave up on, or one that no longer mattered (the outbox's `dropped` status).
UNSENT = (outbox.FAILED, outbox.DROPPED)


class DatabaseCollector:
    """Counts outbox rows by channel and status, and the age of the newest worker heartbeat, on each scrape."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, channels: Iterable[str] = ()) -> None:
        self.sessions, self.clock = sessions, clock
        # The channels always shown, at 0 when nothing waits: a series that vanishes cannot be graphed or alerted on.
        self.channels = tuple(channels)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "riskcontrol_outbox_depth",
            "Outbox messages waiting to be sent or being sent, by channel and status.",
            labels=["channel", "status"],
        )
        unsent = GaugeMetricFamily(
            "riskcontrol_outbox_unsent_messages",
            "Outbox messages that will never be sent, by channel and status (failed: given up; dropped: no longer mattered).",
            labels=["channel", "status"],
        )
        sweep_age = GaugeMetricFamily(
            "riskcontrol_last_sweep_age_seconds",
            "Seconds since any worker process last finished a round of deadline sweep and outbox dispatch.",
        )
        up = GaugeMetricFamily("riskcontrol_metrics_database_up", "1 when this scrape could read the database, else 0.")
        try:
            with self.sessions() as db:
                counts = db.execute(
                    select(OutboxMessage.channel, OutboxMessage.status, func.count())
                    .where(OutboxMessage.status.in_(QUEUED + UNSENT))
                    .group_by(OutboxMessage.channel, OutboxMessage.status)
                ).all()
                beat = latest_heartbeat(db)
        except Exception:  # a scrape still reports the process's own figures when the database is away
            log.warning("metrics could not read the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        found = {(channel, status): count for channel, status, count in counts}
        for channel in self.channels:
            for status in QUEUED + UNSENT:
                found.setdefault((channel, status), 0)
        for (channel, status), count in sorted(found.items()):
            (depth if status in QUEUED else unsent).add_metric([channel, status], count)
        # Absent until a worker has beaten once: an age of "never" has no number.
        if beat is not None:
            sweep_age.add_metric([], max((self.clock.now() - beat).total_seconds(), 0.0))
        up.add_metric([], 1)
        yield from (depth, unsent, sweep_age, up)
