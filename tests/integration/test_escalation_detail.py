"""After acknowledging, the counsellor works the escalation: reads the climb in words, rings the people the
disclosure policy shows her in full (each number asked for, and audited), adds notes, and hands it over to the
college officer, who resolves it.

At 22:00 the dorm head of E1-101 reports her roommate's suicide plan; the class (counsellor and class monitor)
is told at once.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.deadlines import Deadline
from riskcontrol.escalation.models import Escalation
from riskcontrol.escalation.service import ack_token
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Student
from tests.integration.conftest import Night, file_observation, file_red_observation

# A code a person should never read: snake_case words (call_emergency, in_app, handed_over).
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def reported(night: Night) -> int:
    """The red report at 22:00, told to the class; the escalation's id."""
    filed = file_red_observation(night)
    night.at("22:00")
    return int(filed["escalation_id"])


def acknowledged(night: Night) -> int:
    escalation_id = reported(night)
    night.at("22:01")
    reply = night.client.post(f"/api/v1/escalations/{escalation_id}/ack", headers=night.token("counselor_cs"))
    assert reply.status_code == 200, reply.text
    return escalation_id


def story(night: Night, escalation_id: int, username: str, lang: str) -> list[dict[str, Any]]:
    reply = night.client.get(f"/api/v1/escalations/{escalation_id}/story?lang={lang}", headers=night.token(username))
    assert reply.status_code == 200, reply.text
    lines: list[dict[str, Any]] = reply.json()
    return lines


def audit_rows(night: Night, action: str) -> list[AuditLog]:
    with night.sessions() as db:
        return list(db.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars())


# ---- the climb in words ------------------------------------------------------------------------


def test_the_climb_reads_as_sentences_in_chinese_and_in_english_with_no_codes(night: Night) -> None:
    escalation_id = acknowledged(night)
    counselor = night.user("counselor_cs")
    zh = story(night, escalation_id, "counselor_cs", "zh-CN")
    texts = [line["text"] for line in zh]
    assert texts[0] == "开始逐级上报（紧急(红色)）"
    assert "首先通知：班级:辅导员与班长" in texts
    monitor = night.user("monitor_cs2301")
    # Everyone told at one moment over the same channels is one line.
    told = {f"通过站内消息和短信通知{counselor.name}和{monitor.name}", f"通过站内消息和短信通知{monitor.name}和{counselor.name}"}
    assert told & set(texts)
    assert f"{counselor.name}在系统中确认" in texts
    assert [line["tone"] for line in zh if line["text"] == f"{counselor.name}在系统中确认"] == ["done"]
    # Times on the school's clock, today's without a date.
    assert [line["when"] for line in zh][:2] == ["22:00", "22:00"]
    assert zh[-1]["when"] == "22:01"

    en = [line["text"] for line in story(night, escalation_id, "counselor_cs", "en")]
    told_en = {
        f"Told {counselor.name} and {monitor.name} by in-app message and text message",
        f"Told {monitor.name} and {counselor.name} by in-app message and text message",
    }
    assert en[0] == "The climb began (Emergency (red))"
    assert told_en & set(en)
    assert f"{counselor.name} acknowledged in the app" in en
    for text in texts + en:
        assert not SNAKE.search(text), text
        assert "escalation." not in text


def test_a_climb_nobody_answers_reads_step_by_step_and_reminders_name_everyone_once(night: Night) -> None:
    escalation_id = reported(night)
    for minute in ("22:02", "22:04", "22:05", "22:07", "22:09", "22:10", "22:15"):
        night.at(minute)
    lines = [(line["when"], line["text"], line["tone"]) for line in story(night, escalation_id, "officer_cs", "zh-CN")]
    texts = [text for _, text, _ in lines]
    monitor, counselor = night.user("monitor_cs2301").name, night.user("counselor_cs").name
    reminded = {f"通过短信再次提醒{counselor}和{monitor}", f"通过短信再次提醒{monitor}和{counselor}"}
    assert any(when == "22:02" and text in reminded for when, text, _ in lines)  # both in one line
    assert ("22:05", "班级:辅导员与班长未在时限内确认", "alert") in lines
    assert ("22:05", "升级通知：学院学工", "plain") in lines
    assert ("22:10", "升级通知：学校:学生处、心理中心与应急处置组", "plain") in lines
    # The top of the chain has nowhere higher to go: it is told again, and says so.
    assert ("22:15", "仍无人确认，再次通知：学校:学生处、心理中心与应急处置组", "plain") in lines
    assert len(texts) == len(set(zip(texts, [when for when, _, _ in lines], strict=True)))  # no line twice


def test_opening_the_page_is_the_read_receipt_and_the_story_says_so(night: Night) -> None:
    escalation_id = acknowledged(night)
    counselor = night.user("counselor_cs")
    page = night.client.get(f"/escalations/{escalation_id}", headers=night.token("counselor_cs"))
    assert page.status_code == 200
    with night.sessions() as db:
        mine = db.execute(select(Notification).where(Notification.user_id == counselor.id)).scalars().all()
        assert mine
        assert all(item.read_at is not None for item in mine)
    assert f"{counselor.name}已读" in [line["text"] for line in story(night, escalation_id, "counselor_cs", "zh-CN")]


# ---- whom to ring ------------------------------------------------------------------------------


def test_the_counsellor_gets_a_number_only_when_she_asks_and_each_read_is_audited(night: Night) -> None:
    escalation_id = acknowledged(night)
    counselor = night.token("counselor_cs")
    listed = night.client.get(f"/api/v1/escalations/{escalation_id}/contacts", headers=counselor)
    assert listed.status_code == 200
    people = listed.json()
    assert next(p["kind"] for p in people) == "student"
    assert {p["kind"] for p in people} == {"student", "guardian", "reporter"}
    assert all(p["may_call"] for p in people)
    assert "phone" not in listed.text
    assert "tel:" not in listed.text
    assert audit_rows(night, "escalation.phone.read") == []

    guardian = next(p for p in people if p["kind"] == "guardian")
    reply = night.client.post(f"/api/v1/escalations/{escalation_id}/phone", headers=counselor, json={"contact": guardian["key"]})
    assert reply.status_code == 200, reply.text
    phone = reply.json()
    assert re.fullmatch(r"tel:\+861[3-9]\d{9}", phone["tel"])
    assert phone["number"].replace(" ", "") == phone["tel"].removeprefix("tel:+86")
    [row] = audit_rows(night, "escalation.phone.read")
    assert (row.actor, row.subject_type, row.subject_id) == ("counselor_cs", "escalation", str(escalation_id))
    assert row.detail["contact"] == "guardian"
    assert row.detail["guardian_id"] == int(guardian["key"].removeprefix("guardian-"))
    assert phone["number"].replace(" ", "") not in str(row.detail)  # the log says whose number, not the number


def test_the_class_monitor_who_was_told_sees_names_but_no_number(night: Night) -> None:
    escalation_id = reported(night)
    monitor = night.token("monitor_cs2301")
    people = night.client.get(f"/api/v1/escalations/{escalation_id}/contacts", headers=monitor).json()
    assert [p["kind"] for p in people] == ["student", "reporter"]  # no guardians: the student is not shown in full
    assert not any(p["may_call"] for p in people)
    refused = night.client.post(f"/api/v1/escalations/{escalation_id}/phone", headers=monitor, json={"contact": "student"})
    assert refused.status_code == 403
    assert refused.json()["field"] == "contact"
    assert audit_rows(night, "escalation.phone.read") == []


@pytest.mark.parametrize(
    ("contact", "status"),
    [("guardian-999999", 422), ("the-mother", 422), ("", 422)],
)
def test_a_contact_that_is_not_there_is_refused_naming_the_field(night: Night, contact: str, status: int) -> None:
    escalation_id = acknowledged(night)
    reply = night.client.post(
        f"/api/v1/escalations/{escalation_id}/phone", headers=night.token("counselor_cs"), json={"contact": contact}
    )
    assert reply.status_code == status
    assert reply.json()["field"] == "contact"


def test_outside_her_college_the_escalation_does_not_exist(night: Night) -> None:
    escalation_id = acknowledged(night)
    other = night.token("counselor_me")
    for method, path, body in (
        ("get", "contacts", None),
        ("get", "story", None),
        ("get", "colleagues", None),
        ("post", "phone", {"contact": "student"}),
        ("post", "notes", {"text": "我来看看"}),
        ("post", "handover", {"to_user_id": night.user("officer_cs").id}),
    ):
        reply = night.client.request(method.upper(), f"/api/v1/escalations/{escalation_id}/{path}", headers=other, json=body)
        assert reply.status_code == 404, (path, reply.text)
        assert reply.json()["field"] == "escalation_id"


# ---- notes -------------------------------------------------------------------------------------


def test_a_note_goes_on_the_timeline_in_her_words_and_a_classmate_reads_only_that_there_is_one(night: Night) -> None:
    escalation_id = acknowledged(night)
    counselor = night.user("counselor_cs")
    reply = night.client.post(
        f"/api/v1/escalations/{escalation_id}/notes", headers=night.token("counselor_cs"), json={"text": "已到寝室，学生情绪平稳"}
    )
    assert reply.status_code == 201, reply.text
    assert f"{counselor.name}备注：已到寝室，学生情绪平稳" in [
        line["text"] for line in story(night, escalation_id, "counselor_cs", "zh-CN")
    ]
    # The class monitor was told (to stay with her classmate) but does not read the staff's words.
    seen_by_monitor = [line["text"] for line in story(night, escalation_id, "monitor_cs2301", "zh-CN")]
    assert f"{counselor.name}添加了备注" in seen_by_monitor
    assert not any("情绪平稳" in text for text in seen_by_monitor)
    [row] = audit_rows(night, "escalation.note")
    assert row.actor == "counselor_cs"


@pytest.mark.parametrize(("body", "field"), [({"text": "   "}, "text"), ({"text": ""}, "text"), ({"words": "x"}, "text")])
def test_an_empty_note_is_refused_naming_the_field(night: Night, body: dict[str, str], field: str) -> None:
    escalation_id = acknowledged(night)
    reply = night.client.post(f"/api/v1/escalations/{escalation_id}/notes", headers=night.token("counselor_cs"), json=body)
    assert reply.status_code == 422
    assert reply.json()["field"] == field


def test_a_closed_escalation_takes_no_more_notes(night: Night) -> None:
    escalation_id = acknowledged(night)
    counselor = night.token("counselor_cs")
    base = f"/api/v1/escalations/{escalation_id}"
    assert night.client.post(f"{base}/resolve", headers=counselor, json={"outcome": "已送医"}).status_code == 200
    assert night.client.post(f"{base}/close", headers=counselor, json={"outcome": "已送医，家长已到"}).status_code == 200
    reply = night.client.post(f"{base}/notes", headers=counselor, json={"text": "补记"})
    assert reply.status_code == 409
    assert reply.json()["field"] == "escalation_id"


# ---- hand-over ---------------------------------------------------------------------------------


def test_she_hands_the_acknowledged_escalation_to_the_college_officer_who_holds_it_and_resolves_it(night: Night) -> None:
    escalation_id = acknowledged(night)
    base = f"/api/v1/escalations/{escalation_id}"
    counselor, officer = night.user("counselor_cs"), night.user("officer_cs")
    colleagues = night.client.get(f"{base}/colleagues", headers=night.token("counselor_cs")).json()
    assert officer.id in [c["user_id"] for c in colleagues]
    assert counselor.id not in [c["user_id"] for c in colleagues]
    assert night.user("monitor_cs2301").id not in [c["user_id"] for c in colleagues]  # responders only

    night.at("22:03")
    reply = night.client.post(
        f"{base}/handover", headers=night.token("counselor_cs"), json={"to_user_id": officer.id, "note": "我在外地，请接手"}
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["held_by"]) == ("acknowledged", officer.id)

    # The officer is told at once, in-app and by text (a red warning), with the page's link.
    night.at("22:03")
    with night.sessions() as db:
        told = db.execute(select(Notification).where(Notification.user_id == officer.id)).scalars().all()
    [handed] = [n for n in told if n.kind == "escalation.handover"]
    assert handed.channels == "in_app,sms"
    assert handed.title_zh.startswith(f"【交接】{counselor.name}把")
    assert handed.data["link"] == f"http://testserver/escalations/{escalation_id}"
    assert any(m["Body"].startswith("【交接】") and m["To"] == f"+86{officer.phone}" for m in night.twilio.messages)
    [row] = audit_rows(night, "escalation.hand_over")
    assert (row.actor, row.detail) == ("counselor_cs", {"to": officer.id, "while": "acknowledged"})

    lines = [line["text"] for line in story(night, escalation_id, "officer_cs", "zh-CN")]
    assert f"{counselor.name}交接给{officer.name}：我在外地，请接手" in lines
    en = [line["text"] for line in story(night, escalation_id, "officer_cs", "en")]
    assert f"{counselor.name} handed it over to {officer.name}: 我在外地，请接手" in en

    resolved = night.client.post(f"{base}/resolve", headers=night.token("officer_cs"), json={"outcome": "已联系家长，学生已送医"})
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert f"{officer.name}处置完毕：已联系家长，学生已送医" in [
        line["text"] for line in story(night, escalation_id, "counselor_cs", "zh-CN")
    ]


def test_handing_over_an_open_escalation_does_not_stop_the_climb(night: Night) -> None:
    escalation_id = reported(night)
    officer = night.user("officer_cs")
    reply = night.client.post(
        f"/api/v1/escalations/{escalation_id}/handover", headers=night.token("counselor_cs"), json={"to_user_id": officer.id}
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["held_by"]) == ("open", officer.id)
    # The officer may acknowledge it from his inbox; until someone does, the step's deadline stands.
    mine = night.client.get("/api/v1/escalations?mine=true", headers=night.token("officer_cs")).json()
    assert escalation_id in [e["id"] for e in mine]
    with night.sessions() as db:
        due = db.execute(
            select(Deadline).where(Deadline.subject_id == str(escalation_id), Deadline.kind == "escalation.step_due")
        ).scalars()
        assert [d.status for d in due] == ["pending"]
    night.at("22:05")  # nobody acknowledged: the college is told, as it would have been
    with night.sessions() as db:
        esc = db.get(Escalation, escalation_id)
        assert esc is not None
        assert (esc.status, esc.current_step) == ("open", 1)
    ack = night.client.post(f"/api/v1/escalations/{escalation_id}/ack", headers=night.token("officer_cs"))
    assert ack.status_code == 200
    assert ack.json()["held_by"] == officer.id


@pytest.mark.parametrize(
    ("to", "field", "status"),
    [
        ("counselor_cs", "to_user_id", 422),  # herself
        ("monitor_cs2301", "to_user_id", 422),  # a student's grid role is no responder
        ("officer_me", "to_user_id", 422),  # another college's officer
        (None, "to_user_id", 422),  # no one
    ],
)
def test_a_hand_over_to_someone_who_cannot_take_it_is_refused_naming_the_field(
    night: Night, to: str | None, field: str, status: int
) -> None:
    escalation_id = acknowledged(night)
    body = {"to_user_id": night.user(to).id} if to else {"note": "x"}
    reply = night.client.post(f"/api/v1/escalations/{escalation_id}/handover", headers=night.token("counselor_cs"), json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
    assert audit_rows(night, "escalation.hand_over") == []


def test_a_resolved_escalation_is_not_handed_over(night: Night) -> None:
    escalation_id = acknowledged(night)
    base = f"/api/v1/escalations/{escalation_id}"
    counselor = night.token("counselor_cs")
    assert night.client.post(f"{base}/resolve", headers=counselor, json={"outcome": "已送医"}).status_code == 200
    reply = night.client.post(f"{base}/handover", headers=counselor, json={"to_user_id": night.user("officer_cs").id})
    assert reply.status_code == 409
    assert reply.json()["field"] == "escalation_id"


# ---- the page ----------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The words of a page a person reads (no scripts, no attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.words.append(data.strip())


def words_of(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.words


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh-CN", ["联系", "显示电话", "报告内容", "自杀计划或准备", "地点", "东1-101", "经过", "已启动的事件"]),
        ("en", ["Call", "Show the number", "What was reported", "Where", "E1-101", "What happened", "Incident opened"]),
    ],
)
def test_the_page_reads_in_the_readers_language_with_no_codes_and_no_numbers(
    night: Night, lang: str, expected: list[str]
) -> None:
    escalation_id = acknowledged(night)
    night.at("22:02")  # the incident the report calls for opens
    page = night.client.get(f"/escalations/{escalation_id}?lang={lang}", headers=night.token("counselor_cs"))
    assert page.status_code == 200
    words = words_of(page.text)
    text = " ".join(words)
    for expected_words in expected:
        assert expected_words in text
    for word in words:
        assert not SNAKE.search(word), word
        assert "escalation_page." not in word
        assert "escalation.story." not in word
    with night.sessions() as db:
        esc = db.get(Escalation, escalation_id)
        assert esc is not None
        assert esc.student_id is not None
        student = db.get(Student, esc.student_id)
        assert student is not None
        assert student.phone
        numbers = [student.phone, *(g.phone for g in student.guardians)]
    assert "tel:" not in page.text
    assert not any(number in page.text for number in numbers)
    assert re.search(r'href="/incidents/\d+"', page.text)
    # The student's register place was shown to her, and that read is audited.
    [read] = audit_rows(night, "escalation.student.read")
    assert read.actor == "counselor_cs"


def test_the_page_of_an_escalation_outside_her_college_is_not_found(night: Night) -> None:
    escalation_id = acknowledged(night)
    page = night.client.get(f"/escalations/{escalation_id}", headers=night.token("counselor_me"))
    assert page.status_code == 404
    assert "高危" not in page.text
    assert "自杀" not in page.text


def test_the_one_tap_sms_page_leads_to_the_details(night: Night) -> None:
    escalation_id = reported(night)
    counselor = night.user("counselor_cs")
    token = ack_token(night.app.state.ctx.secret, escalation_id, counselor.id)
    page = night.client.get(f"/e/{token}")
    assert page.status_code == 200
    assert f'href="/escalations/{escalation_id}"' in page.text
    assert "查看详情与处置" in page.text


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/escalations/{id}", "/escalations/{id}"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_from_the_sms_page_signing_in_leads_back_to_the_escalation_and_never_elsewhere(
    night: Night, asked: str, lands: str
) -> None:
    escalation_id = reported(night)
    away = night.client.get(f"/escalations/{escalation_id}", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, f"/login?next=/escalations/{escalation_id}")
    next_path = asked.format(id=escalation_id)
    form = night.client.get("/login", params={"next": next_path})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    signed_in = night.client.post(
        "/login",
        params={"next": next_path},
        data={"username": "counselor_cs", "password": "demo1234", "csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, lands.format(id=escalation_id))


def test_a_second_report_links_the_incident_the_first_one_opened(night: Night) -> None:
    first = reported(night)
    night.at("22:01")  # the incident opens
    second = file_observation(night, ("suicide_plan",), client_id="phone-7f3a-0002")["escalation_id"]
    night.at("22:02")  # the open incident about the same student hears of the second warning
    counselor = night.token("counselor_cs")
    links = [
        re.findall(r'href="/incidents/(\d+)"', night.client.get(f"/escalations/{e}", headers=counselor).text)
        for e in (first, second)
    ]
    assert links[0]
    assert links[0] == links[1]
