"""Where incidents come from (a red observation, a confirmed opinion item, a hotline call), drills,
the exits of the SOP, and bad input: refused naming the field, with nothing half-saved."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from riskcontrol.core.deadlines import Deadline
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import DutyShift, Incident, IncidentEvent, IncidentTask
from riskcontrol.notify.models import Notification
from tests.integration.conftest import Night, file_observation, file_red_observation
from tests.integration.test_incident_walk import open_missing_student


def count(night: Night, model: type[Any]) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def class_id(night: Night, code: str = "CS2301") -> int:
    with night.sessions() as db:
        return db.execute(select(OrgUnit.id).where(OrgUnit.code == code)).scalar_one()


def test_a_red_observation_opens_the_incident_its_checklist_items_call_for(night: Night) -> None:
    filed = file_red_observation(night)  # a suicide plan, ticked by the dorm head of E1-101
    team = night.token("response1")
    # Not in the phone's request: the incident opens when the worker tells the escalation's first step.
    assert night.client.get("/api/v1/incidents", headers=team).json() == []
    night.at("22:00")
    opened = night.client.get("/api/v1/incidents", headers=team).json()
    assert [(i["type"], i["level_numeral"], i["source"], i["source_id"]) for i in opened] == [
        ("psych_crisis", "Ⅱ", "escalation", str(filed["escalation_id"]))
    ]
    detail = night.client.get(f"/api/v1/incidents/{opened[0]['id']}", headers=team).json()
    assert [p["involvement"] for p in detail["people"]] == ["at_risk"]
    assert [e["kind"] for e in detail["timeline"]][:5] == ["created", "role", "person", "tasks_opened", "paged"]
    on_duty = night.client.get("/api/v1/board", headers=team).json()["on_duty"]
    lead = next(p["user_id"] for p in on_duty if p["position"] == "lead")
    assert detail["roles"] == {"commander": lead}  # the on-duty lead commands until someone takes over
    assert set(detail["timeline"][4]["data"]["users"]) == {p["user_id"] for p in on_duty}
    # Another red filing about the same student tells the open incident instead of opening a second one.
    again = file_observation(night, ("suicide_plan",), client_id="phone-7f3a-0002")
    night.at("22:01")
    assert count(night, Incident) == 1
    last = night.client.get(f"/api/v1/incidents/{opened[0]['id']}", headers=team).json()["timeline"][-1]
    assert (last["kind"], last["data"]["source_id"]) == ("warning", str(again["escalation_id"]))


def test_an_incident_can_name_the_escalation_it_came_from_only_if_the_caller_sees_it(night: Night) -> None:
    filed = file_red_observation(night)
    body = {"type": "psych_crisis", "level": "II", "title": "同一学生", "unit_id": class_id(night), "source": "escalation"}
    me = night.token("officer_me")  # another college's officer cannot see the CS escalation
    refused = night.client.post(
        "/api/v1/incidents",
        headers=me,
        json=body | {"unit_id": class_id(night, "ME2301"), "source_id": str(filed["escalation_id"])},
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "source_id")
    missing_id = night.client.post("/api/v1/incidents", headers=night.token("response1"), json=body)
    assert (missing_id.status_code, missing_id.json()["field"]) == (422, "source_id")


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"type": "alien_invasion"}, 422, "type"),
        ({"level": "V"}, 422, "level"),
        ({"level": 0}, 422, "level"),
        ({"title": ""}, 422, "title"),
        ({"unit_id": 999999}, 404, "unit_id"),
        ({"source": "rumour"}, 422, "source"),
        ({"drill_scale": 60}, 422, "drill_scale"),
        ({"commander_id": 999999}, 422, "commander_id"),
        ({"people": [{"involvement": "missing"}]}, 422, "people.0.name"),
        ({"people": [{"name": "张三", "involvement": "abducted_by_aliens"}]}, 422, "people.0.involvement"),
        ({"people": [{"student_id": 999999, "involvement": "missing"}]}, 422, "people.0.student_id"),
        ({"started_at": "2026-11-29T12:00:00+08:00"}, 422, "started_at"),
        ({"started_at": "2026-11-28T22:00:00"}, 422, "started_at"),
        ({"title": "a\x00b"}, 422, "title"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(
    night: Night, change: dict[str, Any], status: int, field: str
) -> None:
    body = {"type": "missing_student", "level": "II", "title": "失联", "unit_id": class_id(night)} | change
    reply = night.client.post("/api/v1/incidents", headers=night.token("response1"), json=body)
    assert (reply.status_code, reply.json()["field"]) == (status, field), reply.text
    assert count(night, Incident) == count(night, IncidentEvent) == count(night, Notification) == 0


def test_a_monitor_cannot_open_an_incident(night: Night) -> None:
    body = {"type": "missing_student", "level": "III", "title": "失联", "unit_id": class_id(night)}
    assert night.client.post("/api/v1/incidents", headers=night.token("monitor_cs2301"), json=body).status_code == 403


def test_a_drill_runs_on_a_scaled_clock_and_never_texts_real_phones(night: Night) -> None:
    team = night.token("response1")
    night.at("22:00")
    drill = open_missing_student(night, team, drill=True, drill_scale=60)
    moved = night.client.post(
        f"/api/v1/incidents/{drill['id']}/transitions/take_control", headers=team, json={"confirm": True}
    ).json()
    start_search = next(t for t in moved["tasks"] if t["code"] == "start_search")
    started = datetime.fromisoformat(drill["started_at"])
    assert datetime.fromisoformat(start_search["due_at"]) - started == timedelta(seconds=10)  # 10 minutes at 60×
    night.clock.advance(timedelta(seconds=11))
    night.worker.run_once()
    detail = night.client.get(f"/api/v1/incidents/{drill['id']}", headers=team).json()
    assert [e["data"]["whom"] for e in detail["timeline"] if e["kind"] == "task_overdue"][:1] == ["owner"]
    assert night.twilio.messages == []  # paging and the overdue reminder went to the app only
    with night.sessions() as db:
        titles = list(db.execute(select(Notification.title_zh)).scalars())
    assert titles
    assert all(t.startswith("【演练】") for t in titles)


def test_the_exits_false_alarm_change_of_level_merge_and_reopen(night: Night) -> None:
    team = night.token("response1")
    night.at("22:00")
    first = open_missing_student(night, team, level="III")
    iid = first["id"]
    night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    before = {t["code"]: t["due_at"] for t in night.client.get(f"/api/v1/incidents/{iid}/tasks", headers=team).json()}
    no_reason = night.client.post(f"/api/v1/incidents/{iid}/transitions/change_level", headers=team, json={"level": "I"})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    up = night.client.post(
        f"/api/v1/incidents/{iid}/transitions/change_level", headers=team, json={"level": "I", "reason": "发现告别信"}
    )
    assert up.status_code == 200, up.text
    assert (up.json()["level_numeral"], up.json()["state"]) == ("Ⅰ", "on_site_control")
    after = {t["code"]: t["due_at"] for t in up.json()["tasks"]}
    assert after["start_search"] < before["start_search"]  # Ⅰ's deadlines are tighter: re-timed
    with night.sessions() as db:
        pending = db.execute(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.kind == "incident.task_overdue", Deadline.status == "pending")
        ).scalar_one()
        tasks_open = db.execute(select(func.count()).select_from(IncidentTask).where(IncidentTask.status == "open")).scalar_one()
    assert pending == tasks_open  # one live deadline per open task, the old ones cancelled

    second = open_missing_student(night, team, level="III")
    merge = night.client.post(
        f"/api/v1/incidents/{second['id']}/transitions/merge",
        headers=team,
        json={"reason": "同一学生", "into_incident_id": iid, "confirm": True},
    )
    assert merge.status_code == 200, merge.text
    assert (merge.json()["state"], merge.json()["merged_into_id"], merge.json()["is_open"]) == ("merged", iid, False)
    assert all(t["status"] == "cancelled" for t in merge.json()["tasks"] if t["status"] != "done")
    target = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
    assert target["timeline"][-1]["kind"] == "merged_in"

    third = open_missing_student(night, team, level="IV")
    false_alarm = night.client.post(
        f"/api/v1/incidents/{third['id']}/transitions/false_alarm",
        headers=team,
        json={"reason": "学生已回寝，手机没电", "confirm": True},
    )
    assert false_alarm.json()["state"] == "false_alarm"
    reopened = night.client.post(f"/api/v1/incidents/{third['id']}/transitions/reopen", headers=team, json={"reason": "再次失联"})
    assert (reopened.json()["state"], reopened.json()["is_open"]) == ("verification", True)
    assert any(t["state"] == "verification" and t["status"] == "open" for t in reopened.json()["tasks"])


def test_the_board_socket_pushes_each_change_in_scope_with_its_sequence_numbers(night: Night) -> None:
    team = night.token("response1")
    with (
        night.client.websocket_connect("/ws/board", headers=team) as board,
        night.client.websocket_connect("/ws/board", headers=night.token("officer_me")) as other_college,
    ):
        assert board.receive_json()["type"] == "snapshot"
        assert other_college.receive_json()["incidents"] == []
        opened = open_missing_student(night, team)
        pushed = board.receive_json()
        assert (pushed["type"], pushed["incident_id"], pushed["first_seq"]) == ("incident", opened["id"], 1)
        assert pushed["seq"] == opened["seq"]  # one push covers every line the opening wrote
        night.client.post(f"/api/v1/incidents/{opened['id']}/transitions/take_control", headers=team, json={"confirm": True})
        moved = board.receive_json()
        assert moved["first_seq"] == pushed["seq"] + 1
        assert (moved["incident"]["state"], moved["event"]["kind"]) == ("on_site_control", "tasks_opened")
        # The other college's officer hears nothing of a CS incident: the next thing on that socket is
        # the ME incident opened now.
        me_class = class_id(night, "ME2301")
        body = {"type": "fire", "level": "IV", "title": "实验楼烟雾", "unit_id": me_class}
        mine = night.client.post("/api/v1/incidents", headers=night.token("officer_me"), json=body)
        assert mine.status_code == 201, mine.text
        assert other_college.receive_json()["incident_id"] == mine.json()["id"]


def test_the_board_socket_refuses_a_caller_without_a_session(night: Night) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused, night.client.websocket_connect("/ws/board") as board:
        board.receive_json()
    assert refused.value.code == 4401


def test_with_nobody_on_duty_the_schools_response_team_is_paged(night: Night) -> None:
    with night.sessions() as db:
        db.execute(delete(DutyShift))
        db.commit()
    opened = open_missing_student(night, night.token("affairs"))
    paged = next(e for e in opened["timeline"] if e["kind"] == "paged")
    team = {night.user(f"response{n}").id for n in range(1, 5)}
    assert (paged["data"]["on_duty"], set(paged["data"]["users"])) == (False, team)
