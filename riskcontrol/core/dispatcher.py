"""Sending the outbox apart from the deadline sweep: each channel in its own pool, each send on its own.

A round claims as many due messages per channel as that channel has free slots, hands each to the
channel's thread pool and returns at once, so a provider answering after 9 s holds up neither the
sweep nor the other channels. While a send runs its claim is renewed every round; a dispatcher that
dies leaves the claim to expire, and whoever claims the message next first asks the provider whether
it already took it (a send of unknown outcome is reconciled, never blindly repeated). An instant
channel (publishing to the screens, which never waits) is claimed, sent and recorded a batch at a time
in one transaction, so in-app delivery costs little and stays immediate whatever the SMS provider does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import outbox
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import transaction
from riskcontrol.core.outbox import Channels, Claimed, DispatchPolicy, OutboxMessage, SendOutcome
from riskcontrol.core.worker import pause

log = logging.getLogger(__name__)

# How often an idle dispatcher looks for messages (a send that ends wakes it at once) and, while the
# sweep has a backlog, how often it claims at most (one slot's worth per channel each time).
IDLE_POLL = 0.25
BEHIND_POLL = 1.0


@dataclass
class Dispatcher:
    """One process's sender of the outbox (see the module docstring)."""

    sessions: sessionmaker[Session]
    clock: Clock
    channels: Channels
    policy: DispatchPolicy = field(default_factory=DispatchPolicy)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:outbox")
    _pools: dict[str, ThreadPoolExecutor] = field(default_factory=dict, init=False, repr=False)
    _inflight: dict[int, tuple[str, Future[None]]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Set whenever a send ends, so that the loop claims the next message at once.
    _wake: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _renewed_at: datetime | None = field(default=None, init=False, repr=False)

    def run_forever(self, stop: threading.Event, *, behind: threading.Event | None = None) -> None:
        """Send as fast as the channels' slots free up (the worker runs this in a thread of its own, apart
        from the sweep): claim again as soon as a send ends, and look for new messages every IDLE_POLL s.
        While `behind` is set (the sweep has a backlog), claim only once per BEHIND_POLL s: the sends
        share the process with the sweep, and telling the next level up comes first."""
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    self.run()
                except Exception:  # the database may be away for a while; the loop carries on
                    log.exception("outbox dispatch round failed")
                if behind is not None and behind.is_set():
                    pause(stop, BEHIND_POLL)
                else:
                    pause(stop, IDLE_POLL, wake=self._wake)
        finally:
            self.close()

    def run(self, *, wait_for_sends: bool = False) -> int:
        """One round: renew the claims of sends still running, then claim and start what is due; with
        `wait_for_sends` (tests, the demo), also wait for every send started to finish, and keep going
        until nothing due is left. Returns how many sends were started."""
        started = 0
        while True:
            self._forget_finished()
            with transaction(self.sessions) as db:
                self._renew(db)
                claimed = {
                    channel: outbox.claim(db, self.clock, self.policy, channel=channel, limit=free, by=self.name)
                    for channel in self.channels.senders
                    if channel not in self.channels.instant and (free := self._free(channel)) > 0
                }
            for channel, messages in claimed.items():
                for message in messages:
                    self._start(channel, message)
            count = sum(len(m) for m in claimed.values())
            for channel in sorted(self.channels.instant):
                with transaction(self.sessions) as db:
                    count += outbox.send_now(
                        db, self.clock, self.channels, self.policy, channel=channel, limit=self.policy.batch, by=self.name
                    )
            started += count
            if not wait_for_sends:
                return started
            running = [future for _, future in list(self._inflight.values())]
            wait(running)
            if count == 0 and not running:
                self.close()  # nothing runs between such rounds: no idle threads left behind
                return started

    def _renew(self, db: Session) -> None:
        """Renew the leases of the sends in flight, four times per lease (not on every round)."""
        now = self.clock.now()
        if self._inflight and (self._renewed_at is None or now - self._renewed_at >= self.policy.lease / 4):
            outbox.renew(db, self.clock, self.policy, list(self._inflight), by=self.name)
            self._renewed_at = now

    def close(self) -> None:
        """Let running sends finish and stop the pools."""
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def _free(self, channel: str) -> int:
        busy = sum(1 for held, _ in self._inflight.values() if held == channel)
        return min(self.policy.batch, self.policy.concurrency - busy)

    def _forget_finished(self) -> None:
        with self._lock:
            for message_id in [i for i, (_, future) in self._inflight.items() if future.done()]:
                del self._inflight[message_id]

    def _start(self, channel: str, claimed: Claimed) -> None:
        pool = self._pools.get(channel)
        if pool is None:
            pool = self._pools[channel] = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix=f"outbox-{channel}")
        with self._lock:
            future = pool.submit(self._send, claimed)
            self._inflight[claimed.id] = (channel, future)
        future.add_done_callback(lambda _: self._wake.set())

    def _send(self, claimed: Claimed) -> None:
        try:
            send(self.sessions, self.clock, self.channels, self.policy, claimed)
        except Exception:  # the claim stays and expires; the next claimant reconciles with the provider
            log.exception("outbox message %s: sending or recording failed", claimed.id)


def send(sessions: sessionmaker[Session], clock: Clock, channels: Channels, policy: DispatchPolicy, claimed: Claimed) -> None:
    """Send one claimed message (unless already taken by the provider, or no longer wanted) and record it.

    A message whose last send has an unknown outcome is looked up at the provider before anything else:
    one that went out is recorded sent even if it no longer matters, so the record says who was told."""
    with transaction(sessions) as db:
        message = db.get(OutboxMessage, claimed.id)
        assert message is not None
        reconcile = channels.reconcilers.get(message.channel) if claimed.unknown else None
        if reconcile is None and outbox.drop_if_stale(db, clock, channels, message):
            return
        db.flush()
        db.expunge(message)
    label, outcome = None, None
    try:
        if reconcile is not None and (outcome := reconcile(message)) is not None:
            label = "reconciled"
    except Exception as exc:  # cannot tell yet whether the provider has it: try the lookup again later
        log.exception("reconciling outbox message %s failed", claimed.id)
        outcome = SendOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", unknown=True)
    if outcome is None and reconcile is not None:
        # The provider does not have it: now it is as any other claimed message, sent only if still wanted.
        with transaction(sessions) as db:
            fresh = db.get(OutboxMessage, claimed.id, with_for_update=True)
            assert fresh is not None
            if outbox.drop_if_stale(db, clock, channels, fresh):
                return
    if outcome is None:
        outcome = outbox.attempt(channels, message)
    with transaction(sessions) as db:
        fresh = db.get(OutboxMessage, claimed.id, with_for_update=True)
        assert fresh is not None
        outbox.record_outcome(db, clock, channels, fresh, outcome, policy, label=label)


def dispatch(sessions: sessionmaker[Session], clock: Clock, channels: Channels, *, policy: DispatchPolicy | None = None) -> int:
    """Send every due message now and wait for the sends (tests, the demo's history, benchmarks);
    returns how many were tried."""
    dispatcher = Dispatcher(sessions, clock, channels, policy or DispatchPolicy())
    try:
        return dispatcher.run(wait_for_sends=True)
    finally:
        dispatcher.close()
