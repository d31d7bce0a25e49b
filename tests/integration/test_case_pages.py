"""The case library's pages (/cases): a counsellor finds the case of a closed, reviewed incident by a word of it
and reads it without a name or student number in it; a student sees none; a stranger is sent to sign in;
English on ?lang=en; a malformed search is a 422, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Student
from tests.integration.conftest import SHANGHAI, TEN_PM, Night
from tests.integration.test_improvement_actions import add
from tests.integration.test_review_meetings import open_incident, walk

TITLE_WORD = "晚归"
CONCLUSION = "夜间查寝需与门禁数据联动"
ACTION = "宿舍门禁与查寝名单每晚自动比对"


@dataclass(frozen=True)
class Reviewed:
    """A closed incident whose review was held, with an open improvement action, and its case in the library."""

    incident_id: int
    review_id: int
    action_id: int
    case_id: int
    student_name: str
    student_no: str


def reviewed_case(night: Night) -> Reviewed:
    """The first student of room E1-101 came home late and could not be reached: a level Ⅱ incident, walked to
    closed; its review is held the next afternoon, an improvement action is set, and the case is made."""
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        student = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        assert student.class_id is not None
        name, number, student_id, class_id = student.name, student.student_no, student.id, student.class_id
    iid = open_incident(
        night,
        "II",
        unit_id=class_id,
        title=f"{name}{TITLE_WORD}未归",
        summary=f"22:00 寝室长报告{name}（学号{number}）未归，电话关机。",
        people=[{"student_id": student_id, "involvement": "missing"}],
        commander_id=night.user("leader").id,
    )
    walk(night, iid)
    affairs = night.token("affairs")
    [meeting] = [m for m in night.client.get("/api/v1/reviews", headers=affairs).json() if m["incident_id"] == iid]
    held_at = (TEN_PM + timedelta(days=1)).astimezone(SHANGHAI).replace(hour=15, minute=0)
    night.clock.set(held_at + timedelta(hours=1))
    affairs = night.token("affairs")  # the session of last night has run out
    held = night.client.post(
        f"/api/v1/reviews/{meeting['id']}/held",
        headers=affairs,
        json={
            "held_at": held_at.isoformat(),
            "attendees": [{"user_id": night.user("counselor_cs").id, "role": "辅导员"}],
            "minutes": f"{name}的辅导员介绍了寻找经过。",
            "conclusions": [CONCLUSION],
        },
    )
    assert held.status_code == 200, held.text
    action = add(
        night,
        iid,
        title=ACTION,
        type="process",
        owner_user_id=night.user("safety").id,
        due_at=(held_at + timedelta(days=14)).isoformat(),
    )
    assert action.status_code == 201, action.text
    case = night.client.post(f"/api/v1/incidents/{iid}/case", headers=affairs)
    assert case.status_code == 201, case.text
    return Reviewed(iid, meeting["id"], action.json()["id"], case.json()["id"], name, number)


def test_a_stranger_is_sent_to_sign_in(client: TestClient) -> None:
    for path in ("/cases", "/cases/1", "/cases?q=门禁&lang=en"):
        reply = client.get(path, follow_redirects=False)
        assert (reply.status_code, reply.headers["location"]) == (303, "/login"), path


def test_a_counsellor_finds_the_case_by_a_word_and_reads_it_without_names(night: Night) -> None:
    case = reviewed_case(night)
    counsellor = night.token("counselor_cs")
    listed = night.client.get(f"/cases?q={TITLE_WORD}&type=", headers=counsellor)
    assert listed.status_code == 200
    assert f'href="/cases/{case.case_id}"' in listed.text
    assert f"学生甲{TITLE_WORD}未归" in listed.text
    assert "Ⅱ 重大" in listed.text
    assert "学生失联 · 2026年11月" in listed.text
    assert f'href="/cases/{case.case_id}"' in night.client.get("/cases?type=missing_student", headers=counsellor).text
    for miss in ("/cases?q=qzxv无此词", "/cases?type=fire"):
        empty = night.client.get(miss, headers=counsellor).text
        assert f'href="/cases/{case.case_id}"' not in empty
        assert "没有找到符合条件的案例" in empty

    page = night.client.get(f"/cases/{case.case_id}", headers=counsellor)
    assert page.status_code == 200
    for seen in ("事件概况", "处置过程", "T+0分钟", "复盘结论", CONCLUSION, "改进措施", ACTION, "进行中", "流程"):
        assert seen in page.text, seen
    assert f'href="/api/v1/cases/{case.case_id}/export.md"' in page.text
    for identifier in (case.student_name, case.student_no):
        assert identifier not in listed.text + page.text
    assert night.client.get("/cases/99999", headers=counsellor).status_code == 404


def test_a_student_sees_no_case(night: Night) -> None:
    case = reviewed_case(night)
    monitor = night.token("monitor_cs2301")
    listed = night.client.get("/cases", headers=monitor)
    assert listed.status_code == 200
    assert f'href="/cases/{case.case_id}"' not in listed.text
    assert "案例库中还没有案例" in listed.text
    assert night.client.get(f"/cases/{case.case_id}", headers=monitor).status_code == 404
    assert 'href="/cases"' not in night.client.get("/", headers=monitor).text  # nor is offered it at home
    assert 'href="/cases"' in night.client.get("/", headers=night.token("counselor_cs")).text


def test_the_pages_speak_english_on_request(night: Night) -> None:
    case = reviewed_case(night)
    counsellor = night.token("counselor_cs")
    listed = night.client.get("/cases?lang=en", headers=counsellor).text
    assert "Case library (counsellor training)" in listed
    assert "Ⅱ Serious" in listed
    assert "Missing student" in listed
    page = night.client.get(f"/cases/{case.case_id}?lang=en", headers=counsellor).text
    for seen in ("What happened", "How the response unfolded", "Review conclusions", "Download Markdown", "Open"):
        assert seen in page, seen
    assert '<html lang="en">' in page


def test_a_malformed_query_is_refused_with_a_422(night: Night) -> None:
    counsellor = night.token("counselor_cs")
    for path, field in (
        ("/cases?q=%00", "q"),
        ("/cases?q=" + "门" * 101, "q"),
        ("/cases?type=Fire%00", "type"),
        ("/cases?type=%27%20or%201", "type"),
        ("/cases/0", "case_id"),
        ("/cases/99999999999", "case_id"),
    ):
        reply = night.client.get(path, headers=counsellor)
        assert (reply.status_code, reply.json()["field"]) == (422, field), path
    # A filter left at 全部 arrives empty: it means no filter, here and on the leaders' page.
    assert night.client.get("/cases?q=&type=", headers=counsellor).status_code == 200
    assert night.client.get("/reviews?type=&level=", headers=night.token("leader")).status_code == 200
