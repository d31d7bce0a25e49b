"""The intervention stage's promise: a missing-student incident walked from report to closed.

On the demo campus with a manual clock: the response team opens a level Ⅱ 失联 incident at 22:00;
the night's on-duty lead and deputy are paged; the on-site step is not done by its 22:10 deadline, so its owner is told
at 22:10, the commander at 22:15 and the level above at 22:20; then every step is done, the SOP is
walked to closed, and the timeline holds every step, numbered, in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Student
from tests.integration.conftest import SHANGHAI, Night


def hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%H:%M")


def open_missing_student(night: Night, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
        student = db.execute(select(Student).where(Student.class_id == cls.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        class_id, student_id = cls.id, student.id
    body = {
        "type": "missing_student",
        "level": "II",
        "title": "学生晚归未归、电话无法接通",
        "unit_id": class_id,
        "location": "东区1号楼",
        "summary": "22:00 寝室长报告室友未归，电话关机。",
        "people": [{"student_id": student_id, "involvement": "missing", "note": "近期情绪低落，重点关注学生"}],
        **extra,
    }
    reply = night.client.post("/api/v1/incidents", headers=headers, json=body)
    assert reply.status_code == 201, reply.text
    out: dict[str, Any] = reply.json()
    return out


def user_id(night: Night, username: str) -> int:
    return night.user(username).id


def test_missing_student_walked_from_report_to_closed(night: Night) -> None:
    team = night.token("response1")
    night.at("22:00")
    leader_id = user_id(night, "leader")
    incident = open_missing_student(night, team, commander_id=leader_id)
    iid = incident["id"]
    assert incident["state"] == "reported"
    assert incident["level_numeral"] == "Ⅱ"
    assert incident["roles"] == {"commander": leader_id}
    # The on-duty lead and deputy of the demo roster's night shift are paged at once, by SMS too.
    paged = next(e for e in incident["timeline"] if e["kind"] == "paged")
    assert paged["data"]["on_duty"] is True
    assert set(paged["data"]["users"]) == {user_id(night, "response1"), user_id(night, "response3")}
    assert len(night.twilio.messages) == 0  # not sent inside the request: the outbox sends
    night.at("22:00")
    assert any("失联" in m["Body"] for m in night.twilio.messages)

    # An illegal trigger is refused with the ones that are legal now.
    wrong = night.client.post(f"/api/v1/incidents/{iid}/transitions/publish", headers=team)
    assert wrong.status_code == 409
    assert wrong.json()["legal"] == ["take_control", "false_alarm", "change_level", "merge"]
    assert wrong.json()["state"] == "reported"

    night.client.put(f"/api/v1/incidents/{iid}/roles/scribe", headers=team, json={"user_id": user_id(night, "response2")})
    night.client.put(f"/api/v1/incidents/{iid}/roles/liaison", headers=team, json={"user_id": user_id(night, "counselor_cs")})

    # 接报: someone is on the way within 3 minutes (level Ⅱ), and says who went.
    night.at("22:02")
    dispatch = next(t for t in incident["tasks"] if t["code"] == "dispatch")
    sent = night.client.post(
        f"/api/v1/incidents/{iid}/tasks/{dispatch['id']}/complete", headers=team, json={"evidence": "保卫处两人出发，22:08到"}
    )
    assert sent.status_code == 200, sent.text

    night.at("22:03")
    moved = night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    assert moved.status_code == 200, moved.text
    on_site = [t for t in moved.json()["tasks"] if t["state"] == "on_site_control"]
    # Level Ⅱ: the search starts within 10 minutes of the report (missing_student.yaml).
    late_task = next(t for t in on_site if hhmm(t["due_at"]) == "22:10")

    # Nobody ticks the on-site step: owner at 22:10, commander at 22:15, the level above at 22:20.
    for minute in ("22:05", "22:09", "22:10", "22:12", "22:15", "22:19", "22:20", "22:30"):
        night.at(minute)
    detail = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    overdue = [e for e in detail["timeline"] if e["kind"] == "task_overdue" and e["data"]["task_id"] == late_task["id"]]
    assert [(hhmm(e["at"]), e["data"]["step"], e["data"]["whom"]) for e in overdue] == [
        ("22:10", 1, "owner"),
        ("22:15", 2, "commander"),
        ("22:20", 3, "level_above"),
    ]
    assert overdue[1]["data"]["users"] == [leader_id]
    assert user_id(night, "officer_cs") in overdue[2]["data"]["users"]  # the college is the level above the class
    board = night.client.get("/api/v1/board", headers=team).json()
    shown = next(i for i in board["incidents"] if i["id"] == iid)
    assert [t["id"] for t in shown["late_tasks"]] == [t["id"] for t in on_site if t["status"] == "open"]

    # Then every step is done and the SOP walked to the end.
    walk = ["verify", "report_to_leaders", "activate_plan", "coordinate", "publish", "stabilise", "start_review", "close"]
    at_minute = 31
    for trigger in [None, *walk]:
        if trigger is not None:
            reply = night.client.post(f"/api/v1/incidents/{iid}/transitions/{trigger}", headers=team, json={"confirm": True})
            assert reply.status_code == 200, (trigger, reply.text)
        current = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
        for task in current["tasks"]:
            if task["status"] == "open" and task["state"] == current["state"]:
                night.at(f"22:{at_minute:02d}" if at_minute < 60 else f"23:{at_minute - 60:02d}")
                at_minute += 1
                done = night.client.post(
                    f"/api/v1/incidents/{iid}/tasks/{task['id']}/complete", headers=team, json={"evidence": "已完成，记录在案"}
                )
                assert done.status_code == 200, done.text
                assert done.json()["done_by"] == user_id(night, "response1")
    final = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    assert final["state"] == "closed"
    assert final["is_open"] is False
    assert [t["trigger"] for t in final["legal_triggers"]] == ["reopen"]

    timeline = final["timeline"]
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    ats = [e["at"] for e in timeline]
    assert ats == sorted(ats)
    transitions = [e["data"]["trigger"] for e in timeline if e["kind"] == "transition"]
    assert transitions == ["take_control", *walk]
    done_codes = [e["data"]["code"] for e in timeline if e["kind"] == "task_done"]
    assert sorted(done_codes) == sorted(t["code"] for t in final["tasks"] if t["status"] == "done")
    late_done = next(e for e in timeline if e["kind"] == "task_done" and e["data"]["task_id"] == late_task["id"])
    assert late_done["data"]["late"] is True
    kinds = [e["kind"] for e in timeline]
    assert kinds[0] == "created"
    for kind in ("role", "person", "paged", "tasks_opened", "task_overdue", "task_done", "transition"):
        assert kind in kinds


def test_a_leader_reads_the_board_but_cannot_move_an_incident(night: Night) -> None:
    incident = open_missing_student(night, night.token("response1"))
    leader = night.token("leader")
    assert night.client.get(f"/api/v1/incidents/{incident['id']}", headers=leader).status_code == 200
    refused = night.client.post(f"/api/v1/incidents/{incident['id']}/transitions/take_control", headers=leader)
    assert refused.status_code == 403


def test_the_people_involved_are_masked_for_roles_that_do_not_reach_families(night: Night) -> None:
    incident = open_missing_student(night, night.token("response1"))
    name = incident["people"][0]["name"]
    leader_view = night.client.get(f"/api/v1/incidents/{incident['id']}", headers=night.token("leader")).json()
    assert leader_view["people"][0]["name"] != name
    assert leader_view["people"][0]["note"] is None
    # One policy for every surface (issue 16): the stand-in the review report prints, not a surname and stars.
    assert leader_view["people"][0]["name"] == "学生甲"


def test_after_an_outage_every_rung_of_a_late_tasks_ladder_already_due_is_told_at_once(night: Night) -> None:
    team = night.token("response1")
    night.at("22:00")
    incident = open_missing_student(night, team, commander_id=user_id(night, "leader"))
    iid = incident["id"]
    night.at("22:03")
    moved = night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    late_task = next(t for t in moved.json()["tasks"] if t["state"] == "on_site_control" and hhmm(t["due_at"]) == "22:10")
    # Nothing runs from 22:04 to 22:17: the owner's (22:10) and the commander's (22:15) rungs both
    # passed; the ladder keeps its schedule, so the level above is due at 22:20, not 22:27.
    night.at("22:17")
    detail = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    overdue = [e for e in detail["timeline"] if e["kind"] == "task_overdue" and e["data"]["task_id"] == late_task["id"]]
    assert [(hhmm(e["at"]), e["data"]["whom"]) for e in overdue] == [("22:17", "owner"), ("22:17", "commander")]
    night.at("22:19")
    night.at("22:20")
    detail = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    overdue = [e for e in detail["timeline"] if e["kind"] == "task_overdue" and e["data"]["task_id"] == late_task["id"]]
    assert [(hhmm(e["at"]), e["data"]["whom"]) for e in overdue][2:] == [("22:20", "level_above")]


def test_only_staff_over_the_incidents_unit_may_hold_its_command_roles(night: Night) -> None:
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
    body: dict[str, Any] = {"type": "missing_student", "level": "III", "title": "学生失联", "unit_id": cls.id}
    counselor = night.token("counselor_cs")
    for who in ("dorm_e1_101", "monitor_cs2301", "counselor_me"):  # students; a counsellor of another college
        refused = night.client.post("/api/v1/incidents", headers=counselor, json=body | {"commander_id": night.user(who).id})
        assert (refused.status_code, refused.json()["field"]) == (422, "commander_id"), who
    opened = night.client.post("/api/v1/incidents", headers=counselor, json=body | {"commander_id": night.user("officer_cs").id})
    assert opened.status_code == 201, opened.text
    incident = opened.json()["id"]
    officer = night.token("officer_cs")
    liaison = night.client.put(
        f"/api/v1/incidents/{incident}/roles/liaison", headers=officer, json={"user_id": night.user("monitor_cs2301").id}
    )
    assert (liaison.status_code, liaison.json()["field"]) == (422, "user_id")
    taken = night.client.put(
        f"/api/v1/incidents/{incident}/roles/liaison", headers=officer, json={"user_id": night.user("counselor_cs").id}
    )
    assert taken.status_code == 200, taken.text
