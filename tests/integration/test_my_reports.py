"""A filer's own reports ("my reports"): only hers, newest first, each with how far its escalation has got as
far as she may know it — the student by name, who acknowledged it and when, whether it was dealt with — and
never the student's number or phone, nor the staff's own words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import catalog
from riskcontrol.observations.reading import my_reports
from riskcontrol.people.auth import principal_of
from riskcontrol.people.models import Guardian, Student
from tests import factories as f
from tests.integration.conftest import Night, file_observation, file_red_observation
from tests.integration.test_warning_pages import sign_in

MINE = "/api/v1/observations/mine"
OUTCOME = "已联系家长，送市第一人民医院急诊，心理中心明早评估"


def roommate(night: Night) -> tuple[Student, list[str]]:
    """The student the dorm head of E1-101 files about, and every phone number held for her or her guardians."""
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        student = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        guardians = db.execute(select(Guardian.phone).where(Guardian.student_id == student.id)).scalars().all()
        db.expunge(student)
        return student, [p for p in (student.phone, *guardians) if p]


def monitor_files(night: Night, student: Student) -> dict[str, Any]:
    """The class monitor of CS2301 files about the same classmate."""
    reply = night.client.post(
        "/api/v1/observations",
        headers=night.token("monitor_cs2301"),
        json={
            "client_id": "monitor-phone-0001",
            "unit_id": student.class_id,
            "student_id": student.id,
            "checklist": ["long_isolation"],
            "observed_at": night.clock.now().isoformat(),
        },
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def mine(night: Night, username: str, query: str = "") -> list[dict[str, Any]]:
    reply = night.client.get(MINE + query, headers=night.token(username))
    assert reply.status_code == 200, reply.text
    body: list[dict[str, Any]] = reply.json()
    return body


def test_the_dorm_head_lists_her_own_reports_newest_first_and_not_the_monitors(night: Night) -> None:
    student, _ = roommate(night)
    first = file_observation(night, ("long_isolation", "eating_sleeping_change"), client_id="phone-7f3a-0001")
    night.at("22:10")
    second = file_red_observation_again(night)
    theirs = monitor_files(night, student)

    hers = mine(night, "dorm_e1_101")
    assert [r["id"] for r in hers] == [second["id"], first["id"]]
    assert [r["level"] for r in hers] == ["red", "yellow"]
    assert hers[1]["checklist"] == ["eating_sleeping_change", "long_isolation"]
    assert hers[0]["note"] == "她说今晚想结束一切，桌上有药瓶"
    assert hers[0]["student_name"] == student.name
    assert hers[0]["progress"]["status"] == "open"
    assert [r["id"] for r in mine(night, "monitor_cs2301")] == [theirs["id"]]
    assert night.client.get(MINE).status_code == 401  # and a stranger is told nobody's
    # Paged with the list endpoint's bounds.
    assert [r["id"] for r in mine(night, "dorm_e1_101", "?limit=1&offset=1")] == [first["id"]]


def file_red_observation_again(night: Night) -> dict[str, Any]:
    body = file_observation(night, ("suicide_plan",), client_id="phone-7f3a-0002")
    assert body["level"] == "red"
    return body


def test_she_learns_who_acknowledged_and_when_and_that_it_was_dealt_with_but_not_the_number_phone_or_outcome(
    night: Night,
) -> None:
    student, phones = roommate(night)
    filed = file_red_observation(night)
    counsellor = night.user("counselor_cs")
    night.at("22:05")
    acked = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs"))
    assert acked.status_code == 200, acked.text

    [report] = mine(night, "dorm_e1_101")
    assert report["progress"] == {
        "status": "acknowledged",
        "acknowledged_at": night.clock.now().isoformat().replace("+00:00", "Z"),
        "acknowledged_by_name": counsellor.name,
        "resolved_at": None,
    }

    night.at("23:40")
    done = night.client.post(
        f"/api/v1/escalations/{filed['escalation_id']}/resolve", headers=night.token("counselor_cs"), json={"outcome": OUTCOME}
    )
    assert done.status_code == 200, done.text
    [report] = mine(night, "dorm_e1_101")
    assert report["progress"]["status"] == "resolved"
    assert report["progress"]["resolved_at"] is not None
    assert report["student_name"] == student.name

    answer = json.dumps(report, ensure_ascii=False)
    for withheld in (student.student_no, *phones, OUTCOME, "异常情况报告", "summary", "outcome", "title"):
        assert withheld not in answer


@pytest.mark.parametrize(("query", "field"), [("?limit=0", "limit"), ("?limit=501", "limit"), ("?offset=-1", "offset")])
def test_a_bad_page_is_refused_naming_the_field(night: Night, query: str, field: str) -> None:
    reply = night.client.get(MINE + query, headers=night.token("dorm_e1_101"))
    assert reply.status_code == 422
    assert reply.json()["field"] == field


def test_the_whole_list_is_read_in_one_query_whatever_its_length(night: Night) -> None:
    file_red_observation(night)
    with night.sessions() as db:
        sop = night.app.state.ctx.settings.sop_dir
        checklist, rubric = catalog.load_checklist(sop), catalog.load_rubric(sop)
        principal = principal_of(db, "dorm_e1_101")
        with f.statements(db) as one:
            assert len(my_reports(db, principal, checklist, rubric, limit=100, offset=0)) == 1
    for n in range(3, 6):
        file_observation(night, ("long_isolation",), client_id=f"phone-7f3a-000{n}")
    with night.sessions() as db, f.statements(db) as several:
        assert len(my_reports(db, principal, checklist, rubric, limit=100, offset=0)) == 4
    selects = [[s for s in sent if s.lstrip().upper().startswith("SELECT")] for sent in (one, several)]
    assert [len(s) for s in selects] == [1, 1]


# ---- the page -----------------------------------------------------------------------------------


def test_my_reports_page_says_in_chinese_who_acknowledged_her_report_and_when(night: Night) -> None:
    student, _ = roommate(night)
    filed = file_red_observation(night)
    counsellor = night.user("counselor_cs")
    sign_in(night.client, "dorm_e1_101")

    waiting = night.client.get("/my-reports")
    assert waiting.status_code == 200
    assert '<html lang="zh-CN">' in waiting.text
    assert "已上报，等待确认" in waiting.text
    assert f"{student.name} · 东1-101" in waiting.text
    assert "22:00 提交" in waiting.text
    assert "level-red" in waiting.text
    assert "自杀计划或准备" in waiting.text

    night.at("22:05")
    night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs"))
    page = night.client.get("/my-reports").text
    assert f"已由 {counsellor.name} 于 22:05 确认" in page
    assert student.student_no not in page

    english = night.client.get("/my-reports?lang=en").text
    assert f"Acknowledged by {counsellor.name} at 22:05" in english
    assert "Suicide plan or preparation" in english

    night.at("23:40")
    night.client.post(
        f"/api/v1/escalations/{filed['escalation_id']}/resolve", headers=night.token("counselor_cs"), json={"outcome": OUTCOME}
    )
    night.at("25:30")  # after midnight: the times of yesterday carry their date
    done = night.client.get("/my-reports?lang=zh").text
    assert "11月28日 23:40 办结" in done
    assert f"已由 {counsellor.name} 于 11月28日 22:05 确认" in done
    assert "11月28日 22:00 提交" in done
    assert OUTCOME not in done


def test_the_home_page_and_the_filing_form_lead_to_my_reports(night: Night) -> None:
    sign_in(night.client, "dorm_e1_101")
    assert 'href="/my-reports"' in night.client.get("/").text
    assert "observe.js.my_reports" in night.client.get("/observe").text  # the receipt's link, for the script
    assert night.client.get("/static/js/my_reports.js").status_code == 200


def test_my_reports_sends_a_stranger_to_sign_in(night: Night) -> None:
    reply = night.client.get("/my-reports", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login"
