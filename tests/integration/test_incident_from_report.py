"""An incident opened from a report reads like the report, starts with someone sent, and asks before a move
that cannot be taken back.

At 22:00 the dorm head of E1-101 ticks 自杀计划 for her roommate and writes what she heard; the worker opens a
level Ⅱ psychological crisis at once and pages the night's duty team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from riskcontrol.notify.models import Notification
from tests.integration.conftest import SHANGHAI, Night, file_red_observation


def opened_from_report(night: Night) -> dict[str, Any]:
    file_red_observation(night)
    night.at("22:00")
    team = night.token("response1")
    [incident] = night.client.get("/api/v1/incidents", headers=team).json()
    detail: dict[str, Any] = night.client.get(f"/api/v1/incidents/{incident['id']}", headers=team).json()
    return detail


def hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%H:%M")


def test_the_incident_says_what_the_dorm_head_reported_and_where(night: Night) -> None:
    incident = opened_from_report(night)
    # Type and place, no internal number; the room and its building.
    assert incident["title"] == "心理危机：东1-101"
    assert incident["location"] == "东区1号楼 东1-101"
    # Her level, ticks and words are in the summary, the record text the disclosure policy governs.
    assert incident["summary"] == "报告分级：紧急。勾选：自杀计划或准备。备注：她说今晚想结束一切，桌上有药瓶"
    # The student is at the report's level (red 紧急), not a fixed 高危.
    [person] = incident["people"]
    assert (person["involvement"], person["risk_level"]) == ("at_risk", "red")
    board = night.client.get("/api/v1/board", headers=night.token("response1")).json()
    assert [(i["title"], i["location"]) for i in board["incidents"]] == [("心理危机：东1-101", "东区1号楼 东1-101")]


def test_every_message_to_the_duty_team_links_the_incident_page(night: Night) -> None:
    incident = opened_from_report(night)
    link = f"http://testserver/incidents/{incident['id']}"
    night.at("22:00")  # the outbox sends the page
    night.at("22:04")  # the dispatch step is late: its owner (the duty team, nobody holds operations) is told
    texts = [m["Body"] for m in night.twilio.messages if m["Body"].startswith("【Ⅱ级】")]
    assert any("心理危机" in text for text in texts)
    assert any("超时" in text for text in texts)
    assert all(text.endswith(link) for text in texts)
    with night.sessions() as db:
        about = select(Notification.body_zh).where(Notification.subject_type == "incident")
        bodies = list(db.execute(about).scalars())
    assert bodies
    assert all(body.endswith(link) for body in bodies)


def test_on_report_someone_is_sent_within_three_minutes_and_says_who(night: Night) -> None:
    incident = opened_from_report(night)
    team = night.token("response1")
    [dispatch] = [t for t in incident["tasks"] if t["state"] == "reported"]
    assert (dispatch["code"], hhmm(dispatch["due_at"]), dispatch["needs_evidence"]) == ("dispatch", "22:03", True)
    # The board counts down to it from the first minute.
    [shown] = night.client.get("/api/v1/board", headers=team).json()["incidents"]
    assert datetime.fromisoformat(shown["next_due_at"]) == datetime.fromisoformat(dispatch["due_at"])
    complete = f"/api/v1/incidents/{incident['id']}/tasks/{dispatch['id']}/complete"
    for body in ({}, {"evidence": "   "}):
        refused = night.client.post(complete, headers=team, json=body)
        assert (refused.status_code, refused.json()["field"]) == (422, "evidence")
    done = night.client.post(complete, headers=team, json={"evidence": "保卫处王老师、辅导员出发，22:08 到"})
    assert (done.status_code, done.json()["status"]) == (200, "done")


def test_a_move_that_cannot_be_taken_back_waits_for_a_confirmation(night: Night) -> None:
    incident = opened_from_report(night)
    team, iid = night.token("response1"), incident["id"]
    asks = {t["trigger"]: t["confirm"] for t in incident["legal_triggers"]}
    assert asks == {"take_control": True, "false_alarm": True, "change_level": False, "merge": True}
    for trigger, body in (("take_control", None), ("take_control", {"confirm": False}), ("false_alarm", {"reason": "误报"})):
        refused = night.client.post(f"/api/v1/incidents/{iid}/transitions/{trigger}", headers=team, json=body)
        assert (refused.status_code, refused.json()["field"]) == (422, "confirm"), trigger
    unchanged = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    assert (unchanged["state"], unchanged["seq"]) == ("reported", incident["seq"])
    # A change of level can be changed back: no confirmation.
    up = night.client.post(
        f"/api/v1/incidents/{iid}/transitions/change_level", headers=team, json={"level": "I", "reason": "有药瓶"}
    )
    assert up.status_code == 200, up.text
    moved = night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    assert (moved.status_code, moved.json()["state"]) == (200, "on_site_control")


def test_the_duty_page_names_the_type_once(night: Night) -> None:
    incident = opened_from_report(night)
    with night.sessions() as db:
        pages = db.execute(
            select(Notification.title_zh, Notification.title_en).where(
                Notification.subject_type == "incident",
                Notification.subject_id == str(incident["id"]),
                Notification.kind == "incident.page",
            )
        ).all()
    assert pages
    for zh, en in pages:
        assert zh.endswith("心理危机：东1-101"), zh
        assert zh.count("心理危机") == 1, zh
        assert en.endswith("Psychological crisis: 东1-101"), en
    texts = [m["Body"] for m in night.twilio.messages if "东1-101" in m["Body"]]
    assert texts
    assert all(text.count("心理危机") == 1 for text in texts), texts
