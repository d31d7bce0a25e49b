"""The recovery stage's first promise: a review meeting (复盘会) within 30 days of closing an incident of level Ⅰ–Ⅲ.

On the demo campus with a manual clock: a level Ⅱ missing-student incident is walked to closed on 28 November
at 22:00, so its review is due on 28 December at 22:00. The commander and student affairs are reminded 7 days
and 1 day before; not held by the due minute, it turns overdue and the leaders and student affairs are told,
once. Held afterwards, it is recorded as held late, with attendees, minutes and conclusions, and every step is
on the incident's timeline. A false alarm needs no review, a level Ⅳ incident neither, and reopening cancels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import User
from tests.integration.conftest import SHANGHAI, TEN_PM, Night

WALK = (
    "take_control",
    "verify",
    "report_to_leaders",
    "activate_plan",
    "coordinate",
    "publish",
    "stabilise",
    "start_review",
    "close",
)


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment.astimezone(UTC))
    night.worker.run_once()


def open_incident(night: Night, level: str, **extra: Any) -> int:
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
    body = {"type": "missing_student", "level": level, "title": "学生失联", "unit_id": cls.id, **extra}
    reply = night.client.post("/api/v1/incidents", headers=night.token("response1"), json=body)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def walk(night: Night, incident_id: int, triggers: tuple[str, ...] = WALK) -> None:
    team = night.token("response1")
    for trigger in triggers:
        reply = night.client.post(f"/api/v1/incidents/{incident_id}/transitions/{trigger}", headers=team, json={"confirm": True})
        assert reply.status_code == 200, (trigger, reply.text)


def told(night: Night, review_id: int, kind: str) -> list[str]:
    with night.sessions() as db:
        rows = db.execute(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.subject_type == "review_meeting",
                Notification.subject_id == str(review_id),
                Notification.kind == kind,
            )
        )
        return sorted(rows.scalars())


def reviews(night: Night, username: str = "affairs") -> list[dict[str, Any]]:
    reply = night.client.get("/api/v1/reviews", headers=night.token(username))
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()
    return found


def test_a_review_not_held_in_30_days_escalates_on_the_right_day(night: Night) -> None:
    iid = open_incident(night, "II", commander_id=night.user("leader").id)
    walk(night, iid)
    [meeting] = [m for m in reviews(night) if m["incident_id"] == iid]
    due = TEN_PM + timedelta(days=30)
    assert (meeting["status"], datetime.fromisoformat(meeting["due_at"])) == ("due", due)
    rid = meeting["id"]

    at(night, due - timedelta(days=7, minutes=1))
    assert told(night, rid, "review.reminder") == []
    at(night, due - timedelta(days=7))
    assert told(night, rid, "review.reminder") == ["affairs", "affairs2", "leader"]  # student affairs and the commander
    at(night, due - timedelta(days=1))
    assert len(told(night, rid, "review.reminder")) == 6

    # Not held: on 28 December at 22:00, not a minute before, it is overdue and escalated, once.
    at(night, due - timedelta(minutes=1))
    assert told(night, rid, "review.overdue") == []
    at(night, due)
    assert told(night, rid, "review.overdue") == ["affairs", "affairs2", "leader", "leader2"]
    at(night, due + timedelta(hours=1))
    assert len(told(night, rid, "review.overdue")) == 4
    assert next(m for m in reviews(night) if m["id"] == rid)["status"] == "overdue"
    # The review report says so, with the meeting's own reminders and escalation under 七.
    report = night.client.get(f"/api/v1/incidents/{iid}/review-report.html", headers=night.token("leader")).text
    meeting_part = report[report.index('<h2 id="meeting">') : report.index('<h2 id="actions">')]
    assert "应于 12月28日 22:00 前召开 · 逾期未开" in meeting_part
    assert "提醒与督办" in meeting_part
    assert meeting_part.count('<tr><td class="time">') == 10  # 6 reminders, 4 escalations

    # Held two days late: recorded with who came, the minutes and the conclusions.
    held_at = (due + timedelta(days=2)).astimezone(SHANGHAI).replace(hour=15, minute=0)
    at(night, held_at + timedelta(hours=2))
    affairs = night.token("affairs")
    body = {
        "held_at": held_at.isoformat(),
        "attendees": [{"user_id": night.user("leader").id, "role": "分管校领导"}, {"name": "学生家长", "role": "家属代表"}],
        "minutes": "复盘了接报、核实、家校沟通各环节。",
        "conclusions": ["夜间查寝与门禁数据联动需加快", "辅导员夜间联系方式需更新"],
    }
    refused = night.client.post(f"/api/v1/reviews/{rid}/held", headers=night.token("counselor_cs"), json=body)
    assert refused.status_code in (403, 404)
    bad = night.client.post(f"/api/v1/reviews/{rid}/held", headers=affairs, json=body | {"attendees": [{"role": "无名"}]})
    assert (bad.status_code, bad.json()["field"]) == (422, "attendees.0.name")
    held = night.client.post(f"/api/v1/reviews/{rid}/held", headers=affairs, json=body)
    assert held.status_code == 200, held.text
    out = held.json()
    assert (out["status"], out["days_late"], out["conclusions"]) == ("held", 2, body["conclusions"])  # 1 day 17 h late
    assert [a["name"] for a in out["attendees"]] == [night.user("leader").name, "学生家长"]
    again = night.client.post(f"/api/v1/reviews/{rid}/held", headers=affairs, json=body)
    assert again.status_code == 409

    timeline = night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=night.token("response1")).json()
    kinds = [e["kind"] for e in timeline if e["kind"].startswith("review_")]
    assert kinds == ["review_due", "review_overdue", "review_held"]


def test_held_in_time_nothing_escalates_and_only_closed_levels_one_to_three_are_reviewed(night: Night) -> None:
    iid = open_incident(night, "III")
    walk(night, iid)
    [meeting] = [m for m in reviews(night) if m["incident_id"] == iid]
    rid = meeting["id"]
    affairs = night.token("affairs")
    past = night.client.put(
        f"/api/v1/reviews/{rid}/schedule", headers=affairs, json={"scheduled_for": TEN_PM.isoformat(), "place": "行政楼会议室"}
    )
    assert (past.status_code, past.json()["field"]) == (422, "scheduled_for")
    on = (TEN_PM + timedelta(days=10)).astimezone(SHANGHAI).replace(hour=14, minute=30)
    scheduled = night.client.put(
        f"/api/v1/reviews/{rid}/schedule", headers=affairs, json={"scheduled_for": on.isoformat(), "place": "行政楼会议室"}
    )
    assert scheduled.json()["status"] == "scheduled"
    at(night, on + timedelta(hours=2))
    affairs = night.token("affairs")
    held = night.client.post(
        f"/api/v1/reviews/{rid}/held",
        headers=affairs,
        json={
            "held_at": on.isoformat(),
            "attendees": [{"user_id": night.user("affairs").id}],
            "minutes": "纪要",
            "conclusions": ["预案可行"],
        },
    )
    assert (held.json()["status"], held.json()["days_late"]) == ("held", 0)
    at(night, TEN_PM + timedelta(days=31))
    assert told(night, rid, "review.overdue") == []

    # A level Ⅳ incident and a false alarm need no review; reopening cancels a pending one.
    small = open_incident(night, "IV")
    walk(night, small)
    false = open_incident(night, "II")
    reply = night.client.post(
        f"/api/v1/incidents/{false}/transitions/false_alarm",
        headers=night.token("response1"),
        json={"reason": "学生已返校", "confirm": True},
    )
    assert reply.status_code == 200, reply.text
    reopened = open_incident(night, "I")
    walk(night, reopened)
    back = night.client.post(
        f"/api/v1/incidents/{reopened}/transitions/reopen", headers=night.token("response1"), json={"reason": "发现新情况"}
    )
    assert back.status_code == 200, back.text
    by_incident = {m["incident_id"]: m["status"] for m in reviews(night)}
    assert small not in by_incident
    assert false not in by_incident
    assert by_incident[reopened] == "cancelled"
    # Another college's officer sees none of these reviews.
    assert reviews(night, "officer_me") == []
