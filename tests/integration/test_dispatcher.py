"""Sending apart from the sweep: a slow provider holds only its own sends, a claim lasts as long as its
send runs, and a send of unknown outcome is looked up at the provider instead of being sent again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import outbox
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.dispatcher import Dispatcher, dispatch
from riskcontrol.core.outbox import Channels, DispatchPolicy, OutboxAttempt, OutboxMessage, SendOutcome
from riskcontrol.core.worker import pause
from riskcontrol.notify.senders import SmsSender
from riskcontrol.notify.sms import TwilioSmsChannel
from tests.fakes.fake_twilio import FakeTwilio

BODY = "【紧急(红色)】东1-305 需要你确认"
PHONE = "+8613800000000"


class GatedSender:
    """A provider that answers only when the test opens the gate; counts what it was given."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> SendOutcome:
        self.started.release()
        self.gate.wait(timeout=30)
        with self.lock:
            self.sent.append(message.id)
        return SendOutcome(ok=True, provider_id=f"P-{message.id}", provider_status="sent")


class InstantSender:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def __call__(self, message: OutboxMessage) -> SendOutcome:
        self.sent.append(message.id)
        return SendOutcome(ok=True, provider_status="published")


def put(sessions: sessionmaker[Session], clock: ManualClock, channel: str, count: int = 1) -> list[int]:
    """`count` messages on `channel`, each with its own text (as every real message has its own link)."""
    with sessions() as db:
        rows = [
            outbox.enqueue(
                db, clock, channel=channel, payload={"body": f"{BODY} #{i}"}, address="+8613800000000", recipient_user_id=1
            )
            for i in range(count)
        ]
        db.commit()
        return [r.id for r in rows]


def statuses(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions() as db:
        return {row.id: row.status for row in db.execute(select(OutboxMessage.id, OutboxMessage.status))}


@contextmanager
def texts_through_twilio(clock: ManualClock, *, timeout: float) -> Iterator[tuple[FakeTwilio, Channels]]:
    """The SMS channel as the app wires it (sender and reconciler), through the Twilio SDK to a fake."""
    with FakeTwilio(clock=clock) as twilio:
        channel = TwilioSmsChannel(
            twilio.account_sid, twilio.auth_token, "+8610690000", api_base=twilio.base_url, timeout=timeout
        )
        texts = SmsSender(channel, None)
        channels = Channels()
        channels.register("sms", texts, reconcile=texts.reconcile)
        try:
            yield twilio, channels
        finally:
            channel.close()


def twilio_send(channels: Channels, body: str) -> None:
    """Send straight through the channel, as a dispatcher did before it died."""
    sender = channels.senders["sms"]
    assert isinstance(sender, SmsSender)
    sender.channel.send(PHONE, body, status_callback=None)


@pytest.fixture
def gated() -> Iterator[GatedSender]:
    sender = GatedSender()
    yield sender
    sender.gate.set()  # never leave a pool thread waiting


def test_a_round_returns_while_slow_texts_are_in_flight_and_in_app_goes_at_once(
    sessions: sessionmaker[Session], clock: ManualClock, gated: GatedSender
) -> None:
    channels, in_app = Channels(), InstantSender()
    channels.register("sms", gated)
    channels.register("in_app", in_app)
    sender = Dispatcher(sessions, clock, channels, DispatchPolicy(concurrency=4), name="w1")
    texts = put(sessions, clock, "sms", 6)
    assert sender.run() == 4  # as many as the channel has slots; the round does not wait for them
    for _ in range(4):
        assert gated.started.acquire(timeout=10)
    notice = put(sessions, clock, "in_app")
    assert sender.run() == 1  # texts still hang, yet the in-app message is sent in the next round
    gated.gate.set()
    sender.run(wait_for_sends=True)
    assert in_app.sent == notice
    assert sorted(gated.sent) == texts
    assert set(statuses(sessions).values()) == {"sent"}


def test_a_claim_is_renewed_while_its_send_runs_so_a_second_dispatcher_never_takes_it(
    sessions: sessionmaker[Session], clock: ManualClock, gated: GatedSender
) -> None:
    channels = Channels()
    channels.register("sms", gated)
    policy = DispatchPolicy(lease=timedelta(seconds=60))
    first, second = (
        Dispatcher(sessions, clock, channels, policy, name="w1"),
        Dispatcher(sessions, clock, channels, policy, name="w2"),
    )
    put(sessions, clock, "sms", 3)
    assert first.run() == 3
    for _ in range(3):
        assert gated.started.acquire(timeout=10)
    # The provider takes minutes; each of w1's rounds renews its claims, so w2 finds nothing to take.
    for _ in range(5):
        clock.advance(timedelta(seconds=50))
        first.run()
        assert second.run() == 0
    gated.gate.set()
    first.run(wait_for_sends=True)
    assert len(gated.sent) == 3  # each text once
    with sessions() as db:
        assert db.execute(select(OutboxAttempt.outcome)).scalars().all() == ["ok"] * 3


def test_a_text_whose_answer_never_came_is_found_at_the_provider_not_sent_again(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    with texts_through_twilio(clock, timeout=0.5) as (twilio, channels):
        (message_id,) = put(sessions, clock, "sms")
        twilio.delay = 1.5  # Twilio takes the text but answers after our timeout
        dispatch(sessions, clock, channels)
        with sessions() as db:
            message = db.get(OutboxMessage, message_id)
            assert message is not None
            assert (message.status, message.provider_status) == ("pending", "unknown")
        twilio.delay = 0
        clock.advance(timedelta(seconds=10))  # the retry falls due
        dispatch(sessions, clock, channels)
        assert len(twilio.messages) == 1  # looked up, not sent a second time
        with sessions() as db:
            message = db.get(OutboxMessage, message_id)
            assert message is not None
            assert (message.status, message.provider_id) == ("sent", twilio.messages[0]["Sid"])
            outcomes = db.execute(select(OutboxAttempt.outcome).order_by(OutboxAttempt.number)).scalars().all()
        assert outcomes == ["error", "reconciled"]


def test_a_text_left_sending_by_a_dead_dispatcher_is_looked_up_before_it_is_sent(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    with texts_through_twilio(clock, timeout=5) as (twilio, channels):
        sent_before, never_sent = put(sessions, clock, "sms", 2)
        with sessions() as db:
            # The dead dispatcher had claimed both; it got the first to Twilio, then died.
            db.execute(
                update(OutboxMessage).values(status="sending", lease_until=clock.now() + timedelta(seconds=60), attempts=1)
            )
            db.commit()
        twilio_send(channels, f"{BODY} #0")
        clock.advance(timedelta(seconds=61))
        dispatch(sessions, clock, channels)
    # One message was found at Twilio (one text in all for it); the other, not found, was sent now.
    assert len(twilio.messages) == 2
    assert statuses(sessions) == {sent_before: "sent", never_sent: "sent"}
    with sessions() as db:
        outcomes = db.execute(select(OutboxAttempt.outcome).order_by(OutboxAttempt.message_id)).scalars().all()
    assert sorted(outcomes) == ["ok", "reconciled"]


def test_a_text_a_dead_dispatcher_got_out_is_recorded_sent_even_once_it_no_longer_matters(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    """Found by the fault suite (worker kill -9 mid-send, then the climb acknowledged): the text reached
    the provider, so the record must say so rather than `dropped`; one never sent is still dropped."""
    with texts_through_twilio(clock, timeout=5) as (twilio, channels):
        sent_before, never_sent = put(sessions, clock, "sms", 2)
        with sessions() as db:
            db.execute(
                update(OutboxMessage).values(status="sending", lease_until=clock.now() + timedelta(seconds=60), attempts=1)
            )
            db.commit()
        twilio_send(channels, f"{BODY} #0")
        channels.relevance.append(lambda db, clock, message: "escalation acknowledged")
        clock.advance(timedelta(seconds=61))
        dispatch(sessions, clock, channels)
    assert len(twilio.messages) == 1
    assert statuses(sessions) == {sent_before: "sent", never_sent: "dropped"}
    with sessions() as db:
        outcomes = db.execute(select(OutboxAttempt.outcome).order_by(OutboxAttempt.message_id)).scalars().all()
    assert outcomes == ["reconciled", "dropped"]


def test_looping_the_dispatcher_claims_again_as_soon_as_a_send_ends_and_stops_when_asked(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    channels, texts = Channels(), InstantSender()
    channels.register("sms", texts)
    put(sessions, clock, "sms", 40)
    sender = Dispatcher(sessions, clock, channels, DispatchPolicy(concurrency=2), name="w1")
    stop = threading.Event()
    loop = threading.Thread(target=sender.run_forever, args=(stop,), daemon=True)
    loop.start()
    try:
        for _ in range(400):  # a hang guard; two slots and a 0.25 s idle look would need 5 s
            if len(texts.sent) == 40:
                break
            pause(threading.Event(), 0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()
    assert sorted(texts.sent) == sorted(set(texts.sent))
    assert len(texts.sent) == 40
    assert set(statuses(sessions).values()) == {"sent"}


def test_an_instant_channel_is_sent_and_recorded_a_batch_at_a_time_beside_hanging_texts(
    sessions: sessionmaker[Session], clock: ManualClock, gated: GatedSender
) -> None:
    channels, in_app = Channels(), InstantSender()
    channels.register("sms", gated)
    channels.register("in_app", in_app, instant=True)
    channels.relevance.append(lambda db, clock, m: "acknowledged" if m.payload["body"].endswith("#2") else None)
    sender = Dispatcher(sessions, clock, channels, DispatchPolicy(concurrency=2, batch=3), name="w1")
    put(sessions, clock, "sms", 2)
    assert sender.run() == 2
    assert gated.started.acquire(timeout=10)
    assert gated.started.acquire(timeout=10)
    notices = put(sessions, clock, "in_app", 4)
    assert sender.run() == 3  # one batch of the instant channel, sent within the round while texts hang
    assert in_app.sent == [notices[0], notices[1]]  # the third was no longer wanted
    states = statuses(sessions)
    assert [states[i] for i in notices] == ["sent", "sent", "dropped", "pending"]
    with sessions() as db:  # nothing of them is left leased: each was recorded in the claiming transaction
        held = db.scalars(
            select(OutboxMessage.id).where(OutboxMessage.channel == "in_app", OutboxMessage.lease_until.is_not(None))
        )
        assert list(held) == []
        outcomes = {row.message_id: row.outcome for row in db.execute(select(OutboxAttempt.message_id, OutboxAttempt.outcome))}
    assert [outcomes.get(i) for i in notices] == ["ok", "ok", "dropped", None]
    gated.gate.set()
    sender.run(wait_for_sends=True)
    assert in_app.sent == [notices[0], notices[1], notices[3]]
