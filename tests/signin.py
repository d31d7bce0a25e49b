"""Signing in through the web form as a browser does: fetch the form, then post it with its token."""

from __future__ import annotations

import re

import httpx2
from fastapi.testclient import TestClient

FORM_TOKEN = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def form_token(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = FORM_TOKEN.search(html)
    assert found is not None, "the page has no form token"
    return found[1]


def post_login(client: TestClient, username: str, password: str, *, query: str = "") -> httpx2.Response:
    """Open the sign-in form (which sets its token's cookie) and post it; the reply is not followed."""
    page = client.get("/login" + query, follow_redirects=False)
    assert page.status_code == 200, f"the sign-in form was not shown: {page.status_code}"
    data = {"username": username, "password": password, "csrf": form_token(page.text)}
    return client.post("/login" + query, data=data, follow_redirects=False)
