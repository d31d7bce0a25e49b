"""The outbox senders of our channels: in-app over the live bus, SMS over an SmsChannel."""

from __future__ import annotations

from datetime import timedelta

from riskcontrol.core.bus import Bus
from riskcontrol.core.outbox import OutboxMessage, SendOutcome
from riskcontrol.notify.sms import SmsChannel, SmsError, is_failure

# The provider's clock may run a little behind ours when it stamps the message it took.
RECONCILE_SLACK = timedelta(seconds=30)


def inbox_channel(user_id: int) -> str:
    """The bus channel a user's screens listen on."""
    return f"inbox:{user_id}"


class InAppSender:
    """Publishes the inbox item to the user's screens; the screen's receipt marks it delivered."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def __call__(self, message: OutboxMessage) -> SendOutcome:
        assert message.recipient_user_id is not None
        self.bus.publish(inbox_channel(message.recipient_user_id), {"type": "notification", **message.payload})
        return SendOutcome(ok=True, provider_status="published")


class SmsSender:
    """Sends through the configured SMS channel and asks for delivery reports at `status_callback`."""

    def __init__(self, channel: SmsChannel, status_callback: str | None) -> None:
        self.channel = channel
        self.status_callback = status_callback

    def __call__(self, message: OutboxMessage) -> SendOutcome:
        assert message.address is not None
        try:
            result = self.channel.send(message.address, str(message.payload["body"]), status_callback=self.status_callback)
        except SmsError as exc:
            return SendOutcome(ok=False, error=str(exc), retryable=exc.retryable, unknown=exc.unknown)
        if is_failure(result.status):
            return SendOutcome(
                ok=False,
                provider_id=result.provider_id,
                provider_status=result.status,
                error=result.error or f"provider answered {result.status}",
                retryable=False,
            )
        return SendOutcome(ok=True, provider_id=result.provider_id, provider_status=result.status)

    def reconcile(self, message: OutboxMessage) -> SendOutcome | None:
        """What became of a send with an unknown outcome: the provider's record of it, or None (not taken)."""
        assert message.address is not None
        since = message.created_at - RECONCILE_SLACK
        result = self.channel.find_sent(message.address, str(message.payload["body"]), since=since)
        if result is None:
            return None
        return SendOutcome(ok=True, provider_id=result.provider_id, provider_status=result.status)
