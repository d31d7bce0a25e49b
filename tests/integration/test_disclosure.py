"""One disclosure policy (issue 16): what a reader sees of a person is the same decision on every surface.

Each test here is one finding of the security review, reproduced on the demo campus: a reader the
policy denies a student's name or contact details finds neither in the escalation, the incident, the
review report, the board, the inbox or a text message; a student's grid role reads no crisis record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import IncidentPerson
from riskcontrol.people.models import RoleAssignment, Student, User
from tests.integration.conftest import Night, file_red_observation
from tests.integration.test_incident_walk import open_missing_student
from tests.integration.test_review_report import walk_the_night


def _student(night: Night, student_id: int) -> tuple[str, str, str]:
    with night.sessions() as db:
        student = db.get(Student, student_id)
        assert student is not None
        return student.name, student.student_no, student.phone or ""


def _grant(night: Night, username: str, role: str, unit_code: str) -> None:
    with night.sessions() as db:
        user = db.execute(select(User).where(User.username == username)).scalar_one()
        unit = db.execute(select(OrgUnit).where(OrgUnit.code == unit_code)).scalar_one()
        db.add(RoleAssignment(user_id=user.id, role=role, unit_id=unit.id))
        db.commit()


def _identifiers_absent(text: str, *values: str) -> None:
    for value in values:
        if value:
            assert value not in text, value


def test_an_escalation_shows_the_student_and_the_report_only_as_the_policy_allows(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")  # the worker tells step 0: the counsellor and the class monitor
    with night.sessions() as db:
        from riskcontrol.observations.models import Observation

        observation = db.get(Observation, filed["id"])
        assert observation is not None
        assert observation.student_id is not None
        student_id = observation.student_id
    name, number, _ = _student(night, student_id)
    esc = filed["escalation_id"]

    counsellor = night.client.get(f"/api/v1/escalations/{esc}", headers=night.token("counselor_cs")).json()
    assert name in counsellor["title_zh"]
    assert number in counsellor["title_zh"]
    assert "药瓶" in counsellor["summary_zh"]

    # A leader reads it through the school scope, was not told, and holds no contact role: a stand-in.
    leader = night.client.get(f"/api/v1/escalations/{esc}", headers=night.token("leader"))
    assert leader.status_code == 200
    _identifiers_absent(leader.text, name, number)
    assert "学生甲" in leader.json()["title_zh"]

    # The class monitor is told, to find the classmate: the name, never the number nor the report's words.
    monitor = night.client.get(f"/api/v1/escalations/{esc}", headers=night.token("monitor_cs2301"))
    assert monitor.status_code == 200
    assert name in monitor.json()["title_zh"]
    _identifiers_absent(monitor.text, number, "药瓶")
    inbox = night.client.get("/api/v1/notify/inbox", headers=night.token("monitor_cs2301"))
    assert name in inbox.text
    _identifiers_absent(inbox.text, number, "药瓶")

    # No text message carries the student number or the report's words, whoever it goes to.
    assert night.twilio.messages
    for text in night.twilio.messages:
        _identifiers_absent(text["Body"], number, "药瓶")


def test_a_role_counts_only_at_the_unit_where_it_is_held(night: Night) -> None:
    """The dorm head of E1-101 is also a counsellor of a class in another college: that role does not
    reach her roommate, so she reads neither the roommate's name nor the private note on the incident."""
    _grant(night, "dorm_e1_101", "counselor", "ME2301")
    with night.sessions() as db:
        room_id = db.execute(select(OrgUnit.id).where(OrgUnit.code == "E1-101")).scalar_one()
    # An incident in her room (so in the scope of her dorm-head role), about a roommate.
    incident = open_missing_student(night, night.token("response1"), unit_id=room_id)
    with night.sessions() as db:
        person = db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident["id"])).scalar_one()
        assert person.student_id is not None
        student = db.get(Student, person.student_id)
        assert student is not None
        student.dorm_id = room_id
        db.commit()
    name, number, phone = _student(night, person.student_id)
    reply = night.client.get(f"/api/v1/incidents/{incident['id']}", headers=night.token("dorm_e1_101"))
    assert reply.status_code == 200
    _identifiers_absent(reply.text, name, number, phone, "近期情绪低落")
    assert reply.json()["people"][0]["name"] == "学生甲"


def test_a_student_role_reads_no_crisis_record_of_a_classmate(night: Night) -> None:
    iid = walk_the_night(night)
    monitor, psych = night.token("monitor_cs2301"), night.token("psych_cs2301")
    for headers in (monitor, psych):
        detail = night.client.get(f"/api/v1/incidents/{iid}", headers=headers)
        assert detail.status_code == 200
        body: dict[str, Any] = detail.json()
        assert body["summary"] == ""
        assert all(not t["evidence"] for t in body["tasks"])
        assert all(not e["data"].get("text") and not e["data"].get("reason") for e in body["timeline"])
        # Review minutes: not theirs to read.
        reviews = night.client.get("/api/v1/reviews", headers=headers).json()
        assert reviews == []
        # Recovery tasks (the return-to-study assessment…): only ones given to them, and none are.
        recovery = night.client.get(f"/api/v1/incidents/{iid}/recovery", headers=headers)
        assert recovery.status_code == 200
        assert recovery.json() == []
    # Staff covering the class still read all of it.
    counsellor = night.client.get(f"/api/v1/incidents/{iid}", headers=night.token("counselor_cs")).json()
    assert counsellor["summary"]
    assert night.client.get("/api/v1/reviews", headers=night.token("counselor_cs")).json()


def test_a_classmate_reads_no_observation_note_filed_by_someone_else(night: Night) -> None:
    filed = file_red_observation(night)
    mine = night.client.get(f"/api/v1/observations/{filed['id']}", headers=night.token("dorm_e1_101")).json()
    assert mine["note"]
    for username in ("monitor_cs2301", "psych_cs2301"):
        theirs = night.client.get(f"/api/v1/observations/{filed['id']}", headers=night.token(username))
        assert theirs.status_code == 200
        assert theirs.json()["note"] is None
    assert night.client.get(f"/api/v1/observations/{filed['id']}", headers=night.token("counselor_cs")).json()["note"]


def test_the_review_report_names_nobody_to_a_leader_not_in_command(night: Night) -> None:
    """来源预警, 事件经过 and the timeline's notes printed the name, the student number and the phone."""
    incident = open_missing_student(night, night.token("response1"))
    with night.sessions() as db:
        person = db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident["id"])).scalar_one()
        assert person.student_id is not None
    name, number, phone = _student(night, person.student_id)
    note = f"已联系{name}（{number}）的父亲，{phone[:3]}-{phone[3:7]}-{phone[7:]} 无人接听"
    added = night.client.post(f"/api/v1/incidents/{incident['id']}/notes", headers=night.token("response1"), json={"text": note})
    assert added.status_code == 201, added.text
    for fmt in ("html",):
        page = night.client.get(f"/api/v1/incidents/{incident['id']}/review-report.{fmt}", headers=night.token("leader"))
        assert page.status_code == 200
        _identifiers_absent(page.text, name, number, phone, phone[3:7] + "-" + phone[7:])
        assert "学生甲" in page.text
    team = night.client.get(f"/api/v1/incidents/{incident['id']}/review-report.html", headers=night.token("response1"))
    assert name in team.text
    assert number in team.text


def test_the_board_is_the_staffs_and_shows_everyone_as_a_stand_in(night: Night) -> None:
    """The board hangs on a wall: no name in its titles; a student's grid role gets no crisis on it."""
    incident = open_missing_student(night, night.token("response1"), title="学生失联")
    with night.sessions() as db:
        person = db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident["id"])).scalar_one()
        assert person.student_id is not None
    name, number, _ = _student(night, person.student_id)
    retitled = open_missing_student(night, night.token("response1"), title=f"{name}（{number}）失联")
    team = night.client.get("/api/v1/board", headers=night.token("response1"))
    titles = {i["id"]: i["title"] for i in team.json()["incidents"]}
    assert titles[retitled["id"]] == "学生甲失联"
    _identifiers_absent(team.text, name, number)
    monitor = night.client.get("/api/v1/board", headers=night.token("monitor_cs2301")).json()
    assert monitor["incidents"] == []
