"""The warning stage's pages: the phone filing form, the inbox, and the one-tap acknowledgement link from an SMS."""

from __future__ import annotations

import html
import json
import logging
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskcontrol.core.audit import AuditLog
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.escalation.models import Escalation
from riskcontrol.escalation.service import ack_token
from riskcontrol.notify.models import Notification
from tests.integration.conftest import Night, file_red_observation
from tests.integration.test_metrics import grown, scrape
from tests.signin import post_login


def sign_in(client: TestClient, username: str) -> None:
    reply = post_login(client, username, DEMO_PASSWORD)
    assert reply.status_code == 303, reply.text


def escalation(night: Night, escalation_id: int) -> Escalation:
    with night.sessions() as db:
        found = db.get(Escalation, escalation_id)
        assert found is not None
        db.expunge(found)
        return found


def sms_link_path(night: Night, username: str, escalation_id: int) -> str:
    """The path of the one-tap link in the message `username` was sent about the escalation."""
    user_id = night.user(username).id
    with night.sessions() as db:
        items = db.execute(select(Notification).where(Notification.user_id == user_id)).scalars().all()
        links = [str(n.data["link"]) for n in items if n.data.get("escalation_id") == escalation_id]
    assert links, f"{username} was told about escalation {escalation_id}"
    return urlsplit(links[0]).path


def scripts_of(html: str) -> list[str]:
    """The src of every script tag; an inline script (no src) shows up as an empty string."""
    tags = re.findall(r"<script\b[^>]*>", html)
    return [found.group(1) if (found := re.search(r'src="([^"]+)"', tag)) else "" for tag in tags]


def test_a_signed_in_dorm_head_gets_the_checklist_in_chinese_with_her_room_preselected(night: Night) -> None:
    sign_in(night.client, "dorm_e1_101")
    page = night.client.get("/observe")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    for text in ("报告异常情况", "情绪与自伤", "自杀计划或准备", "言语消极", "已保存，联网后自动发送"):
        assert text in page.text
    assert re.search(r'<option value="\d+" selected>东1-101', page.text)
    assert 'accept="image/*"' in page.text
    assert scripts_of(page.text) == ["/static/js/page.js", "/static/js/observe.js"]  # the frame's, then the page's own
    assert 'style="' not in page.text
    assert night.client.get("/static/js/observe.js").status_code == 200

    english = night.client.get("/observe?lang=en")
    assert '<html lang="en">' in english.text
    assert "Suicide plan or preparation" in english.text
    assert "Saved; will send when back online" in english.text


@pytest.mark.parametrize("path", ["/observe", "/inbox"])
def test_the_phone_pages_send_a_stranger_to_sign_in(night: Night, path: str) -> None:
    reply = night.client.get(path, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login"


def test_the_inbox_page_renders_its_shell_for_the_script_to_fill(night: Night) -> None:
    sign_in(night.client, "counselor_cs")
    page = night.client.get("/inbox")
    assert page.status_code == 200
    assert "待我处理" in page.text
    assert 'id="inbox-list"' in page.text
    levels = re.search(r"data-levels='([^']*)'", page.text)
    assert levels is not None
    assert json.loads(html.unescape(levels.group(1)))["red"]["name"] == "紧急"
    assert scripts_of(page.text) == ["/static/js/page.js", "/static/js/inbox.js"]  # the frame's, then the page's own
    assert "script-src 'self'" in page.headers["content-security-policy"]
    home = night.client.get("/").text
    assert 'href="/observe"' in home
    assert 'href="/inbox"' in home


def test_opening_the_sms_link_shows_one_button_and_acknowledges_nothing(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")  # the worker tells the class level: the counselor gets the SMS with the link
    path = sms_link_path(night, "counselor_cs", filed["escalation_id"])
    page = night.client.get(path)
    assert page.status_code == 200
    assert "异常情况报告" in page.text
    assert '<form class="form ack-form" method="post">' in page.text
    assert "确认</button>" in page.text
    assert escalation(night, filed["escalation_id"]).status == "open"


def test_pressing_the_button_on_the_link_page_acknowledges_by_link(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")
    path = sms_link_path(night, "counselor_cs", filed["escalation_id"])
    night.at("22:03")
    done = night.client.post(path)
    assert done.status_code == 200
    assert "已确认 22:03" in done.text
    acknowledged = escalation(night, filed["escalation_id"])
    assert (acknowledged.status, acknowledged.acknowledged_via) == ("acknowledged", "link")
    assert acknowledged.acknowledged_by == night.user("counselor_cs").id

    again = night.client.post(path)  # a second tap changes nothing and says so
    assert again.status_code == 200
    assert "此预警已于 22:03 确认" in again.text
    assert escalation(night, filed["escalation_id"]).acknowledged_at == acknowledged.acknowledged_at
    assert "This warning was acknowledged at 22:03" in night.client.get(path + "?lang=en").text


def test_a_forged_link_is_refused_counted_and_logged_without_the_token_and_not_audited(
    night: Night, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 16 changed this: a refusal of nobody in particular writes no audit row (anyone could fill
    # the log with them); it is counted in the metrics and logged, and rate-limited.
    filed = file_red_observation(night)
    counselor = night.user("counselor_cs")
    forged = ack_token("not-our-secret-" + "x" * 40, filed["escalation_id"], counselor.id)
    before = scrape(night.client)
    with caplog.at_level(logging.INFO, logger="riskcontrol.core.http"):
        for method in ("GET", "POST"):
            reply = night.client.request(method, f"/e/{forged}")
            assert reply.status_code == 403
            assert "确认链接无效或已过期" in reply.text
        assert night.client.post("/e/" + "a" * 600).status_code == 403
    assert escalation(night, filed["escalation_id"]).status == "open"
    with night.sessions() as db:
        assert db.execute(select(AuditLog).where(AuditLog.action == "access.denied")).scalars().all() == []
    assert grown(before, scrape(night.client), "riskcontrol_http_refusals_total", reason="anonymous") == 3
    logged = [r.getMessage() for r in caplog.records if r.name == "riskcontrol.core.http"]
    assert sum("GET /e/{token}" in line for line in logged) == 1
    assert sum("POST /e/{token}" in line for line in logged) == 2
    assert all(forged not in line and "a" * 600 not in line for line in logged)
