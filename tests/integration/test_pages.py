"""The web shell: signing in and out through forms, the home page, languages and page security."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.app import create_app
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.http import SESSION_COOKIE
from riskcontrol.settings import Settings
from tests import factories as f
from tests.signin import post_login


def seed(db: Session) -> f.Campus:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    f.user(db, "counselor", ("counselor", campus["C1K1"]), ("counselor", campus["C1K2"]), name="李老师")
    db.commit()
    return campus


def sign_in(client: TestClient, username: str, password: str = f.PASSWORD) -> httpx2.Response:
    return post_login(client, username, password)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None, "the home page carries a logout form with a CSRF token"
    return found.group(1)


class _Links(HTMLParser):
    """Collects every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "action") and value is not None]


def test_the_login_page_is_in_chinese_by_default(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assert "校园安全风险防控与危机应对指挥系统" in page.text
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert 'href="/login?lang=en"' in page.text


def test_choosing_english_shows_english_and_is_remembered_in_a_cookie(client: TestClient) -> None:
    page = client.get("/login?lang=en")
    assert '<html lang="en">' in page.text
    assert "Campus safety risk control &amp; crisis response" in page.text
    assert client.cookies.get("lang") == "en"
    assert '<html lang="en">' in client.get("/login").text
    assert '<html lang="zh-CN">' in client.get("/login?lang=zh-CN").text
    assert '<html lang="zh-CN">' in client.get("/login", headers={"Accept-Language": "en-US"}).text


def test_an_english_browser_gets_english(client: TestClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in page.text
    assert "Sign in" in page.text


def test_a_dorm_head_signs_in_and_sees_her_role_and_room(client: TestClient, db: Session) -> None:
    seed(db)
    reply = sign_in(client, "dorm_head")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/"
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200
    assert "王小明" in home.text
    assert "寝室长" in home.text
    assert "单位C1K1R1" in home.text
    # Her room with the class it belongs to; no count of "units in scope", which told her nothing.
    assert "单位C1K1的寝室" in home.text
    assert "管辖范围" not in home.text
    assert "个单位" not in home.text


def test_the_home_page_follows_the_language_choice(client: TestClient, db: Session) -> None:
    seed(db)
    sign_in(client, "dorm_head")
    home = client.get("/?lang=en")
    assert '<html lang="en">' in home.text
    assert "Dorm head" in home.text
    assert "Unit C1K1R1" in home.text
    assert "Dorm room in Unit C1K1" in home.text


def test_a_counselor_sees_both_classes_and_the_college_they_belong_to(client: TestClient, db: Session) -> None:
    seed(db)
    sign_in(client, "counselor")
    home = client.get("/").text
    assert home.count("辅导员") == 2
    assert "单位C1K1" in home
    assert "单位C1K2" in home
    assert home.count("单位C1的班级") == 2
    assert "个单位" not in home


def test_the_session_cookie_is_secure_when_the_settings_say_so(settings: Settings, clock: ManualClock, db: Session) -> None:
    seed(db)
    app = create_app(settings.model_copy(update={"cookie_secure": True}), clock=clock)
    with TestClient(app, base_url="https://testserver") as secure_client:  # a Secure cookie goes over https only
        reply = sign_in(secure_client, "dorm_head")
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "Secure" in cookie


def test_a_wrong_password_shows_the_error_and_keeps_the_username(client: TestClient, db: Session) -> None:
    seed(db)
    reply = sign_in(client, "dorm_head", "not the password")
    assert reply.status_code == 401
    assert "用户名或密码错误" in reply.text
    assert 'value="dorm_head"' in reply.text
    assert SESSION_COOKIE not in client.cookies
    english = post_login(client, "nobody", "x", query="?lang=en")
    assert english.status_code == 401
    assert "Wrong username or password" in english.text


def test_too_many_failures_lock_the_account_with_a_clear_message(client: TestClient, db: Session, settings: Settings) -> None:
    seed(db)
    for _ in range(settings.login_max_failures):
        assert sign_in(client, "dorm_head", "guess").status_code == 401
    locked = sign_in(client, "dorm_head")
    assert locked.status_code == 429
    assert "账号已暂时锁定" in locked.text
    assert re.search(r"请 1[56] 分钟后再试", locked.text)
    assert int(locked.headers["retry-after"]) > 0


def test_the_home_page_without_a_session_sends_you_to_sign_in(client: TestClient) -> None:
    reply = client.get("/", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, "forged-or-expired")
    stale = client.get("/", follow_redirects=False)
    assert stale.status_code == 303
    assert any(c.startswith(SESSION_COOKIE + '=""') for c in stale.headers.get_list("set-cookie"))


def test_signing_out_needs_the_csrf_token_of_the_session(client: TestClient, db: Session) -> None:
    seed(db)
    sign_in(client, "dorm_head")
    csrf = csrf_of(client.get("/").text)
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": "0" * 64}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf": "令牌"}, follow_redirects=False).status_code == 403
    missing = client.post("/logout", follow_redirects=False)
    assert missing.status_code == 403
    assert "页面已过期" in missing.text
    assert client.get("/", follow_redirects=False).status_code == 200
    denied = db.execute(select(AuditLog).where(AuditLog.action == "access.denied")).scalars().all()
    assert [d.subject_id for d in denied] == ["POST /logout"] * 3
    db.rollback()  # end the read before the app writes again (SQLite holds the lock for the transaction)

    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/grid/units").status_code == 401


def test_the_session_cookie_also_authenticates_the_api(client: TestClient, db: Session) -> None:
    seed(db)
    sign_in(client, "dorm_head")
    units = client.get("/api/v1/grid/units")
    assert units.status_code == 200
    assert [u["code"] for u in units.json()] == ["C1K1R1"]


def test_names_are_escaped_not_run(client: TestClient, db: Session) -> None:
    campus = f.build_campus(db)
    f.user(db, "mallory", ("dorm_head", campus["C1K1R1"]), name="<script>alert(1)</script>")
    db.commit()
    sign_in(client, "mallory")
    home = client.get("/").text
    assert "<script>" not in home
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home


@pytest.fixture
def signed_in(client: TestClient, db: Session) -> TestClient:
    seed(db)
    sign_in(client, "dorm_head")
    return client


@pytest.mark.parametrize("url", ["/login", "/login?lang=en", "/", "/?lang=en"])
def test_pages_carry_the_security_headers_and_load_nothing_from_other_hosts(signed_in: TestClient, url: str) -> None:
    page = signed_in.get(url, follow_redirects=False)
    assert page.status_code in (200, 303)
    if page.status_code == 303:
        page = signed_in.get(page.headers["location"])
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    links = _Links()
    links.feed(page.text)
    assert links.urls
    for link in links.urls:
        assert not re.match(r"^(?:[a-z][a-z0-9+.-]*:|//)", link, re.IGNORECASE), f"{url} refers to another host: {link}"
    for asset in (u for u in links.urls if u.startswith("/static/")):
        assert signed_in.get(asset).status_code == 200, asset


def test_the_error_and_login_failure_pages_load_nothing_from_other_hosts(signed_in: TestClient) -> None:
    refused = signed_in.post("/logout", data={"csrf": "x"})
    signed_in.cookies.clear()
    for page in (refused, sign_in(signed_in, "dorm_head", "wrong")):
        links = _Links()
        links.feed(page.text)
        assert all(u.startswith("/") and not u.startswith("//") for u in links.urls), links.urls
        assert page.headers["x-content-type-options"] == "nosniff"
        # No inline script: at most the page frame's own module (its back link), from this site.
        scripts = re.findall(r"<script[^>]*>", page.text)
        assert all(s == '<script type="module" src="/static/js/page.js">' for s in scripts), scripts
