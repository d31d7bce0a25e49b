"""A dorm head signs in on a phone-sized screen in Chromium and sees her role and room in Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize
from sqlalchemy.orm import Session

from riskcontrol.core.http import SESSION_COOKIE
from tests import factories as f
from tests.e2e.conftest import LiveServer

PHONE: ViewportSize = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def test_a_dorm_head_signs_in_on_her_phone_and_sees_her_room(
    browser: Browser, live_server: LiveServer, db: Session, tmp_path: Path
) -> None:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]), name="王小明")
    db.commit()

    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")
        assert page.url == live_server.url + "/login"
        assert page.get_attribute("html", "lang") == "zh-CN"
        page.screenshot(path=str(tmp_path / "login-390x844.png"), full_page=True)

        page.fill("#username", "dorm_head")
        page.fill("#password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        assert page.get_attribute("html", "lang") == "zh-CN"
        body = page.inner_text("body")
        assert "王小明" in body
        assert "寝室长" in body
        assert "单位C1K1R1" in body
        session = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
        assert session["httpOnly"]
        assert session["sameSite"] == "Lax"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "home-390x844.png"), full_page=True)

        page.click("a[hreflang=en]")
        page.wait_for_url(live_server.url + "/?lang=en")
        assert page.get_attribute("html", "lang") == "en"
        assert "Dorm head" in page.inner_text("body")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "home-en-390x844.png"), full_page=True)

        page.click("form.logout-form button[type=submit]")
        page.wait_for_url(live_server.url + "/login")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
