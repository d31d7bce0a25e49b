"""SMS: the channel interface, the Twilio and console adapters, phone numbers and delivery receipts."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import phonenumbers
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.private import private_file
from riskcontrol.settings import Settings, SettingsError

log = logging.getLogger(__name__)

OUTBOX_FILE = "sms-outbox.log"
# At most how many of the newest messages to one phone are searched when reconciling a send of unknown
# outcome (the search stops earlier, at the first message older than the one looked for).
FIND_LIMIT = 500

# How far along a message is; callbacks arrive out of order, so only a further status counts.
# Terminal states share a rank: the first terminal report wins.
_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "partially_delivered": 4,
    "read": 5,
}
FAILURE_STATUSES = frozenset({"undelivered", "failed", "canceled"})
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it contains no phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_SMS_CAPABLE = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


@dataclass(frozen=True)
class SmsResult:
    """What the provider said when it accepted (or refused) one message."""

    provider_id: str
    status: str
    error: str | None = None


class SmsError(Exception):
    """Sending failed; `retryable` says whether the same message may succeed later, `unknown` that the
    provider may have taken it all the same (no answer in time), so it must be looked up, not resent."""

    def __init__(
        self, message: str, *, retryable: bool, http_status: int | None = None, code: int | None = None, unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status
        self.code = code
        self.unknown = unknown


class SmsChannel(Protocol):
    """Anything that can send one text message to one phone, and find one it may have sent."""

    name: str

    def send(self, to: str, body: str, *, status_callback: str | None) -> SmsResult: ...

    def find_sent(self, to: str, body: str, *, since: datetime) -> SmsResult | None:
        """The message with this text to this phone that the provider took at or after `since`, if any."""
        ...


@dataclass(frozen=True)
class StatusReceipt:
    """One delivery receipt (Twilio status callback), parsed."""

    provider_id: str
    status: str
    error_code: str | None


def is_retryable_status(http_status: int) -> bool:
    """Whether an HTTP status from the provider means "try again later" (429 and 5xx)."""
    return http_status == 429 or http_status >= 500


@lru_cache(maxsize=4096)
def normalize_cn_mobile(text: str) -> str:
    """The E.164 form of a mobile number, read as Chinese unless it carries a country code."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("phone number is empty")
    try:
        number = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it cannot be read")
        raise ValueError(f"{cleaned!r} is not a phone number: {reason}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{cleaned!r} is not a valid phone number")
    if phonenumbers.number_type(number) not in _SMS_CAPABLE:
        raise ValueError(f"{cleaned!r} is not a mobile number, so it cannot receive SMS")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def dialable(text: str) -> tuple[str, str]:
    """A number to ring from a phone: its `tel:` URI (E.164 when it reads as a number, Chinese unless it
    carries a country code; else its digits as written) and how to show it (`138 0013 8000`)."""
    cleaned = text.strip()
    try:
        number = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        return "tel:" + "".join(ch for ch in cleaned if ch.isdigit() or ch == "+"), cleaned
    return (
        "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
    )


def _recipient(to: str) -> str:
    try:
        return normalize_cn_mobile(to)
    except ValueError as exc:
        raise SmsError(str(exc), retryable=False) from exc


class _RebasedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with every request sent to another base URL (a proxy or a fake)."""

    def __init__(self, api_base: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        base = urlsplit(api_base)
        if base.scheme not in {"http", "https"} or not base.netloc:
            raise ValueError(f"api_base must be an http(s) URL, got {api_base!r}")
        self._base = base

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        target = urlsplit(url)
        path = self._base.path.rstrip("/") + target.path
        rebased = urlunsplit((self._base.scheme, self._base.netloc, path, target.query, target.fragment))
        return super().request(method, rebased, params, data, headers, auth, timeout, allow_redirects)


class TwilioSmsChannel:
    """SMS through Twilio's REST API with the official SDK (synchronous client)."""

    name: str = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, *, api_base: str | None = None, timeout: float = 10
    ) -> None:
        self.from_number = from_number
        self._http = _RebasedHttpClient(api_base, timeout=timeout) if api_base else TwilioHttpClient(timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)  # type: ignore[no-untyped-call]
        # The SDK imports its REST modules on first use: here, at start-up, rather than inside the
        # first text of the night, holding the interpreter (and the sweep beside it) for a second.
        self._client.messages  # noqa: B018

    def send(self, to: str, body: str, *, status_callback: str | None) -> SmsResult:
        """Hand one message to Twilio; a refusal or a network failure raises SmsError."""
        recipient = _recipient(to)
        callback: str | object = values.unset if status_callback is None else status_callback
        try:
            message = self._client.messages.create(to=recipient, from_=self.from_number, body=body, status_callback=callback)
        except (TwilioRestException, TwilioServiceException) as exc:
            why = exc.msg if isinstance(exc, TwilioRestException) else f"{exc.title}: {exc.detail or ''}"
            raise SmsError(
                f"Twilio refused the message (HTTP {exc.status}, code {exc.code}): {why}",
                retryable=is_retryable_status(exc.status),
                http_status=exc.status,
                code=exc.code,
            ) from exc
        except TwilioException as exc:
            raise SmsError(f"Twilio client error: {exc}", retryable=False) from exc
        except (ConnectTimeout, ConnectionRefusedError) as exc:
            raise SmsError(f"Twilio unreachable: {exc}", retryable=True) from exc
        except RequestsConnectionError as exc:
            # Refused before anything was sent is a plain failure; a connection lost mid-request is not.
            refused = isinstance(exc.__context__, ConnectionRefusedError) or "refused" in str(exc).lower()
            raise SmsError(f"Twilio unreachable: {exc}", retryable=True, unknown=not refused) from exc
        except OSError as exc:  # a read timeout: Twilio may have taken the message without answering in time
            raise SmsError(f"Twilio did not answer in time: {exc}", retryable=True, unknown=True) from exc
        if message.sid is None:
            raise SmsError("Twilio accepted the message but returned no sid", retryable=True)
        log.info("sms handed to twilio sid=%s status=%s", message.sid, message.status)
        return SmsResult(provider_id=message.sid, status=str(message.status or "queued"), error=message.error_message)

    def find_sent(self, to: str, body: str, *, since: datetime) -> SmsResult | None:
        """Look the message up in Twilio's log of this sender's messages to `to` (newest first)."""
        recipient = _recipient(to)
        try:
            # Newest first, page by page, until the messages are older than `since`.
            for message in self._client.messages.stream(to=recipient, from_=self.from_number, limit=FIND_LIMIT, page_size=50):
                created = message.date_created
                if created is not None and created < since:
                    break
                if message.body == body and message.sid:
                    status, error = str(message.status or "queued"), message.error_message
                    return SmsResult(provider_id=message.sid, status=status, error=error)
        except (TwilioException, OSError) as exc:
            raise SmsError(f"could not look the message up at Twilio: {exc}", retryable=True, unknown=True) from exc
        return None

    def close(self) -> None:
        """Release the pooled HTTP connections."""
        if self._http.session is not None:
            self._http.session.close()


class ConsoleSmsChannel:
    """The demo channel: logs each message and appends it to var/sms-outbox.log.

    Nobody receives these messages, so each is reported `delivered` at once; the file is what a
    drill or a demo inspects to see who would have been texted and what they would have read.
    """

    name: str = "console"

    def __init__(self, var_dir: Path, *, clock: Clock | None = None) -> None:
        self.path = var_dir / OUTBOX_FILE
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, status_callback: str | None) -> SmsResult:
        """Write the message to the log and the outbox file."""
        recipient = _recipient(to)
        provider_id = f"CONSOLE-{uuid.uuid4()}"
        record: dict[str, Any] = {
            "at": self._clock.now().isoformat(),
            "provider_id": provider_id,
            "to": recipient,
            "body": body,
            "status_callback": status_callback,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            private_file(self.path)  # phone numbers and crisis texts: the server account's alone
            with self.path.open("a", encoding="utf-8") as outbox:
                outbox.write(line)
        log.info("sms (console) to %s [%s]: %s", recipient, provider_id, body)
        return SmsResult(provider_id=provider_id, status="delivered")

    def find_sent(self, to: str, body: str, *, since: datetime) -> SmsResult | None:
        """The message in the outbox file, if it was written."""
        recipient = _recipient(to)
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        for line in reversed(lines):
            record = json.loads(line)
            if record["to"] == recipient and record["body"] == body and datetime.fromisoformat(record["at"]) >= since:
                return SmsResult(provider_id=record["provider_id"], status="delivered")
        return None


def channel_from_settings(settings: Settings) -> SmsChannel:
    """The configured SMS channel: Twilio when `sms_backend` says so, else the console."""
    if settings.sms_backend != "twilio":
        return ConsoleSmsChannel(settings.var_dir)
    sid, token, sender = settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from_number
    problems = settings.twilio_problems()
    if problems or sid is None or token is None or sender is None:
        raise SettingsError("; ".join(problems))
    return TwilioSmsChannel(sid, token, sender, api_base=settings.twilio_api_base)


def twilio_signature_ok(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Whether `signature` (X-Twilio-Signature) signs this public URL and these form fields."""
    if not signature:
        return False
    validator = RequestValidator(auth_token)  # type: ignore[no-untyped-call]
    return bool(validator.validate(url, params, signature))  # type: ignore[no-untyped-call]


def parse_status_callback(params: Mapping[str, str]) -> StatusReceipt:
    """Read the message id, status and error code from a Twilio status callback's form fields."""
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    if not provider_id:
        raise ValueError("MessageSid: missing from the status callback")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not status:
        raise ValueError("MessageStatus: missing from the status callback")
    return StatusReceipt(provider_id=provider_id, status=status, error_code=params.get("ErrorCode") or None)


def status_rank(status: str) -> int:
    """How far along a message with this status is; unknown statuses rank below all others."""
    return _STATUS_RANK.get(status.lower(), -1)


def furthest(current: str, new: str) -> str:
    """The status to keep when `new` arrives after `current` (a late, earlier status is ignored)."""
    return new if status_rank(new) > status_rank(current) else current


def is_failure(status: str) -> bool:
    """Whether the message will never reach the phone (undelivered, failed, canceled)."""
    return status.lower() in FAILURE_STATUSES
