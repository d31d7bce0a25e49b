"""Another site cannot act with a user's cookie; a socket opened by another site is refused; anonymous
refusals leave no audit row; anonymous callers, sign-ins and each user are rate-limited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from riskcontrol.app import create_app
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.http import SESSION_COOKIE
from riskcontrol.settings import Settings
from tests import factories as f
from tests.signin import form_token, post_login

META_TOKEN = re.compile(r'<meta name="csrf-token" content="([0-9a-f]*)">')


@pytest.fixture
def campus(db: Session) -> f.Campus:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    db.commit()
    return campus


def signed_in(client: TestClient) -> str:
    """Sign the dorm head in through the form; the CSRF token her pages carry."""
    assert post_login(client, "dorm_head", f.PASSWORD).status_code == 303
    found = META_TOKEN.search(client.get("/").text)
    assert found is not None
    assert found[1]
    return found[1]


def audit_rows(db: Session) -> int:
    db.rollback()
    return db.execute(select(func.count()).select_from(AuditLog)).scalar_one()


# --- CSRF ------------------------------------------------------------------------------------------


def test_a_change_made_with_the_session_cookie_needs_the_pages_csrf_token(client: TestClient, campus: f.Campus) -> None:
    token = signed_in(client)
    for sent in ({}, {"X-CSRF-Token": "0" * 64}):
        refused = client.post("/api/v1/auth/logout", headers=sent)
        assert refused.status_code == 403
        assert refused.json() == {"error": "csrf", "message": refused.json()["message"], "field": "X-CSRF-Token"}
        assert "X-CSRF-Token" in refused.json()["message"]
    assert client.get("/api/v1/auth/me").status_code == 200  # reads need no token; the session still holds
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_a_bearer_token_needs_no_csrf_token(client: TestClient, campus: f.Campus) -> None:
    bearer = f.bearer(client, "dorm_head")
    assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204


def test_the_sign_in_form_is_refused_without_its_own_token_and_offers_a_fresh_one(client: TestClient, campus: f.Campus) -> None:
    forged = client.post("/login", data={"username": "dorm_head", "password": f.PASSWORD}, follow_redirects=False)
    assert forged.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert "登录页面已过期" in forged.text
    wrong = client.post(
        "/login", data={"username": "dorm_head", "password": f.PASSWORD, "csrf": "0" * 64}, follow_redirects=False
    )
    assert wrong.status_code == 403
    again = {"username": "dorm_head", "password": f.PASSWORD, "csrf": form_token(wrong.text)}
    assert client.post("/login", data=again, follow_redirects=False).status_code == 303


# --- websockets ------------------------------------------------------------------------------------


def test_a_socket_opened_by_another_site_is_refused_before_it_opens(client: TestClient, campus: f.Campus) -> None:
    signed_in(client)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws/inbox", headers={"origin": "http://evil.example"}),
    ):
        pass
    assert refused.value.code == 4403
    for origin in ({"origin": "http://testserver"}, {}):  # its own pages, and clients that send no Origin
        with client.websocket_connect("/ws/inbox", headers=origin) as socket:
            assert socket.receive_json()["type"] == "snapshot"


# --- anonymous refusals ------------------------------------------------------------------------------


def test_anonymous_refusals_write_no_audit_rows(client: TestClient, campus: f.Campus, db: Session) -> None:
    before = audit_rows(db)
    for n in range(10):
        assert client.get(f"/e/forged-link-{n}").status_code == 403
        assert client.post(f"/e/forged-link-{n}").status_code == 403
        assert client.get("/api/v1/incidents").status_code == 401
        assert client.post("/api/v1/auth/logout").status_code == 401
    assert audit_rows(db) == before


# --- rate limits ----------------------------------------------------------------------------------


def test_anonymous_requests_are_limited_per_address(client: TestClient, clock: ManualClock) -> None:
    for _ in range(60):
        assert client.get("/api/v1/incidents").status_code == 401
    limited = client.get("/api/v1/incidents")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert set(limited.json()) == {"error", "message", "field"}
    assert limited.headers["retry-after"] == "1"
    assert client.get("/healthz").status_code == 200  # health checks and static files are not counted
    clock.advance(timedelta(seconds=1))
    assert client.get("/api/v1/incidents").status_code == 401
    assert client.get("/api/v1/incidents").status_code == 429


def test_sign_in_attempts_are_limited_per_address_and_name(client: TestClient, campus: f.Campus, clock: ManualClock) -> None:
    for _ in range(10):
        assert client.post("/api/v1/auth/token", json={"username": "someone", "password": "guess"}).status_code == 401
    limited = client.post("/api/v1/auth/token", json={"username": "someone", "password": "guess"})
    assert (limited.status_code, limited.json()["error"], limited.json()["field"]) == (429, "rate_limited", "username")
    assert int(limited.headers["retry-after"]) == 6
    # Another name from the same address is not held up (the lockout in the database guards each account).
    assert client.post("/api/v1/auth/token", json={"username": "dorm_head", "password": f.PASSWORD}).status_code == 200
    for _ in range(10):
        assert post_login(client, "nobody", "guess").status_code == 401
    page = post_login(client, "nobody", "guess")
    assert page.status_code == 429
    assert "登录尝试过于频繁" in page.text
    assert "retry-after" in page.headers
    assert post_login(client, "dorm_head", f.PASSWORD).status_code == 303
    clock.advance(timedelta(seconds=6))
    assert client.post("/api/v1/auth/token", json={"username": "someone", "password": "guess"}).status_code == 401


@pytest.fixture
def strict_client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_user_per_minute": 5}), clock=clock)) as client:
        yield client


def test_a_user_is_limited_whatever_the_credential(strict_client: TestClient, campus: f.Campus, clock: ManualClock) -> None:
    bearer = f.bearer(strict_client, "dorm_head")
    for _ in range(5):
        assert strict_client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    limited = strict_client.get("/api/v1/auth/me", headers=bearer)
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    assert limited.headers["retry-after"] == "12"
    clock.advance(timedelta(seconds=12))
    assert strict_client.get("/api/v1/auth/me", headers=bearer).status_code == 200
