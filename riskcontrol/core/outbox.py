"""Transactional outbox: messages are written with the change that causes them and sent afterwards.

Nothing is sent inside a request. A dispatcher claims due messages (`SKIP LOCKED` on PostgreSQL),
leases them, sends outside any transaction, then records every attempt with the provider's id and
status. A retryable failure is tried again with exponential backoff; the channel's failure hook
runs at once on the first failure (so a domain can move on to the next channel or person while
retries continue) and again when the message is given up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from riskcontrol.core import metrics
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base, UTCDateTime, transaction

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


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
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)


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


Sender = Callable[[OutboxMessage], SendOutcome]
FailureHook = Callable[[Session, Clock, OutboxMessage, bool], None]


@dataclass
class Channels:
    """The sender of each channel and the hook that reacts when a message on it fails."""

    senders: dict[str, Sender] = field(default_factory=dict)
    on_failure: dict[str, FailureHook] = field(default_factory=dict)

    def register(self, channel: str, sender: Sender, on_failure: FailureHook | None = None) -> None:
        self.senders[channel] = metrics.timed_sender(channel, sender)
        if on_failure is not None:
            self.on_failure[channel] = on_failure


@dataclass(frozen=True)
class DispatchPolicy:
    batch: int = 50
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=5)


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


def _claim(db: Session, clock: Clock, policy: DispatchPolicy) -> list[int]:
    now = clock.now()
    due = or_(
        (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now),
        # A dispatcher that died mid-send leaves its lease behind; it expires and the message is retried.
        (OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < now),
    )
    stmt = select(OutboxMessage).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    claimed = db.execute(stmt.limit(policy.batch).with_for_update(skip_locked=True)).scalars().all()
    for message in claimed:
        message.status, message.lease_until = SENDING, now + policy.lease
        message.attempts += 1
    return [m.id for m in claimed]


def record_outcome(
    db: Session,
    clock: Clock,
    channels: Channels,
    message: OutboxMessage,
    outcome: SendOutcome,
    policy: DispatchPolicy,
) -> None:
    """Store one attempt and move the message on: sent, retried later, or given up."""
    now = clock.now()
    db.add(
        OutboxAttempt(
            message_id=message.id,
            number=message.attempts,
            at=now,
            outcome="ok" if outcome.ok else "error",
            provider_id=outcome.provider_id,
            provider_status=outcome.provider_status,
            error=outcome.error,
        )
    )
    message.lease_until = None
    if outcome.ok:
        message.status, message.sent_at = SENT, now
        message.provider_id, message.provider_status = outcome.provider_id, outcome.provider_status
        return
    message.last_error = outcome.error
    final = not outcome.retryable or message.attempts >= policy.max_attempts
    if final:
        message.status = FAILED
    else:
        message.status = PENDING
        message.next_attempt_at = now + policy.backoff * (2 ** (message.attempts - 1))
    hook = channels.on_failure.get(message.channel)
    if hook is not None and (message.attempts == 1 or final):
        hook(db, clock, message, final)


def dispatch(
    sessions: sessionmaker[Session],
    clock: Clock,
    channels: Channels,
    *,
    policy: DispatchPolicy | None = None,
) -> int:
    """Send every due message once; returns how many were tried."""
    policy = policy or DispatchPolicy()
    tried = 0
    while True:
        with transaction(sessions) as db:
            ids = _claim(db, clock, policy)
        for message_id in ids:
            with sessions() as db:
                message = db.get(OutboxMessage, message_id)
                assert message is not None
                sender = channels.senders.get(message.channel)
                db.expunge(message)
                db.rollback()
            try:
                if sender is None:
                    raise LookupError(f"no sender for channel {message.channel!r}")
                outcome = sender(message)
            except Exception as exc:  # a sender that raises is a retryable failure, never a lost message
                log.exception("sending outbox message %s failed", message_id)
                outcome = SendOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=sender is not None)
            with transaction(sessions) as db:
                fresh = db.get(OutboxMessage, message_id, with_for_update=True)
                assert fresh is not None
                record_outcome(db, clock, channels, fresh, outcome, policy)
            tried += 1
        if len(ids) < policy.batch:
            return tried
