"""The people at the other end of the API: a dorm head's phone that retries, and an officer who acknowledges."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from riskcontrol.demo import DEMO_PASSWORD

# A phone keeps an unsent observation and retries it (same client_id) for this long.
RETRY_FOR_SECONDS = 30.0


class Phone:
    """HTTP as a phone does it: a failed send is retried with the same body, after Retry-After if
    the server gave one; every answer's status is counted ("conn" when there was none)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=15)
        self.statuses: Counter[str] = Counter()
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def rebase(self, base: str) -> None:
        """Talk to another server from now on (tokens hold across processes)."""
        self.base = self.http.base_url = base

    def send(
        self, method: str, path: str, *, username: str | None = None, body: dict[str, Any] | None = None
    ) -> httpx.Response | None:
        """The first answer that is not a 5xx, or None when there was none within RETRY_FOR_SECONDS."""
        ends = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            headers = {"Authorization": f"Bearer {self._token(username)}"} if username else {}
            wait = 0.5
            try:
                reply = self.http.request(method, path, json=body, headers=headers)
                self.statuses[str(reply.status_code)] += 1
                if reply.status_code < 500:
                    return reply
                wait = float(reply.headers.get("Retry-After") or wait)
            except httpx.HTTPError:
                self.statuses["conn"] += 1
            if time.monotonic() + wait > ends:
                return None
            time.sleep(wait)

    def _token(self, username: str) -> str:
        if username not in self._tokens:
            body = {"username": username, "password": DEMO_PASSWORD}
            reply = self.send("POST", "/api/v1/auth/token", body=body)
            if reply is None or reply.status_code != 200:
                raise RuntimeError(f"{username} could not sign in: {reply.text if reply else 'no answer'}")
            self._tokens[username] = str(reply.json()["access_token"])
        return self._tokens[username]

    def file(self, client_id: str, *, unit_id: int, student_id: int, checklist: list[str]) -> dict[str, Any] | None:
        """The dorm head of E1-101 files an observation; its stored form, or None if it never got through."""
        body = {
            "client_id": client_id,
            "unit_id": unit_id,
            "student_id": student_id,
            "checklist": checklist,
            "note": "她说今晚想结束一切，桌上有药瓶",
            "observed_at": datetime.now(UTC).isoformat(),
        }
        reply = self.send("POST", "/api/v1/observations", username="dorm_e1_101", body=body)
        if reply is None or reply.status_code not in (200, 201):
            return None
        stored: dict[str, Any] = reply.json()
        return stored

    def acknowledge(self, escalation_id: int) -> None:
        """The response team acknowledges (stops the climb); already acknowledged is fine."""
        self.send("POST", f"/api/v1/escalations/{escalation_id}/ack", username="response1")
