"""Telling people: inbox items plus outbox messages per channel, delivery receipts, and failures as events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import i18n, outbox
from riskcontrol.core.clock import Clock
from riskcontrol.core.events import Events
from riskcontrol.core.outbox import OutboxAttempt, OutboxMessage
from riskcontrol.notify.models import Notification
from riskcontrol.notify.sms import StatusReceipt, furthest, is_failure, normalize_cn_mobile
from riskcontrol.people.models import User

IN_APP, SMS = "in_app", "sms"
CHANNELS = (IN_APP, SMS)
# The most a text about a ledger or a meeting may run to (several SMS segments, never a wall of them).
SMS_LIMIT = 300


@dataclass(frozen=True)
class Message:
    """What to say, in both languages; `sms_zh` is the short text for a phone."""

    kind: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    sms_zh: str
    level: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def worded(
        cls,
        kind: str,
        *,
        title: i18n.Phrase,
        body: i18n.Phrase,
        sms: i18n.Phrase | None = None,
        level: str | None = None,
        data: dict[str, Any] | None = None,
        sms_limit: int | None = None,
    ) -> Message:
        """A message whose every text comes from the catalogue, worded in both languages (the SMS in Chinese).

        Without its own `sms` phrase the phone gets the title and the body on one line; `sms_limit` cuts
        a text that may run long (a hazard's measures, say) to that many characters.
        """
        zh, en = i18n.DEFAULT_LANGUAGE, "en"
        sms_zh = i18n.word(zh, sms or i18n.phrase("notice.sms.default", title=title, body=body))[:sms_limit]
        return cls(
            kind=kind,
            title_zh=i18n.word(zh, title),
            title_en=i18n.word(en, title),
            body_zh=i18n.word(zh, body),
            body_en=i18n.word(en, body),
            sms_zh=sms_zh,
            level=level,
            data=dict(data or {}),
        )


def as_drill(text: i18n.Phrase, drill: bool) -> i18n.Phrase:
    """`text` marked as part of a drill (`【演练】…`) when it is one, so nobody takes it for the real thing."""
    return i18n.phrase("notice.drill", text=text) if drill else text


@dataclass(frozen=True)
class DeliveryFailed:
    """A message could not reach its person on one channel (event; `final` once retries are over)."""

    notification_id: int
    user_id: int
    channel: str
    subject_type: str
    subject_id: str
    final: bool
    reason: str


@dataclass(frozen=True)
class SmsReplied:
    """Someone answered an SMS (event); '1' acknowledges."""

    user_id: int
    body: str


def serialize(n: Notification) -> dict[str, Any]:
    """The inbox item as screens receive it."""
    return {
        "id": n.id,
        "kind": n.kind,
        "level": n.level,
        "subject_type": n.subject_type,
        "subject_id": n.subject_id,
        "title_zh": n.title_zh,
        "title_en": n.title_en,
        "body_zh": n.body_zh,
        "body_en": n.body_en,
        "data": n.data,
        "channels": n.channels.split(","),
        "created_at": n.created_at.isoformat(),
        "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None,
        "read_at": n.read_at.isoformat() if n.read_at else None,
    }


def sms_sent_today(db: Session, clock: Clock, user_id: int) -> int:
    """How many SMS this user was sent in the last 24 hours."""
    since = clock.now() - timedelta(hours=24)
    stmt = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.channel == SMS, OutboxMessage.recipient_user_id == user_id, OutboxMessage.created_at >= since)
    )
    return int(db.execute(stmt).scalar_one())


@dataclass(frozen=True)
class Notice:
    """One inbox item to put in front of one user, and the channels it goes out on."""

    user: User
    channels: Sequence[str]
    message: Message
    subject_type: str
    subject_id: str | int
    # Texts per person per 24 hours (the in-app item still goes); red is never capped.
    sms_cap: int | None = None


def notify(
    db: Session,
    clock: Clock,
    events: Events,
    *,
    user: User,
    channels: Sequence[str],
    message: Message,
    subject_type: str,
    subject_id: str | int,
    sms_cap: int | None = None,
) -> Notification:
    """Put an item in the user's inbox and queue it on each channel, in the caller's transaction."""
    return notify_many(db, clock, events, [Notice(user, channels, message, subject_type, subject_id, sms_cap)])[0]


def notify_many(
    db: Session,
    clock: Clock,
    events: Events,
    notices: Sequence[Notice],
    *,
    stored: Callable[[list[Notification]], None] | None = None,
) -> list[Notification]:
    """`notify` for many notices at once: the inbox items are inserted together (one statement where
    the database allows), then each is queued on its channels. `stored` hears of the items once they
    have ids and their SMS caps are decided, before anything is queued (or any failure reported)."""
    items = [
        Notification(
            user_id=n.user.id,
            kind=n.message.kind,
            level=n.message.level,
            subject_type=n.subject_type,
            subject_id=str(n.subject_id),
            title_zh=n.message.title_zh,
            title_en=n.message.title_en,
            body_zh=n.message.body_zh,
            body_en=n.message.body_en,
            data=n.message.data,
            channels=",".join(n.channels),
            created_at=clock.now(),
        )
        for n in notices
    ]
    for notice, item in zip(notices, items, strict=True):
        cap = notice.sms_cap
        capped = SMS in notice.channels and cap is not None and notice.message.level != "red"
        if capped and cap is not None and sms_sent_today(db, clock, notice.user.id) >= cap:
            item.data = {**item.data, "sms_capped": True}
    db.add_all(items)
    db.flush()
    if stored is not None:
        stored(items)
    for notice, item in zip(notices, items, strict=True):
        _queue(db, clock, events, notice, item)
    return items


def _queue(db: Session, clock: Clock, events: Events, notice: Notice, item: Notification) -> None:
    user, message, subject_type, subject_id = notice.user, notice.message, notice.subject_type, notice.subject_id
    for channel in notice.channels:
        if channel == IN_APP:
            outbox.enqueue(
                db,
                clock,
                channel=IN_APP,
                recipient_user_id=user.id,
                payload={"notification": serialize(item)},
                subject_type="notification",
                subject_id=item.id,
            )
        elif channel == SMS:
            if item.data.get("sms_capped"):
                continue
            try:
                phone = normalize_cn_mobile(user.phone or "")
            except ValueError as exc:
                # No way to text this person: whoever depends on it must move on now, not after retries.
                events.emit(db, clock, DeliveryFailed(item.id, user.id, SMS, subject_type, str(subject_id), True, str(exc)))
                continue
            outbox.enqueue(
                db,
                clock,
                channel=SMS,
                recipient_user_id=user.id,
                address=phone,
                payload={"body": message.sms_zh, "notification_id": item.id},
                subject_type="notification",
                subject_id=item.id,
            )
        else:
            raise ValueError(f"unknown channel {channel!r}")


def notify_all(
    db: Session,
    clock: Clock,
    events: Events,
    *,
    users: Iterable[User],
    channels: Sequence[str],
    message: Message,
    subject_type: str,
    subject_id: str | int,
    sms_cap: int | None = None,
) -> list[int]:
    """`notify` each active user once (a user listed twice is told once); the ids of those told, in order."""
    told = {user.id: user for user in users if user.active}
    for user in told.values():
        notify(
            db,
            clock,
            events,
            user=user,
            channels=channels,
            message=message,
            subject_type=subject_type,
            subject_id=subject_id,
            sms_cap=sms_cap,
        )
    return sorted(told)


def _failure_event(db: Session, message: OutboxMessage, final: bool, reason: str) -> DeliveryFailed | None:
    item = (
        db.get(Notification, int(message.subject_id)) if message.subject_type == "notification" and message.subject_id else None
    )
    if item is None:
        return None
    return DeliveryFailed(item.id, item.user_id, message.channel, item.subject_type, item.subject_id, final, reason)


def outbox_failure_hook(events: Events) -> outbox.FailureHook:
    """The outbox's failure hook for our channels: turn a failed send into a DeliveryFailed event."""

    def on_failure(db: Session, clock: Clock, message: OutboxMessage, final: bool) -> None:
        event = _failure_event(db, message, final, message.last_error or "send failed")
        if event is not None:
            events.emit(db, clock, event)

    return on_failure


# Why an inbox item about one kind of subject need no longer go out on any channel, or None.
ItemRelevance = Callable[[Session, Clock, Notification], str | None]


def relevance(checks: Mapping[str, ItemRelevance]) -> outbox.Relevance:
    """The outbox's relevance check for our messages: the domain owning the item's subject decides."""

    def check(db: Session, clock: Clock, message: OutboxMessage) -> str | None:
        if message.subject_type != "notification" or not message.subject_id:
            return None
        item = db.get(Notification, int(message.subject_id))
        decide = None if item is None else checks.get(item.subject_type)
        return None if decide is None or item is None else decide(db, clock, item)

    return check


def record_receipt(db: Session, clock: Clock, events: Events, receipt: StatusReceipt) -> OutboxMessage | None:
    """Apply a provider's delivery report; an undelivered or failed SMS is a final failure at once."""
    message = db.execute(
        select(OutboxMessage).where(OutboxMessage.provider_id == receipt.provider_id).with_for_update()
    ).scalar_one_or_none()
    if message is None:
        return None
    before = message.provider_status or "queued"
    message.provider_status = furthest(before, receipt.status)
    db.add(
        OutboxAttempt(
            message_id=message.id,
            number=message.attempts,
            at=clock.now(),
            outcome="receipt",
            provider_id=receipt.provider_id,
            provider_status=receipt.status,
            error=receipt.error_code,
        )
    )
    if is_failure(message.provider_status) and message.status != outbox.FAILED:
        message.status = outbox.FAILED
        message.last_error = f"provider reported {message.provider_status}" + (
            f" ({receipt.error_code})" if receipt.error_code else ""
        )
        event = _failure_event(db, message, True, message.last_error)
        if event is not None:
            events.emit(db, clock, event)
    elif message.provider_status == "delivered" and message.subject_type == "notification" and message.subject_id:
        item = db.get(Notification, int(message.subject_id))
        if item is not None and item.delivered_at is None:
            item.delivered_at = clock.now()
    return message


def mark_delivered(db: Session, clock: Clock, *, user_id: int, notification_id: int) -> bool:
    """A screen confirms it showed the item (the in-app delivery receipt)."""
    item = db.get(Notification, notification_id)
    if item is None or item.user_id != user_id:
        return False
    if item.delivered_at is None:
        item.delivered_at = clock.now()
    return True


def mark_read(db: Session, clock: Clock, *, user_id: int, notification_id: int) -> bool:
    item = db.get(Notification, notification_id)
    if item is None or item.user_id != user_id:
        return False
    now = clock.now()
    item.delivered_at = item.delivered_at or now
    item.read_at = item.read_at or now
    return True


def mark_read_about(db: Session, clock: Clock, *, user_id: int, subject_type: str, subject_id: str | int) -> int:
    """The user opened a subject's page: every item of theirs about it is read now (read receipts); how many."""
    items = db.execute(
        select(Notification).where(
            Notification.user_id == user_id,
            Notification.subject_type == subject_type,
            Notification.subject_id == str(subject_id),
            Notification.read_at.is_(None),
        )
    ).scalars()
    count = 0
    for item in items:
        count += mark_read(db, clock, user_id=user_id, notification_id=item.id)
    return count


def inbox(db: Session, *, user_id: int, since: datetime | None = None, limit: int = 50) -> list[Notification]:
    """The user's newest inbox items."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if since is not None:
        stmt = stmt.where(Notification.created_at >= since)
    return list(db.execute(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).scalars())


def newest_item_id(db: Session, *, user_id: int) -> int:
    """The id of the user's newest inbox item (0 when none): it moves whenever an item is added."""
    return int(db.execute(select(func.max(Notification.id)).where(Notification.user_id == user_id)).scalar_one() or 0)


def user_by_mobile(db: Session, phone_e164: str) -> User | None:
    """The user whose mobile number is `phone_e164` (stored numbers are normalised before comparing)."""
    national = phone_e164.removeprefix("+86")
    for user in db.execute(select(User).where(User.phone.in_([national, phone_e164]))).scalars():
        return user
    return None


# A channel's message has reached the person: the SMS provider's delivery report, or the in-app publish to their screens.
REACHED = frozenset({"delivered", "read", "published"})


def delivery_state(status: str, provider_status: str | None) -> str:
    """Where one channel's message stands for a reader: `delivered` (a receipt or the in-app publish says it
    arrived), `sent` (handed over, no receipt yet), `waiting`, `failed`, or `dropped` (no longer needed)."""
    if status == outbox.DROPPED:
        return "dropped"
    if status == outbox.FAILED or (provider_status is not None and is_failure(provider_status)):
        return "failed"
    if provider_status in REACHED:
        return "delivered"
    return "sent" if status == outbox.SENT else "waiting"


def _reached_at(db: Session, message_ids: Sequence[int]) -> dict[int, datetime]:
    """When each message first reached its person, from its attempts and receipts (see `REACHED`)."""
    if not message_ids:
        return {}
    rows = db.execute(
        select(OutboxAttempt.message_id, func.min(OutboxAttempt.at))
        .where(OutboxAttempt.message_id.in_(message_ids), OutboxAttempt.provider_status.in_(REACHED))
        .group_by(OutboxAttempt.message_id)
    ).all()
    return {int(message_id): at for message_id, at in rows}


def deliveries(db: Session, *, subject_type: str, subject_id: str | int) -> list[dict[str, Any]]:
    """Every notification about a subject with, per channel, its status and provider id (for timelines), where it
    stands (`delivery_state`) and when it reached the person by the channel's own receipt (`delivered_at`)."""
    items = (
        db.execute(
            select(Notification)
            .where(Notification.subject_type == subject_type, Notification.subject_id == str(subject_id))
            .order_by(Notification.created_at, Notification.id)
        )
        .scalars()
        .all()
    )
    messages = (
        db.execute(
            select(OutboxMessage)
            .where(OutboxMessage.subject_type == "notification", OutboxMessage.subject_id.in_([str(i.id) for i in items]))
            .order_by(OutboxMessage.id)  # each notification's channels in the order they were queued: in-app, then SMS
        )
        .scalars()
        .all()
        if items
        else []
    )
    by_item: dict[str, list[OutboxMessage]] = {}
    for m in messages:
        by_item.setdefault(m.subject_id or "", []).append(m)
    reached = _reached_at(db, [m.id for m in messages])
    return [
        {
            "notification_id": i.id,
            "user_id": i.user_id,
            "created_at": i.created_at.isoformat(),
            "delivered_at": i.delivered_at.isoformat() if i.delivered_at else None,
            "read_at": i.read_at.isoformat() if i.read_at else None,
            "channels": [
                {
                    "channel": m.channel,
                    "status": m.status,
                    "provider_status": m.provider_status,
                    "provider_id": m.provider_id,
                    "attempts": m.attempts,
                    "error": m.last_error,
                    "state": delivery_state(m.status, m.provider_status),
                    "delivered_at": reached[m.id].isoformat() if m.id in reached else None,
                }
                for m in by_item.get(str(i.id), [])
            ],
        }
        for i in items
    ]
