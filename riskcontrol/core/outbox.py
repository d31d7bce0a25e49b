"""Transactional outbox: messages are written with the change that causes them and sent afterwards.

Nothing is sent inside a request. A dispatcher claims due messages (`SKIP LOCKED` on PostgreSQL),
leases them, sends outside any transaction, then records every attempt with the provider's id and
status. A retryable failure is tried again with exponential backoff; the channel's failure hook
runs at once on the first failure (so a domain can move on to the next channel or person while
retries continue) and again when the message is given up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from riskcontrol.core import metrics
from riskcontrol.core.claims import Lease, Queue, Retry
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base, UTCDateTime

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, DROPPED = "pending", "sending", "sent", "failed", "dropped"


class OutboxMessage(Base):
    """One message to one recipient over one channel, with its delivery state."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_message_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    recipient_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    address: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The dispatcher holding the claim; only it renews the lease (see `renew`).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)


# Sends happen after the claiming transaction, so claims are leased (see core.claims).
QUEUE = Queue(
    OutboxMessage,
    OutboxMessage.next_attempt_at,
    waiting=PENDING,
    failed=FAILED,
    lease=Lease(SENDING, OutboxMessage.lease_until, OutboxMessage.claimed_by),
)


class OutboxAttempt(Base):
    """One try at sending a message: when, what the provider said, and any error."""

    __tablename__ = "outbox_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(12))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    provider_status: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class SendOutcome:
    """What a channel's sender reports: the provider's id and status, or why it failed."""

    ok: bool
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    retryable: bool = True
    # The provider may have taken the message without saying so (no answer in time): before any
    # retry it is looked up with the channel's reconciler rather than sent again.
    unknown: bool = False


UNKNOWN = "unknown"  # the provider status of a message whose last send had an unknown outcome


Sender = Callable[[OutboxMessage], SendOutcome]
# Whether the provider already took a message whose send had an unknown outcome: what it said, or None.
Reconciler = Callable[[OutboxMessage], SendOutcome | None]
FailureHook = Callable[[Session, Clock, OutboxMessage, bool], None]
# Why a message need no longer be sent (its step passed, its escalation was acknowledged), or None.
Relevance = Callable[[Session, Clock, OutboxMessage], str | None]


@dataclass
class Channels:
    """The sender of each channel and the hook that reacts when a message on it fails."""

    senders: dict[str, Sender] = field(default_factory=dict)
    on_failure: dict[str, FailureHook] = field(default_factory=dict)
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    # Asked just before each send; a message whose reason to exist has passed is dropped, not sent.
    relevance: list[Relevance] = field(default_factory=list)
    # Channels whose send only hands the message over and never waits (publishing to the screens):
    # claimed, sent and recorded a batch at a time in one transaction (`send_now`), with no lease.
    instant: set[str] = field(default_factory=set)

    def register(
        self,
        channel: str,
        sender: Sender,
        on_failure: FailureHook | None = None,
        reconcile: Reconciler | None = None,
        *,
        instant: bool = False,
    ) -> None:
        self.senders[channel] = sender
        if instant:
            self.instant.add(channel)
        if on_failure is not None:
            self.on_failure[channel] = on_failure
        if reconcile is not None:
            self.reconcilers[channel] = reconcile


@dataclass(frozen=True)
class DispatchPolicy:
    """How messages are sent: how many at once per channel, the lease of a claim, retries and backoff."""

    batch: int = 50
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=5)
    # Sends in flight per channel and process: a slow provider holds its own channel's slots only.
    concurrency: int = 16

    @property
    def retry(self) -> Retry:
        return Retry(self.max_attempts, self.backoff, exponential=True)


@dataclass(frozen=True)
class Claimed:
    """A claimed message's id, and whether an earlier send of it ended with an unknown outcome."""

    id: int
    unknown: bool = False


def enqueue(
    db: Session,
    clock: Clock,
    *,
    channel: str,
    payload: dict[str, Any],
    recipient_user_id: int | None = None,
    address: str | None = None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
) -> OutboxMessage:
    """Write a message in the caller's transaction; it is sent only if that transaction commits."""
    now = clock.now()
    message = OutboxMessage(
        channel=channel,
        recipient_user_id=recipient_user_id,
        address=address,
        payload=payload,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        status=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.add(message)
    return message


def claim(db: Session, clock: Clock, policy: DispatchPolicy, *, channel: str, limit: int, by: str) -> list[Claimed]:
    """Claim up to `limit` due messages of one channel for dispatcher `by`, leased for `policy.lease`.

    A message still `sending` after its lease ran out was left by a dispatcher that died (or lost
    its database) mid-send: whether the provider took it is unknown, so it is claimed `unknown`
    and reconciled with the provider before anything is sent again."""
    claimed = QUEUE.claim(db, clock.now(), limit=limit, where=[OutboxMessage.channel == channel], lease_for=policy.lease, by=by)
    return [Claimed(m.id, unknown=abandoned or m.provider_status == UNKNOWN) for m, abandoned in claimed]


def send_now(db: Session, clock: Clock, channels: Channels, policy: DispatchPolicy, *, channel: str, limit: int, by: str) -> int:
    """Claim up to `limit` due messages of an instant channel, send and record each, all in the
    caller's transaction (other dispatchers skip the locked rows); returns how many were claimed.
    Should the commit fail after a send, the message is sent again later: on an instant channel that
    is one more push of an inbox item the screen already shows."""
    claimed = QUEUE.claim(db, clock.now(), limit=limit, where=[OutboxMessage.channel == channel], lease_for=policy.lease, by=by)
    for message, _ in claimed:
        if not drop_if_stale(db, clock, channels, message):
            record_outcome(db, clock, channels, message, attempt(channels, message), policy)
    return len(claimed)


def attempt(channels: Channels, message: OutboxMessage) -> SendOutcome:
    """One send through the message's channel, timed; a sender that raises is a retryable failure
    (never a lost message), a channel with no sender a final one."""
    sender = channels.senders.get(message.channel)
    try:
        if sender is None:
            raise LookupError(f"no sender for channel {message.channel!r}")
        return metrics.timed_sender(message.channel, sender)(message)
    except Exception as exc:
        log.exception("sending outbox message %s failed", message.id)
        return SendOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=sender is not None)


def renew(db: Session, clock: Clock, policy: DispatchPolicy, ids: Sequence[int], *, by: str) -> None:
    """Extend the leases of messages `by` is still sending: a claim holds for as long as its send runs."""
    QUEUE.renew(db, clock.now(), ids, lease_for=policy.lease, by=by)


def record_outcome(
    db: Session,
    clock: Clock,
    channels: Channels,
    message: OutboxMessage,
    outcome: SendOutcome,
    policy: DispatchPolicy,
    *,
    label: str | None = None,
) -> None:
    """Store one attempt (labelled ok or error unless `label` says otherwise) and move the message on:
    sent, retried later, or given up."""
    now = clock.now()
    db.add(
        OutboxAttempt(
            message_id=message.id,
            number=message.attempts,
            at=now,
            outcome=label or ("ok" if outcome.ok else "error"),
            provider_id=outcome.provider_id,
            provider_status=outcome.provider_status,
            error=outcome.error,
        )
    )
    if outcome.ok:
        QUEUE.release(message)
        message.status, message.sent_at = SENT, now
        message.provider_id, message.provider_status = outcome.provider_id, outcome.provider_status
        return
    if outcome.unknown:
        message.provider_status = UNKNOWN
    if outcome.retryable:
        final = QUEUE.retry_or_give_up(message, now, outcome.error, policy.retry)
    else:
        QUEUE.give_up(message, outcome.error)
        final = True
    hook = channels.on_failure.get(message.channel)
    if hook is not None and (message.attempts == 1 or final):
        hook(db, clock, message, final)


def drop_if_stale(db: Session, clock: Clock, channels: Channels, message: OutboxMessage) -> bool:
    """Drop a claimed message that is no longer wanted, recording why; True when it was dropped."""
    for check in channels.relevance:
        if (reason := check(db, clock, message)) is not None:
            QUEUE.release(message)
            message.status, message.last_error = DROPPED, reason
            metrics.send_dropped(message.channel)
            db.add(OutboxAttempt(message_id=message.id, number=message.attempts, at=clock.now(), outcome="dropped", error=reason))
            return True
    return False
