"""Student risk factors from the student-affairs systems, on the demo campus (2,400 students): a GBK
screening export of 2,000 rows refused whole for one bad row, then imported with the flagged students
waiting for an interview; an imported medication factor making a roommate not back at 23:10 red."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import openpyxl
from sqlalchemy import func, select

from riskcontrol.core.audit import AuditLog
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident
from riskcontrol.people.concern_models import KeyConcern
from riskcontrol.people.factor_models import StudentFactor
from riskcontrol.people.models import Student
from tests.integration.conftest import TEN_PM, Night, file_observation

SCREENING = "学号,测评日期,量表,结果,得分\r\n"
CSV = {"Content-Type": "text/csv"}
XLSX = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def student_numbers(night: Night, count: int) -> list[str]:
    with night.sessions() as db:
        return list(db.execute(select(Student.student_no).order_by(Student.student_no).limit(count)).scalars())


def screening_file(numbers: list[str], *, bad_line: int | None = None) -> bytes:
    """A screening export: every 50th student flagged (需关注), the rest 正常; GBK, as exported."""
    lines = [SCREENING]
    for n, number in enumerate(numbers):
        flagged = n % 50 == 0
        dated = "2026/11/20" if 2 + n != bad_line else "2026-13-40"
        lines.append(f"{number},{dated},UPI,{'需关注' if flagged else '正常'},{30 if flagged else 8}\r\n")
    return "".join(lines).encode("gbk")


def counted(night: Night, model: Any) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_gbk_screening_file_of_2000_rows_with_one_bad_row_is_refused_naming_it_and_without_it_flags_interviews(
    night: Night,
) -> None:
    numbers = student_numbers(night, 2000)
    url, psych = "/api/v1/imports/factors/screening", night.token("psych")
    refused = night.client.post(url, content=screening_file(numbers, bad_line=1234), headers={**psych, **CSV})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert (body["field"], body["errors"][0]["line"], body["errors"][0]["column"]) == ("file", 1234, "测评日期")
    assert len(body["errors"]) == 1
    assert counted(night, StudentFactor) == counted(night, KeyConcern) == 0  # nothing half-stored

    data = screening_file(numbers)
    imported = night.client.post(url, content=data, headers={**psych, **CSV})
    assert imported.status_code == 200, imported.text
    assert {k: imported.json()[k] for k in ("created", "not_flagged", "interviews")} == {
        "created": 40,
        "not_flagged": 1960,
        "interviews": 40,
    }
    # The flagged students wait for an interview with their class counsellor, due within 7 days.
    with night.sessions() as db:
        entries = list(db.execute(select(KeyConcern).where(KeyConcern.source == "screening")).scalars())
        flagged = {s.id for s in db.execute(select(Student).where(Student.student_no.in_(numbers[::50]))).scalars()}
    assert {e.student_id for e in entries} == flagged
    assert {(e.level, e.last_talk_at, e.next_talk_due_at) for e in entries} == {("yellow", None, TEN_PM + timedelta(days=7))}
    assert {tuple(e.reason_codes) for e in entries} == {("screening_flag",)}  # coded from the one catalogue
    listed = night.client.get("/api/v1/key-concerns", headers=night.token("counselor_cs")).json()
    mine = [e for e in listed if e["source"] == "screening"]
    assert mine
    assert all(e["last_talk_at"] is None for e in mine)

    again = night.client.post(url, content=data, headers={**psych, **CSV})  # the same export twice: no change
    assert {k: again.json()[k] for k in ("created", "updated", "unchanged", "interviews")} == {
        "created": 0,
        "updated": 0,
        "unchanged": 40,
        "interviews": 0,
    }
    assert counted(night, StudentFactor) == 40
    # Only the school-level staff who hold these records import them.
    for outsider in ("dorm_e1_101", "counselor_cs"):
        assert night.client.post(url, content=data, headers={**night.token(outsider), **CSV}).status_code == 403


def test_a_workbook_export_is_read_and_a_bad_cell_named_by_its_excel_row_and_column(night: Night) -> None:
    numbers = student_numbers(night, 3)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["学号", "预警日期", "预警等级", "不及格学分"])
    sheet.append([numbers[0], "2026-11-01", "二级", 16])
    sheet.append([numbers[1], "2026-11-01", "五级", 9])
    url = "/api/v1/imports/factors/academic"
    refused = night.client.post(url, content=workbook_bytes(book), headers={**night.token("affairs"), **XLSX})
    assert refused.status_code == 422, refused.text
    assert [(e["line"], e["column"]) for e in refused.json()["errors"]] == [(3, "预警等级")]
    sheet.delete_rows(3)
    imported = night.client.post(url, content=workbook_bytes(book), headers={**night.token("affairs"), **XLSX})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 1


def workbook_bytes(book: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def roommate(night: Night) -> Student:
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        found = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert found is not None
        db.expunge(found)
        return found


def test_at_23_10_a_roommate_not_back_and_not_answering_with_an_imported_medication_factor_is_red(night: Night) -> None:
    student = roommate(night)
    care = f"学号,日期,类型\r\n{student.student_no},2026-10-08,服药\r\n".encode("gbk")
    reply = night.client.post("/api/v1/imports/factors/psych_care", content=care, headers={**night.token("psych"), **CSV})
    assert reply.status_code == 200, reply.text

    night.clock.set(TEN_PM + timedelta(minutes=70))  # 23:10
    night.worker.run_once()
    filed = file_observation(night, ("overnight_absence", "missing_contact"))
    assert filed["level"] == "orange"  # what the dorm head reads: her ticks alone, no factor
    staff = night.client.get(f"/api/v1/observations/{filed['id']}", headers=night.token("counselor_cs")).json()
    assert staff["level"] == "red"
    assert "factor:psychiatric_medication" in [r["code"] for r in staff["reasons"]]
    night.worker.run_once()
    phone = f"+86{night.user('counselor_cs').phone}"
    assert [m["To"] for m in night.twilio.messages].count(phone) == 1  # told at once by SMS (and in the app)
    with night.sessions() as db:
        incident = db.execute(select(Incident).where(Incident.source_id == str(filed["escalation_id"]))).scalar_one()
    assert (incident.type, incident.level) == ("missing_student", 3)
    ack = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs"))
    assert ack.status_code == 200, ack.text
    night.clock.set(TEN_PM + timedelta(minutes=90))  # 23:30: the night ladder carries on
    night.worker.run_once()
    officer = f"+86{night.user('officer_cs').phone}"
    assert any("查寝未归·23:30" in m["Body"] for m in night.twilio.messages if m["To"] == officer)


def test_factors_are_read_by_staff_in_scope_only_and_every_read_is_audited(night: Night) -> None:
    student = roommate(night)
    care = f"学号,日期,类型\r\n{student.student_no},2026-10-08,服药\r\n".encode()
    assert (
        night.client.post("/api/v1/imports/factors/psych_care", content=care, headers={**night.token("psych"), **CSV}).status_code
        == 200
    )
    url = f"/api/v1/students/{student.id}/factors"
    read = night.client.get(url, headers=night.token("counselor_cs"))
    assert read.status_code == 200, read.text
    assert [(f["code"], f["zh"], f["dated"]) for f in read.json()] == [("psychiatric_medication", "服用精神类药物", "2026-10-08")]
    with night.sessions() as db:
        reads = db.execute(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "student.factors.read")
        ).scalar_one()
    assert reads == 1
    assert night.client.get(url, headers=night.token("dorm_e1_101")).status_code == 403
    assert night.client.get(url, headers=night.token("monitor_cs2301")).status_code == 403
