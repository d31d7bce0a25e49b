"""A fake Twilio REST server on 127.0.0.1 that accepts messages and sends signed status callbacks."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

from riskcontrol.core.clock import Clock, SystemClock

Mode = Literal["queued", "error_400", "error_429", "error_500"]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token"
API_VERSION = "2010-04-01"

_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>AC[0-9a-fA-F]{{32}})/Messages\.json$")
_ERRORS: dict[str, tuple[int, int, str]] = {
    "error_400": (400, 21211, "Invalid 'To' Phone Number"),
    "error_429": (429, 20429, "Too Many Requests"),
    "error_500": (500, 20500, "Internal Server Error"),
}
# The error code Twilio reports on a failure receipt when the test names none.
_DEFAULT_ERROR_CODES = {"undelivered": "30003", "failed": "30008"}


def _error_body(http_status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": http_status}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeTwilio) -> None:
        super().__init__(("127.0.0.1", fake.port), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeTwilio/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read `.messages`, not a request log."""

    def do_GET(self) -> None:
        """List this account's messages, newest first, filtered by To and From as Twilio does."""
        fake = cast(_Server, self.server).fake
        parts = urlsplit(self.path)
        match = _MESSAGES_PATH.match(parts.path)
        user, password = self._basic_auth()
        if match is None or user != fake.account_sid or password != fake.auth_token:
            self._reply(404 if match is None else 401, _error_body(404 if match is None else 401, 20404, "not found"))
            return
        query = dict(parse_qsl(parts.query))
        with fake.lock:
            found = [
                m
                for m in reversed(fake.messages)
                if m["To"] == query.get("To", m["To"]) and m["From"] == query.get("From", m["From"])
            ]
        size = int(query.get("PageSize", "50"))
        records = [_message_json(fake.account_sid, m["Sid"], m, created=m["Created"]) for m in found[:size]]
        uri = parts.path + ("?" + parts.query if parts.query else "")
        page = {"first_page_uri": uri, "next_page_uri": None, "previous_page_uri": None, "page": 0, "page_size": size}
        self._reply(200, {"messages": records, "start": 0, "end": max(0, len(records) - 1), "uri": uri, **page})

    def do_POST(self) -> None:
        """Create a message (or answer with the error the test asked for), after the delay asked for."""
        fake = cast(_Server, self.server).fake
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        match = _MESSAGES_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._reply(404, _error_body(404, 20404, f"The requested resource {self.path} was not found"))
            return
        user, password = self._basic_auth()
        attempt = {**form, "AuthAccount": user, "AuthToken": password}
        with fake.lock:
            fake.requests.append(attempt)
        if user != fake.account_sid or password != fake.auth_token or match["account"] != fake.account_sid:
            self._reply(401, _error_body(401, 20003, "Authenticate"))
            return
        if fake.mode in _ERRORS:
            self._reply(*_error_response(fake.mode))
            return
        for field in ("To", "From", "Body"):
            if not form.get(field):
                self._reply(400, _error_body(400, 21604 if field == "To" else 21602, f"A '{field}' is required."))
                return
        sid = "SM" + uuid.uuid4().hex
        created = format_datetime(fake.now().astimezone(UTC), usegmt=True)
        with fake.lock:
            fake.messages.append({"Sid": sid, "Created": created, **attempt})
        # A slow provider takes the message at once and answers late (the reply may come too late).
        time.sleep(fake.delay)
        self._reply(201, _message_json(fake.account_sid, sid, form, created=created))

    def _basic_auth(self) -> tuple[str, str]:
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return "", ""
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        return user, password

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        # The client may have stopped waiting (its timeout was shorter than our delay).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)


def _error_response(mode: str) -> tuple[int, dict[str, Any]]:
    http_status, code, message = _ERRORS[mode]
    return http_status, _error_body(http_status, code, message)


def _message_json(account_sid: str, sid: str, form: dict[str, str], *, created: str) -> dict[str, Any]:
    now = created
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": form["Body"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form["From"],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": form["To"],
        "uri": uri,
    }


class FakeTwilio:
    """A Twilio REST endpoint for tests: `with FakeTwilio() as fake:` then point the SDK at `fake.base_url`."""

    def __init__(
        self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, clock: Clock | None = None, port: int = 0
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mode: Mode = "queued"
        # Seconds to wait before answering a new message (it is taken at once): a slow provider.
        self.delay = 0.0
        self.clock: Clock = clock or SystemClock()
        self.messages: list[dict[str, str]] = []
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        # 0: a free port, chosen when first started and kept, so that a restart listens where it did.
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._server = _Server(self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def base_url(self) -> str:
        """Where the server listens, e.g. http://127.0.0.1:40123."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def message(self, sid: str) -> dict[str, str]:
        """The message created with this sid."""
        with self.lock:
            for message in self.messages:
                if message["Sid"] == sid:
                    return message
        raise KeyError(f"no message {sid} was sent through the fake")

    def callback_params(self, sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
        """The form fields Twilio would POST to the StatusCallback when message `sid` reaches `status`."""
        message = self.message(sid)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["From"],
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["To"],
        }
        if status in _DEFAULT_ERROR_CODES:
            params["ErrorCode"] = error_code or _DEFAULT_ERROR_CODES[status]
        if status in {"delivered", "undelivered"}:
            params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
        return params

    def signed_headers(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """The headers of a callback POST to `url` with `params`, signed as Twilio signs it."""
        validator = RequestValidator(self.auth_token)  # type: ignore[no-untyped-call]
        signature: str = validator.compute_signature(url, params)  # type: ignore[no-untyped-call]
        return {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}

    def deliver(self, sid: str, status: str, error_code: str | None = None) -> int:
        """POST a signed status callback for `sid` to its StatusCallback URL; return the HTTP status."""
        url = self.message(sid).get("StatusCallback")
        if not url or urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError(f"message {sid} has no http(s) StatusCallback to deliver to")
        params = self.callback_params(sid, status, error_code)
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, data=urlencode(params).encode("utf-8"), headers=self.signed_headers(url, params), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the scheme is checked above
                return int(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code
