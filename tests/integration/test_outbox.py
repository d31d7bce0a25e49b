"""The outbox sends what committed, records every attempt, backs off, and calls the failure hook at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import outbox
from riskcontrol.core.clock import Clock, ManualClock
from riskcontrol.core.dispatcher import dispatch
from riskcontrol.core.outbox import Channels, DispatchPolicy, OutboxAttempt, OutboxMessage, SendOutcome


class FakeSender:
    """Answers from a script of outcomes and remembers what it was asked to send."""

    def __init__(self, *outcomes: SendOutcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[dict[str, object]] = []

    def __call__(self, message: OutboxMessage) -> SendOutcome:
        self.sent.append(message.payload)
        return self.outcomes.pop(0) if self.outcomes else SendOutcome(ok=True, provider_id="P-last", provider_status="sent")


def put(sessions: sessionmaker[Session], clock: ManualClock, *, commit: bool = True) -> None:
    with sessions() as db:
        outbox.enqueue(
            db,
            clock,
            channel="sms",
            payload={"body": "紧急：东1-305 需要你确认"},
            address="+8613800000000",
            subject_type="escalation",
            subject_id=1,
        )
        if commit:
            db.commit()


def state(sessions: sessionmaker[Session]) -> tuple[OutboxMessage, list[OutboxAttempt]]:
    with sessions() as db:
        message = db.execute(select(OutboxMessage)).scalar_one()
        attempts = list(db.execute(select(OutboxAttempt).order_by(OutboxAttempt.number)).scalars())
        return message, attempts


def test_a_committed_message_is_sent_once_with_the_provider_id_kept(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    sender = FakeSender(SendOutcome(ok=True, provider_id="SM123", provider_status="queued"))
    channels = Channels()
    channels.register("sms", sender)
    put(sessions, clock)
    assert dispatch(sessions, clock, channels) == 1
    assert dispatch(sessions, clock, channels) == 0
    message, attempts = state(sessions)
    assert (message.status, message.provider_id, message.provider_status, message.sent_at) == (
        "sent",
        "SM123",
        "queued",
        clock.now(),
    )
    assert [(a.number, a.outcome, a.provider_id) for a in attempts] == [(1, "ok", "SM123")]


def test_a_rolled_back_change_sends_nothing(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    sender = FakeSender()
    channels = Channels()
    channels.register("sms", sender)
    put(sessions, clock, commit=False)
    assert dispatch(sessions, clock, channels) == 0
    assert sender.sent == []


def test_a_retryable_failure_backs_off_and_the_hook_hears_the_first_failure_at_once(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    heard: list[tuple[int, bool]] = []

    def on_failure(db: Session, clock: Clock, message: OutboxMessage, final: bool) -> None:
        heard.append((message.attempts, final))

    sender = FakeSender(SendOutcome(ok=False, error="timeout"), SendOutcome(ok=False, error="timeout"))
    channels = Channels()
    channels.register("sms", sender, on_failure)
    put(sessions, clock)
    policy = DispatchPolicy(backoff=timedelta(seconds=5), max_attempts=5)
    dispatch(sessions, clock, channels, policy=policy)
    assert heard == [(1, False)]
    clock.advance(timedelta(seconds=4))
    assert dispatch(sessions, clock, channels, policy=policy) == 0  # not yet: 5 s backoff
    clock.advance(timedelta(seconds=1))
    dispatch(sessions, clock, channels, policy=policy)  # second failure: next try in 10 s
    clock.advance(timedelta(seconds=10))
    dispatch(sessions, clock, channels, policy=policy)
    message, attempts = state(sessions)
    assert message.status == "sent"
    assert [a.outcome for a in attempts] == ["error", "error", "ok"]
    assert heard == [(1, False)]


def test_a_permanent_failure_gives_up_and_tells_the_hook(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    heard: list[bool] = []
    channels = Channels()
    channels.register(
        "sms",
        FakeSender(SendOutcome(ok=False, error="21211 invalid number", retryable=False)),
        lambda db, clock, message, final: heard.append(final),
    )
    put(sessions, clock)
    dispatch(sessions, clock, channels)
    message, _ = state(sessions)
    assert (message.status, message.last_error) == ("failed", "21211 invalid number")
    assert heard == [True]


def test_a_sender_that_crashes_is_a_retryable_failure(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    def crash(message: OutboxMessage) -> SendOutcome:
        raise ConnectionError("gateway down")

    channels = Channels()
    channels.register("sms", crash)
    put(sessions, clock)
    dispatch(sessions, clock, channels)
    message, attempts = state(sessions)
    assert (message.status, attempts[0].error) == ("pending", "ConnectionError: gateway down")


def test_a_message_left_sending_by_a_dead_dispatcher_is_retried_after_its_lease(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    channels = Channels()
    channels.register("sms", FakeSender())
    put(sessions, clock)
    with sessions() as db:
        db.execute(update(OutboxMessage).values(status="sending", lease_until=clock.now() + timedelta(seconds=60), attempts=1))
        db.commit()
    assert dispatch(sessions, clock, channels) == 0
    clock.advance(timedelta(seconds=61))
    assert dispatch(sessions, clock, channels) == 1
    assert state(sessions)[0].status == "sent"
