"""SMS: the real Twilio SDK against the fake server, the console outbox, receipts and their signatures."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import pytest

from riskcontrol.core.clock import ManualClock
from riskcontrol.notify.sms import (
    ConsoleSmsChannel,
    SmsError,
    StatusReceipt,
    TwilioSmsChannel,
    channel_from_settings,
    furthest,
    is_failure,
    normalize_cn_mobile,
    parse_status_callback,
    twilio_signature_ok,
)
from riskcontrol.settings import Settings, SettingsError
from tests.conftest import START
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

SENDER = "+15005550006"
CALLBACK = "https://ics.example.edu/twilio/status"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio(fake: FakeTwilio) -> Iterator[TwilioSmsChannel]:
    channel = TwilioSmsChannel(fake.account_sid, fake.auth_token, SENDER, api_base=fake.base_url, timeout=5)
    yield channel
    channel.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Sending through Twilio


def test_the_twilio_sdk_sends_through_the_fake_with_basic_auth_and_e164(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    result = twilio.send("138 1234 5678", "红色预警：3号楼 412 室，请立即确认。", status_callback=CALLBACK)

    assert result.status == "queued"
    assert result.error is None
    assert result.provider_id.startswith("SM")
    assert len(result.provider_id) == 34
    [seen] = fake.messages
    assert seen["Sid"] == result.provider_id
    assert seen["To"] == "+8613812345678"
    assert seen["From"] == SENDER
    assert seen["Body"] == "红色预警：3号楼 412 室，请立即确认。"
    assert seen["StatusCallback"] == CALLBACK
    assert (seen["AuthAccount"], seen["AuthToken"]) == (ACCOUNT_SID, AUTH_TOKEN)


def test_without_a_status_callback_none_is_sent(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    twilio.send("+8613812345678", "drill", status_callback=None)

    [seen] = fake.messages
    assert "StatusCallback" not in seen


def test_an_invalid_number_refused_by_twilio_is_not_retryable(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    fake.mode = "error_400"

    with pytest.raises(SmsError, match="Invalid 'To' Phone Number") as caught:
        twilio.send("13812345678", "hello", status_callback=None)

    assert caught.value.retryable is False
    assert (caught.value.http_status, caught.value.code) == (400, 21211)
    assert fake.messages == []


@pytest.mark.parametrize(("mode", "status"), [("error_500", 500), ("error_429", 429)])
def test_a_server_error_or_rate_limit_is_retryable(fake: FakeTwilio, twilio: TwilioSmsChannel, mode: Any, status: int) -> None:
    fake.mode = mode

    with pytest.raises(SmsError) as caught:
        twilio.send("13812345678", "hello", status_callback=None)

    assert caught.value.retryable is True
    assert caught.value.http_status == status


def test_wrong_credentials_are_not_retryable(fake: FakeTwilio) -> None:
    channel = TwilioSmsChannel(fake.account_sid, "not-the-token", SENDER, api_base=fake.base_url, timeout=5)
    try:
        with pytest.raises(SmsError, match="Authenticate") as caught:
            channel.send("13812345678", "hello", status_callback=None)
    finally:
        channel.close()

    assert caught.value.retryable is False
    assert caught.value.http_status == 401


def test_an_unreachable_twilio_is_retryable() -> None:
    channel = TwilioSmsChannel(ACCOUNT_SID, AUTH_TOKEN, SENDER, api_base=f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(SmsError, match="unreachable") as caught:
            channel.send("13812345678", "hello", status_callback=None)
    finally:
        channel.close()

    assert caught.value.retryable is True
    assert caught.value.http_status is None


def test_a_number_that_cannot_take_sms_fails_before_any_request(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    with pytest.raises(SmsError, match="not a mobile number") as caught:
        twilio.send("010 6552 9988", "hello", status_callback=None)

    assert caught.value.retryable is False
    assert fake.requests == []


# The console channel


def test_the_console_channel_appends_one_json_line_per_message(tmp_path: Path) -> None:
    clock = ManualClock(START)
    channel = ConsoleSmsChannel(tmp_path / "var", clock=clock)

    first = channel.send("13812345678", "火警：图书馆", status_callback=None)
    clock.advance(timedelta(minutes=5))
    second = channel.send("+86 139 0000 1111", "请确认", status_callback=CALLBACK)

    lines = (tmp_path / "var" / "sms-outbox.log").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["to"] for r in records] == ["+8613812345678", "+8613900001111"]
    assert records[0]["body"] == "火警：图书馆"
    assert records[0]["at"] == START.isoformat()
    assert records[1]["at"] == (START + timedelta(minutes=5)).isoformat()
    assert [r["provider_id"] for r in records] == [first.provider_id, second.provider_id]
    assert first.provider_id.startswith("CONSOLE-")
    assert first.provider_id != second.provider_id
    assert first.status == second.status == "delivered"
    assert "火警" in lines[0]


def test_the_console_channel_refuses_a_bad_number_without_writing(tmp_path: Path) -> None:
    channel = ConsoleSmsChannel(tmp_path)

    with pytest.raises(SmsError, match="not a phone number") as caught:
        channel.send("call me", "hello", status_callback=None)

    assert caught.value.retryable is False
    assert not (tmp_path / "sms-outbox.log").exists()


# Choosing the channel from settings


def test_settings_choose_the_console_by_default(tmp_path: Path) -> None:
    assert isinstance(channel_from_settings(Settings(var_dir=tmp_path)), ConsoleSmsChannel)


def test_settings_choose_twilio_when_configured(tmp_path: Path, fake: FakeTwilio) -> None:
    settings = Settings(
        var_dir=tmp_path,
        sms_backend="twilio",
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_from_number=SENDER,
        twilio_api_base=fake.base_url,
    )
    channel = channel_from_settings(settings)
    assert isinstance(channel, TwilioSmsChannel)
    try:
        channel.send("13812345678", "hello", status_callback=settings.public_url("/twilio/status"))
    finally:
        channel.close()

    assert fake.messages[0]["StatusCallback"] == "http://127.0.0.1:8000/twilio/status"


def test_twilio_without_credentials_names_every_missing_setting(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, sms_backend="twilio", twilio_account_sid="ACnothex")

    problems = settings.twilio_problems()
    with pytest.raises(SettingsError, match="RISKCONTROL_TWILIO_AUTH_TOKEN"):
        channel_from_settings(settings)

    assert any("RISKCONTROL_TWILIO_FROM_NUMBER" in p for p in problems)
    assert any("AC followed by 32 hex digits" in p for p in problems)


def test_production_twilio_needs_a_public_callback_address(tmp_path: Path) -> None:
    configured = {
        "var_dir": tmp_path,
        "environment": "production",
        "sms_backend": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": SENDER,
    }

    local = Settings.model_validate(configured)
    public = Settings.model_validate({**configured, "public_base_url": "https://ics.example.edu/"})

    assert [p for p in local.twilio_problems() if "PUBLIC_BASE_URL" in p]
    assert public.twilio_problems() == []
    assert public.public_url("twilio/status") == "https://ics.example.edu/twilio/status"
    assert Settings(var_dir=tmp_path).twilio_problems() == []


# Delivery receipts


def test_a_correct_signature_is_accepted_and_a_wrong_or_missing_one_rejected(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    sid = twilio.send("13812345678", "hello", status_callback=CALLBACK).provider_id
    params = fake.callback_params(sid, "delivered")
    signature = fake.signed_headers(CALLBACK, params)["X-Twilio-Signature"]

    assert twilio_signature_ok(AUTH_TOKEN, CALLBACK, params, signature)
    assert not twilio_signature_ok(AUTH_TOKEN, CALLBACK, params, signature[:-2] + "xx")
    assert not twilio_signature_ok(AUTH_TOKEN, CALLBACK, params, None)
    assert not twilio_signature_ok(AUTH_TOKEN, CALLBACK, params, "")
    assert not twilio_signature_ok("another-token", CALLBACK, params, signature)
    assert not twilio_signature_ok(AUTH_TOKEN, CALLBACK, {**params, "MessageStatus": "failed"}, signature)
    # Behind a proxy the app sees http://127.0.0.1:8000/..., but Twilio signed the public URL.
    assert not twilio_signature_ok(AUTH_TOKEN, "http://127.0.0.1:8000/twilio/status", params, signature)


def test_a_failure_receipt_carries_its_error_code(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    sid = twilio.send("13812345678", "hello", status_callback=CALLBACK).provider_id

    undelivered = parse_status_callback(fake.callback_params(sid, "undelivered"))
    delivered = parse_status_callback(fake.callback_params(sid, "delivered"))

    assert undelivered == StatusReceipt(provider_id=sid, status="undelivered", error_code="30003")
    assert delivered == StatusReceipt(provider_id=sid, status="delivered", error_code=None)
    assert parse_status_callback(fake.callback_params(sid, "failed", "21610")).error_code == "21610"


def test_a_receipt_without_a_message_id_is_refused() -> None:
    with pytest.raises(ValueError, match="MessageSid"):
        parse_status_callback({"MessageStatus": "delivered"})
    with pytest.raises(ValueError, match="MessageStatus"):
        parse_status_callback({"MessageSid": "SM" + "0" * 32})


class _CallbackServer(ThreadingHTTPServer):
    """Stands in for our status-callback endpoint: records each POST with its signature."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.received: list[tuple[str, dict[str, str], str | None]] = []


class _Receiver(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_POST(self) -> None:
        """Record the callback and answer 204."""
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        received = cast(_CallbackServer, self.server).received
        received.append((self.path, dict(parse_qsl(body)), self.headers.get("X-Twilio-Signature")))
        self.send_response(204)
        self.end_headers()


def test_deliver_posts_a_signed_callback_that_our_check_accepts(fake: FakeTwilio, twilio: TwilioSmsChannel) -> None:
    server = _CallbackServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/twilio/status"
        sid = twilio.send("13812345678", "hello", status_callback=url).provider_id
        assert fake.deliver(sid, "undelivered") == 204
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    [(path, params, signature)] = server.received
    assert path == "/twilio/status"
    assert twilio_signature_ok(AUTH_TOKEN, url, params, signature)
    assert parse_status_callback(params) == StatusReceipt(sid, "undelivered", "30003")


def test_callbacks_out_of_order_keep_the_furthest_status() -> None:
    status = "queued"
    for late in ["sent", "delivered", "sent", "sending"]:
        status = furthest(status, late)

    assert status == "delivered"
    assert furthest("sent", "queued") == "sent"
    assert furthest("queued", "undelivered") == "undelivered"
    assert furthest("undelivered", "delivered") == "undelivered"
    assert furthest("delivered", "something-new") == "delivered"


def test_undelivered_failed_and_canceled_are_failures() -> None:
    assert [s for s in ["queued", "sent", "delivered", "undelivered", "failed", "canceled"] if is_failure(s)] == [
        "undelivered",
        "failed",
        "canceled",
    ]


# Chinese mobile numbers


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("13812345678", "+8613812345678"),
        (" 138 1234 5678 ", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("19912345678", "+8619912345678"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_mobile_numbers_become_e164(text: str, e164: str) -> None:
    assert normalize_cn_mobile(text) == e164


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("call me", "not a phone number"),
        ("010 6552 9988", "not a mobile number"),
        ("1381234567", "not a valid phone number"),
        ("138123456789", "not a valid phone number"),
        ("+999 13812345678", "unknown country code"),
    ],
)
def test_numbers_that_cannot_take_sms_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_cn_mobile(text)
