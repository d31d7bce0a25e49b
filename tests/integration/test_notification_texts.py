"""Every kind of notification the system sends, in Chinese and English, read as a person reads it.

A month on the demo campus with a manual clock, from Saturday 28 November 2026 at 22:00: a red report whose class
cannot be reached by SMS (so the college is told at once) and whose incident pages the duty team, steps left
overdue, an incident to confirm, a roommate not back at the night check, gaps in the duty roster and prevention
rounds left undone, an opinion
item nobody acknowledges, a counsellor's own yellow report that puts a student on the key-concern register, an
incident walked to closed (recovery tasks, the review meeting, an improvement action, a playbook revision
proposed and rejected), hazards reported, assigned, left overdue and left unaccepted, inspection rounds missed.
Every text comes from the catalogue: none may show a code, a catalogue key, a `{placeholder}` or (in Chinese)
an English status word, and a time on another day than today carries its date.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.escalation.models import EscalationEvent
from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Student, User
from tests.integration.conftest import SHANGHAI, TEN_PM, Night, file_observation
from tests.integration.test_every_text import _propose_a_revision
from tests.integration.test_hazard_ledger import at, report, unit_id
from tests.integration.test_hazard_report_page import form, png, reported_id, send
from tests.integration.test_inspections import phone
from tests.texts import faults

# What the month sends, by kind.
KINDS = {
    "incident.page",
    "incident.task_overdue",
    "incident_proposal",
    "roster.gaps",
    "prevention.overdue",
    "escalation",
    "escalation.reminder",
    "escalation.night_rung",
    "key_concern.reminder",
    "key_concern.overdue",
    "opinion.first_report",
    "opinion.breach",
    "recovery.overdue",
    "review.reminder",
    "review.overdue",
    "action.assigned",
    "action.reminder",
    "action.overdue",
    "playbook.revision_proposed",
    "playbook.rejected",
    "hazard.reported",
    "hazard.assigned",
    "hazard.reminder",
    "hazard.overdue",
    "hazard.supervised",
    "hazard.acceptance_overdue",
    "inspection.missed",
}
WALK = ("take_control", "verify", "report_to_leaders", "activate_plan", "coordinate", "publish", "stabilise", "start_review")
# Whether the first message of a kind writes a date: a deadline days away or a day gone does, today's time does not.
DATED_KINDS = {
    "hazard.assigned": True,  # due in three days
    "hazard.reminder": True,
    "action.assigned": True,  # a due date is a whole day, always written with its date
    "review.reminder": True,
    "key_concern.overdue": True,  # due yesterday
    "escalation": False,  # acknowledge within minutes: today
    "opinion.first_report": False,
}
# A date as Babel writes it in each language (`12月1日`, `2026年12月1日`; `Dec 1`, `Dec 1, 2026`).
MONTHS = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
DATED = {"zh-CN": re.compile(r"\d{1,2}月\d{1,2}日"), "en": re.compile(rf"\b{MONTHS} \d{{1,2}}\b")}


def ok(reply: Any, status: int = 200) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _unreachable_by_sms(night: Night, *usernames: str) -> None:
    with night.sessions() as db, db.begin():
        db.execute(update(User).where(User.username.in_(usernames)).values(phone=None))


def _acknowledge_everything(night: Night) -> None:
    """Stop the climbs (and the night ladder): a month of reminders every two minutes says nothing new."""
    for username in ("affairs", "officer_cs"):
        for esc in night.client.get("/api/v1/escalations", headers=night.token(username)).json():
            if esc["status"] == "open":
                night.client.post(f"/api/v1/escalations/{esc['id']}/ack", headers=night.token(username))
            if esc["status"] in ("open", "acknowledged"):
                path = f"/api/v1/escalations/{esc['id']}/resolve"
                night.client.post(path, headers=night.token("affairs"), json={"outcome": "学生已找到，情绪平稳"})


def _opinion_item(night: Night) -> None:
    body = {
        "client_id": "opinion-texts-1",
        "unit_id": unit_id(night, "CS"),
        "title": "网传我校食堂发生学生受伤事件",
        "platforms": ["weibo"],
        "summary": "微博有视频称食堂排队时发生推搡。",
        "discovered_at": night.clock.now().astimezone(SHANGHAI).isoformat(),
        "reposts": 800,
        "views": 20_000,
        "media": "local_major",
        "trend": "rising",
    }
    # Filed by the college: the school's opinion officer is asked to confirm it, and nobody does.
    ok(night.client.post("/api/v1/opinion/reports", headers=night.token("officer_cs"), json=body), 201)


def _key_concern(night: Night) -> None:
    """The counsellor's own yellow report: the student goes on the register, a talk due in a week."""
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
        student = (
            db.execute(select(Student).where(Student.class_id == cls.id).order_by(Student.student_no.desc())).scalars().first()
        )
        assert student is not None
        body = {
            "client_id": "phone-texts-kc",
            "unit_id": cls.id,
            "student_id": student.id,
            "checklist": ["negative_speech"],
            "observed_at": night.clock.now().isoformat(),
        }
    assert ok(night.client.post("/api/v1/observations", json=body, headers=night.token("counselor_cs")), 201)["level"] == "yellow"


def _closed_incident_with_an_action_and_a_revision(night: Night) -> None:
    team = night.token("response1")
    body = {"type": "missing_student", "level": "II", "title": "学生失联", "unit_id": unit_id(night, "CS2301")}
    incident = ok(
        night.client.post("/api/v1/incidents", headers=team, json={**body, "commander_id": night.user("leader").id}), 201
    )
    for trigger in (*WALK, "close"):
        ok(night.client.post(f"/api/v1/incidents/{incident['id']}/transitions/{trigger}", headers=team, json={"confirm": True}))
    _propose_a_revision(night, incident["id"])  # from an improvement action due in twenty days
    [revision] = night.client.get("/api/v1/playbook-revisions", headers=night.token("leader")).json()
    path = f"/api/v1/playbook-revisions/{revision['id']}/reject"
    ok(night.client.post(path, headers=night.token("leader"), json={"note": "核实时限先按现行执行"}))


def _hazards(night: Night) -> None:
    """A blocked exit reported from the dorm head's phone; a red hazard put on the ledger by the safety office,
    assigned with a deadline in three days and left; another rectified at once and never accepted on site."""
    dorm_head = phone(night, "dorm_e1_101")
    reported_id(send(dorm_head, form(dorm_head), png()))
    fixes = {
        "owner_unit_id": unit_id(night, "CS"),
        "owner_user_id": night.user("officer_cs").id,
        "measures": "固定气瓶，张贴警示",
        "deadline": (night.clock.now() + timedelta(days=3)).isoformat(),
        "funds": "学院经费",
        "contingency_plan": "按实验室应急预案处置",
    }
    safety = night.token("safety")
    for rectified in (False, True):
        hid = report(night, safety, likelihood=5, impact=5)["id"]
        ok(night.client.post(f"/api/v1/hazards/{hid}/assign", headers=safety, json=fixes))
        if rectified:
            path = f"/api/v1/hazards/{hid}/submit"
            ok(night.client.post(path, headers=night.token("officer_cs"), json={"rectification": "已固定"}))


@pytest.fixture
def month(night: Night) -> Night:
    _unreachable_by_sms(night, "counselor_cs", "monitor_cs2301")
    file_observation(night, ("suicide_plan",))  # red; nobody in the class can get a text: the college at once
    at(night, TEN_PM + timedelta(minutes=3))  # a reminder, two minutes on
    _opinion_item(night)
    _key_concern(night)
    _closed_incident_with_an_action_and_a_revision(night)
    _hazards(night)
    at(night, TEN_PM + timedelta(minutes=6))
    _acknowledge_everything(night)
    at(night, TEN_PM + timedelta(minutes=70))  # 23:10
    file_observation(night, ("overnight_absence",), client_id="phone-texts-night")
    for minutes in (71, 90, 120):  # 23:11, the 23:30 and the 00:00 rungs
        at(night, TEN_PM + timedelta(minutes=minutes))
    _acknowledge_everything(night)
    moment = TEN_PM + timedelta(hours=2)
    while moment < TEN_PM + timedelta(days=31):  # hour by hour while the hazards' deadline is near, then faster
        moment += timedelta(hours=1 if moment < TEN_PM + timedelta(days=4) else 6)
        at(night, moment)
    return night


def _items(night: Night) -> list[Notification]:
    with night.sessions() as db:
        items = list(db.execute(select(Notification).order_by(Notification.id)).scalars())
        db.expunge_all()
    return items


def test_a_month_of_every_kind_of_notification_reads_clean_in_both_languages(month: Night) -> None:
    items = _items(month)
    sent = {item.kind for item in items}
    assert sent >= KINDS, sorted(KINDS - sent)
    with month.sessions() as db:
        fallback = db.execute(select(EscalationEvent.id).where(EscalationEvent.kind == "fallback")).first()
        texts = [
            str(m.payload["body"]) for m in db.execute(select(OutboxMessage).where(OutboxMessage.channel == "sms")).scalars()
        ]
        numbers = set(db.execute(select(Student.student_no)).scalars())
    assert fallback is not None, "the class could not be texted: the college should have been told at once"
    assert texts

    problems: list[str] = []
    for item in items:
        for lang, text in (("zh-CN", f"{item.title_zh}\n{item.body_zh}"), ("en", f"{item.title_en}\n{item.body_en}")):
            assert text.strip(), (item.kind, lang)
            problems += [f"{item.kind} #{item.id} {lang}: {fault}" for fault in faults(text, lang)]
    problems += [f"SMS: {fault}" for body in texts for fault in faults(body, "zh-CN")]
    assert problems == []

    # An SMS never carries a student number or the report's words (the disclosure policy).
    for body in texts:
        assert not [n for n in numbers if n in body], body
        assert "药瓶" not in body, body

    # Both languages say the same times, on the same days.
    for item in items:
        zh_times = [(DATED["zh-CN"].search(item.body_zh) is not None, t) for t in re.findall(r"\d{1,2}:\d{2}", item.body_zh)]
        en_times = [(DATED["en"].search(item.body_en) is not None, t) for t in re.findall(r"\d{1,2}:\d{2}", item.body_en)]
        assert sorted(zh_times) == sorted(en_times), (item.kind, item.body_zh, item.body_en)

    # A time on another day than today carries its date; today's is the time alone.
    for kind, dated in DATED_KINDS.items():
        item = next(item for item in items if item.kind == kind)
        for lang, body in (("zh-CN", item.body_zh), ("en", item.body_en)):
            assert bool(DATED[lang].search(body)) is dated, (kind, lang, body)
