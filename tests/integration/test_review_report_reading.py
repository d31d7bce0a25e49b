"""The review report as a leader reads it: a time chart readable at any length, channels and their states in words,
delivery from the channels' receipts (not from the read), the time to acknowledge, the internal mark on every page,
and the page with its way back and its print button.

Two records: the demo's history (a missing student found within two hours, the review two weeks on, a 15-day
record) and tonight's missing student, opened at 22:00 by the response team and walked for half an hour.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.demo_history import seed_history
from riskcontrol.notify.models import Notification
from riskcontrol.people import auth
from riskcontrol.people.models import User
from riskcontrol.reviews import report
from tests.integration.conftest import SHANGHAI, STATUS_URL, Night
from tests.integration.test_incident_walk import open_missing_student
from tests.signin import post_login
from tests.texts import faults, pdf_text, visible_text


def build(night: Night, incident_id: int, lang: str = "zh", username: str = "leader") -> dict[str, Any]:
    token = night.token(username)["Authorization"].removeprefix("Bearer ")
    with night.sessions() as db:
        principal = auth.load_principal(db, night.clock, token)
        assert principal is not None
        return report.build(db, night.clock, principal, incident_id, tz=SHANGHAI, lang=lang)


def share(chart: dict[str, Any], x: float) -> float:
    return float((x - chart["left"]) / (chart["right"] - chart["left"]))


def test_the_two_week_record_draws_its_first_hour_wide_with_ticks_in_words(night: Night) -> None:
    history = seed_history(night.app.state.ctx, night.clock)
    assert history.incident_id is not None
    chart = build(night, history.incident_id)["chart"]
    ticks = {tick["text"]: tick["x"] for tick in chart["ticks"]}
    assert {"接报", "10分钟", "1小时", "1天", "7天"} <= ticks.keys()
    assert share(chart, ticks["1小时"]) >= 0.25  # the first hour, where the late steps are, is a third of the axis
    assert share(chart, ticks["10分钟"]) >= 0.1
    late = {drawn["row"].label: drawn["late_text"] for drawn in chart["rows"] if drawn["row"].late}
    assert late == {"书面报告（初报）": "超时 7分钟", "联系家长，了解学生可能去向": "超时 4分钟"}
    english = build(night, history.incident_id, "en")["chart"]
    assert {"report", "10 min", "1 hr", "1 day", "7 days"} <= {tick["text"] for tick in english["ticks"]}


def walk_half_an_hour(night: Night) -> int:
    """22:00 the team opens a level Ⅱ missing-student incident; 22:02 the dispatch is done; 22:30 the last look."""
    team = night.token("response1")
    night.at("22:00")
    incident = open_missing_student(night, team)
    night.at("22:02")
    dispatch = next(t for t in incident["tasks"] if t["code"] == "dispatch")
    done = night.client.post(
        f"/api/v1/incidents/{incident['id']}/tasks/{dispatch['id']}/complete", headers=team, json={"evidence": "已派出"}
    )
    assert done.status_code == 200, done.text
    night.at("22:30")
    note = night.client.post(f"/api/v1/incidents/{incident['id']}/notes", headers=team, json={"text": "仍在查找"})
    assert note.status_code in (200, 201), note.text
    return int(incident["id"])


def test_a_half_hour_incident_keeps_an_even_axis_in_minutes(night: Night) -> None:
    chart = build(night, walk_half_an_hour(night))["chart"]
    texts = [tick["text"] for tick in chart["ticks"]]
    assert texts == ["接报", "5分钟", "10分钟", "15分钟", "20分钟", "25分钟", "30分钟"]
    assert share(chart, chart["ticks"][2]["x"]) == pytest.approx(1 / 3, abs=0.01)


def first_page(db: Session, incident_id: int) -> Notification:
    """The first notification about the incident: the page to the team on duty."""
    found = (
        db.execute(
            select(Notification)
            .where(Notification.subject_type == "incident", Notification.subject_id == str(incident_id))
            .order_by(Notification.id)
        )
        .scalars()
        .first()
    )
    assert found is not None
    return found


def test_channels_read_in_words_and_delivery_comes_from_the_receipts_not_from_the_read(night: Night) -> None:
    incident_id = walk_half_an_hour(night)
    with night.sessions() as db:
        page = first_page(db, incident_id)
        assert page.read_at is None
        page_id, to = page.id, page.user_id
        texted = db.execute(
            select(OutboxMessage).where(OutboxMessage.subject_id == str(page_id), OutboxMessage.channel == "sms")
        ).scalar_one()
        provider_id = texted.provider_id
    assert provider_id is not None
    night.at("22:31")
    params = night.twilio.callback_params(provider_id, "delivered")
    receipt = night.client.post(STATUS_URL, data=params, headers=night.twilio.signed_headers(STATUS_URL, params))
    assert receipt.status_code == 204, receipt.text
    in_app = ("站内消息 已送达 22:02", "In-app message: delivered 22:02")  # published by the dispatcher's round at 22:02
    sms = ("短信 已送达 22:31", "SMS: delivered 22:31")  # the operator's delivery report
    for lang, words in (("zh", (in_app[0], sms[0])), ("en", (in_app[1], sms[1]))):
        built = build(night, incident_id, lang)
        [row] = [n for n in built["notifications"] if n["user_id"] == to and n["what"] and n["sent"] == "22:00"][:1]
        cells = [c["text"] for c in row["channels"]]
        assert list(words) == cells, cells
        assert row["delivered"] == "22:02"  # the first receipt of any channel; nobody has read it
        assert row["read"] == "—"
        assert faults(" ".join(cells), "zh-CN" if lang == "zh" else "en") == []


def test_the_time_to_acknowledge_counts_to_the_first_read_of_the_page_when_no_warning_came_first(night: Night) -> None:
    incident_id = walk_half_an_hour(night)
    figures = {f["label"]: f for f in build(night, incident_id)["figures"]}
    assert figures["确认用时"]["value"] == "—"  # nobody has opened the page yet
    with night.sessions() as db:
        page = first_page(db, incident_id)
        username = db.execute(select(User.username).where(User.id == page.user_id)).scalar_one()
        page_id = page.id
    night.clock.set(night.clock.now().replace(minute=33))
    read = night.client.post(f"/api/v1/notify/inbox/{page_id}/read", headers=night.token(username))
    assert read.status_code == 204, read.text
    figures = {f["label"]: f for f in build(night, incident_id)["figures"]}
    assert figures["确认用时"]["value"] == "33分钟"
    assert figures["确认用时"]["basis"] == "自接报至值班人员首次查看通知"


def test_every_page_of_the_pdf_is_marked_internal(night: Night, tmp_path: Path) -> None:
    history = seed_history(night.app.state.ctx, night.clock)
    for lang, mark in (("zh", "内部资料"), ("en", "Internal")):
        reply = night.client.get(
            f"/api/v1/incidents/{history.incident_id}/review-report.pdf", params={"lang": lang}, headers=night.token("leader")
        )
        assert reply.status_code == 200
        text = pdf_text(reply.content, tmp_path, name=f"report-{lang}.pdf")
        pages = [page for page in text.split("\f") if page.strip()]
        assert len(pages) >= 5
        assert all(mark in page for page in pages), [i for i, page in enumerate(pages) if mark not in page]


def test_the_report_page_has_its_way_back_a_print_button_and_the_internal_mark(night: Night) -> None:
    history = seed_history(night.app.state.ctx, night.clock)
    signed = post_login(night.client, "leader", DEMO_PASSWORD)
    assert signed.status_code == 303
    reply = night.client.get(f"/incidents/{history.incident_id}/review-report")
    assert reply.status_code == 200, reply.text
    html = reply.text
    assert re.search(r'<a class="frame-back" href="/reviews"', html)
    assert '<button type="button" id="report-print"' in html
    assert '<script type="module" src="/static/js/report.js"></script>' in html
    assert f'href="/api/v1/incidents/{history.incident_id}/review-report.pdf?lang=zh"' in html
    assert '<p class="internal-mark">内部资料</p>' in html
    policy = reply.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert faults(visible_text(html), "zh-CN") == []
    english = night.client.get(f"/incidents/{history.incident_id}/review-report", params={"lang": "en"}).text
    assert ">Print</button>" in english
    assert faults(visible_text(english), "en") == []


def test_a_student_gets_no_report_page(night: Night) -> None:
    history = seed_history(night.app.state.ctx, night.clock)
    assert post_login(night.client, "dorm_e1_101", DEMO_PASSWORD).status_code == 303
    reply = night.client.get(f"/incidents/{history.incident_id}/review-report")
    assert reply.status_code == 404
    assert "突发事件复盘报告" not in reply.text


def test_the_timeline_shows_the_date_of_each_later_day(night: Night) -> None:
    history = seed_history(night.app.state.ctx, night.clock)
    assert history.incident_id is not None
    built = build(night, history.incident_id)
    times = [e["at_text"] for e in built["timeline"]]
    assert times[0] == "22:10"
    assert any(t.startswith("11月11日") for t in times)
    assert times[-1].startswith("11月2")
    assert built["same_day"] == "表中未注日期的时间均在2026年11月10日（接报当日）。"
    started: datetime = built["incident"].started_at
    assert started.astimezone(SHANGHAI).date().isoformat() == "2026-11-10"
