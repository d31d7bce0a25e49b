"""All-or-nothing CSV imports of units, students and staff: by service, over HTTP and from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from riskcontrol.cli import app as cli
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.csvimport import RowError
from riskcontrol.core.errors import Forbidden
from riskcontrol.core.i18n import word
from riskcontrol.core.security import Principal
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.importer import ImportKind, ImportReport, import_csv
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User
from tests import factories as f

UNITS = """code,parent_code,kind,name_zh,name_en,building_code
D101,K1,dorm,101室,Room 101,B1
K1,CS,class,计科1班,CS Class 1,
CS,S,college,计算机学院,School of Computing,
B1,S,building,一号楼,Building 1,
S,,school,示范大学,Demo University,
K2,CS,class,计科2班,CS Class 2,
"""
STUDENT_HEADER = "student_no,name,gender,class_code,dorm_code,phone,guardian_name,guardian_relation,guardian_phone"
STAFF_HEADER = "username,name,phone,roles,unit_code"


def run(db: Session, clock: ManualClock, kind: ImportKind, text: str | bytes, by: Principal | None = None) -> ImportReport:
    """Import like the CLI does: commit only when the file had no bad row."""
    report = import_csv(db, clock, kind=kind, data=text.encode() if isinstance(text, str) else text, by=by)
    if not report.errors:
        db.commit()
    return report


def count(db: Session, model: type[Any]) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def unit(db: Session, code: str) -> OrgUnit:
    found = grid_service.find_by_code(db, code)
    assert found is not None, code
    return found


def campus_units(classes: int) -> str:
    lines = ["code,parent_code,kind,name_zh,name_en", "S,,school,示范大学,Demo University", "CS,S,college,计算机学院,Computing"]
    for k in range(classes):
        lines += [f"K{k},CS,class,计科{k}班,CS class {k}", f"K{k}R1,K{k},dorm,{k}班1室,Class {k} room 1"]
    return "\n".join(lines) + "\n"


def student_rows(n: int, classes: int = 10) -> list[str]:
    return [
        f"2026{i:05d},学生{i},{'男' if i % 2 else '女'},K{i % classes},K{i % classes}R1,138{i:08d},家长{i},母亲,139 {i:08d}"
        for i in range(n)
    ]


def test_a_units_file_builds_the_tree_even_with_children_listed_before_their_parents(db: Session, clock: ManualClock) -> None:
    report = run(db, clock, ImportKind.UNITS, UNITS)
    assert report.errors == []
    assert report.describe() == "units: 6 created, 0 updated, 0 unchanged"
    s, cs, k1, room = unit(db, "S"), unit(db, "CS"), unit(db, "K1"), unit(db, "D101")
    assert room.path == f"/{s.id}/{cs.id}/{k1.id}/{room.id}/"
    assert room.building_id == unit(db, "B1").id
    assert unit(db, "B1").path == f"/{s.id}/{unit(db, 'B1').id}/"
    assert (k1.name_zh, k1.name_en) == ("计科1班", "CS Class 1")


def test_importing_the_same_units_again_changes_nothing_and_adds_no_audit_row(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, UNITS)
    units, audits = count(db, OrgUnit), count(db, AuditLog)
    report = run(db, clock, ImportKind.UNITS, UNITS)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert (count(db, OrgUnit), count(db, AuditLog)) == (units, audits) == (6, 1)


def test_a_renamed_unit_is_updated_and_the_import_audited_with_the_file_hash(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, UNITS)
    renamed = UNITS.replace("CS Class 1", "Computing Class 1")
    report = run(db, clock, ImportKind.UNITS, renamed)
    assert report.describe() == "units: 0 created, 1 updated, 5 unchanged"
    assert unit(db, "K1").name_en == "Computing Class 1"
    last = db.execute(select(AuditLog).order_by(AuditLog.seq.desc()).limit(1)).scalar_one()
    assert last.action == "import.units"
    assert last.actor == "cli"
    assert last.detail["updated"] == 1
    assert len(last.detail["sha256"]) == 64


def test_every_bad_unit_row_is_reported_and_nothing_is_written(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, UNITS)
    bad = """code,parent_code,kind,name_zh,name_en
K3,NOPE,class,三班,Class 3
A,B,college,甲,A
B,A,college,乙,B
D9,CS,dorm,九室,Room 9
K1,CS,class,计科1班,CS Class 1
K1,CS,class,again,again
K4,CS,class,,Class 4
K2,CS,college,计科2班,CS Class 2
D101,K2,dorm,101室,Room 101
X,CS,villa,别墅,Villa
"""
    before = count(db, OrgUnit)
    report = run(db, clock, ImportKind.UNITS, bad)
    assert report.created == report.updated == report.unchanged == 0
    found = {(e.line, e.column): word("en", e.reason) for e in report.errors}
    assert "no unit with code 'NOPE'" in found[2, "parent_code"]
    assert "loops back" in found[3, "parent_code"]
    assert "loops back" in found[4, "parent_code"]
    assert "cannot sit under a College" in found[5, "parent_code"]
    assert "already appears on line 6" in found[7, "code"]
    assert found[8, "name_zh"] == "must not be empty"
    assert "does not change a unit's kind" in found[9, "kind"]
    assert "does not move units" in found[10, "parent_code"]
    assert "subtree" in found[10, "parent_code"]
    assert "is not one of" in found[11, "kind"]
    assert [e.line for e in report.errors] == sorted(e.line for e in report.errors)
    db.rollback()
    assert count(db, OrgUnit) == before


def test_one_bad_row_among_a_thousand_students_stores_nothing_and_names_its_line(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(10))
    rows = student_rows(1000)
    rows[498] = rows[498].replace(",K8,", ",K99,")  # line 500: the header is line 1
    report = run(db, clock, ImportKind.STUDENTS, "\n".join([STUDENT_HEADER, *rows]) + "\n")
    assert len(report.errors) == 1
    assert report.errors[0].line == 500
    assert report.errors[0].column == "class_code"
    assert "K99" in word("en", report.errors[0].reason)
    db.rollback()
    assert (count(db, Student), count(db, Guardian)) == (0, 0)


def test_a_thousand_students_import_in_bulk_and_again_as_a_no_op(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(10))
    data = "\n".join([STUDENT_HEADER, *student_rows(1000)]) + "\n"
    with f.statements(db) as sent:
        report = run(db, clock, ImportKind.STUDENTS, data)
    assert report.describe() == "students: 1000 created, 0 updated, 0 unchanged"
    # Reads must be a few bulk queries; how inserts are batched is the dialect's business.
    reads = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) < 10, "existing rows must be preloaded in bulk, not queried once per row"
    assert (count(db, Student), count(db, Guardian)) == (1000, 1000)
    audits = count(db, AuditLog)
    report = run(db, clock, ImportKind.STUDENTS, data)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1000)
    assert (count(db, Student), count(db, Guardian), count(db, AuditLog)) == (1000, 1000, audits)


def test_a_gbk_file_from_excel_imports_chinese_names_and_normalises_phones(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(1))
    rows = ["2026001,张三,男,K0,K0R1,+86 138-1234-5678,张父,父亲,86 139 1234 5678", "2026002,李四,女,K0,,,,,"]
    text = "\r\n".join([STUDENT_HEADER, *rows]) + "\r\n"
    report = run(db, clock, ImportKind.STUDENTS, text.encode("gbk"))
    assert report.errors == []
    zhang = db.execute(select(Student).where(Student.student_no == "2026001")).scalar_one()
    assert (zhang.name, zhang.gender, zhang.phone, zhang.dorm_id) == ("张三", "M", "13812345678", unit(db, "K0R1").id)
    assert [(g.name, g.relation, g.phone) for g in zhang.guardians] == [("张父", "父亲", "13912345678")]
    li = db.execute(select(Student).where(Student.student_no == "2026002")).scalar_one()
    assert (li.gender, li.dorm_id, li.phone, li.guardians) == ("F", None, None, [])


def test_a_guardian_is_updated_by_name_and_a_second_one_added(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(1))
    run(db, clock, ImportKind.STUDENTS, f"{STUDENT_HEADER}\n1,张三,M,K0,,,张父,父亲,13912345678\n")
    report = run(db, clock, ImportKind.STUDENTS, f"{STUDENT_HEADER}\n1,张三,M,K0,,,张父,父亲,13900000000\n")
    assert report.describe() == "students: 0 created, 1 updated, 0 unchanged"
    run(db, clock, ImportKind.STUDENTS, f"{STUDENT_HEADER}\n1,张三,M,K0,,,张母,母亲,13700000000\n")
    student = db.execute(select(Student)).scalar_one()
    assert [(g.name, g.phone) for g in student.guardians] == [("张父", "13900000000"), ("张母", "13700000000")]


def test_bad_student_cells_are_each_named(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(1))
    text = f"""{STUDENT_HEADER}
1,张三,X,K0R1,K0,12345,张父,,13912345678
1,李四,F,K0,,1.38123E+10,,,
"""
    report = run(db, clock, ImportKind.STUDENTS, text)
    found = {(e.line, e.column): word("en", e.reason) for e in report.errors}
    assert set(found) == {
        (2, "gender"),
        (2, "class_code"),
        (2, "dorm_code"),
        (2, "phone"),
        (2, "guardian_relation"),
        (3, "student_no"),
        (3, "phone"),
    }
    assert found[2, "class_code"] == "unit 'K0R1' is a dorm, not a class"
    assert "format the column as text" in found[3, "phone"]


def test_staff_get_exactly_the_roles_and_units_of_their_row(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(2))
    text = f"{STAFF_HEADER}\nwang.t,王老师,138 0000 0001,counselor;psych_member,K0;K1\nli_admin,李管理员,,admin,S\n"
    assert run(db, clock, ImportKind.STAFF, text).describe() == "staff: 2 created, 0 updated, 0 unchanged"
    wang = db.execute(select(User).where(User.username == "wang.t")).scalar_one()
    k0, k1 = unit(db, "K0").id, unit(db, "K1").id
    held = {(a.role, a.unit_id) for a in wang.assignments}
    assert held == {("counselor", k0), ("counselor", k1), ("psych_member", k0), ("psych_member", k1)}
    assert (wang.password_hash, wang.phone) == (None, "13800000001")
    assert run(db, clock, ImportKind.STAFF, text).describe() == "staff: 0 created, 0 updated, 2 unchanged"
    fewer = text.replace("counselor;psych_member,K0;K1", "counselor,K1")
    assert run(db, clock, ImportKind.STAFF, fewer).describe() == "staff: 0 created, 1 updated, 1 unchanged"
    db.expire_all()
    assert [(a.role, a.unit_id) for a in wang.assignments] == [("counselor", k1)]
    assert count(db, RoleAssignment) == 2


def test_a_role_at_the_wrong_kind_of_unit_is_rejected_with_the_rest_of_the_file(db: Session, clock: ManualClock) -> None:
    run(db, clock, ImportKind.UNITS, campus_units(1))
    text = f"{STAFF_HEADER}\nok,好,,counselor,K0\nbad,坏,,dorm_head,K0\nbad name,坏,,nobody,NOPE\n"
    report = run(db, clock, ImportKind.STAFF, text)
    assert [(e.line, e.column) for e in report.errors] == [(3, "unit_code"), (4, "username"), (4, "roles"), (4, "unit_code")]
    assert "dorm_head" in word("en", report.errors[0].reason)
    assert "K0" in word("en", report.errors[0].reason)
    db.rollback()
    assert count(db, User) == 0


def test_only_an_admin_may_import(db: Session, clock: ManualClock) -> None:
    counselor = Principal(user_id=1, username="c", display_name="c", roles=frozenset({"counselor"}))
    with pytest.raises(Forbidden):
        import_csv(db, clock, kind=ImportKind.UNITS, data=UNITS.encode(), by=counselor)
    admin = Principal(user_id=2, username="a", display_name="a", roles=frozenset({"admin"}))
    assert import_csv(db, clock, kind=ImportKind.UNITS, data=UNITS.encode(), by=admin).created == 6


def seed_api(db: Session) -> None:
    campus = f.build_campus(db)
    f.user(db, "admin", ("admin", campus["S"]))
    f.user(db, "counselor", ("counselor", campus["C1K1"]))
    db.commit()


def post(client: TestClient, kind: str, data: bytes, username: str) -> Any:
    headers = {**f.bearer(client, username), "Content-Type": "text/csv"}
    return client.post(f"/api/v1/admin/import/{kind}", content=data, headers=headers)


def test_an_admin_imports_over_http(client: TestClient, db: Session) -> None:
    seed_api(db)
    reply = post(client, "students", f"{STUDENT_HEADER}\n9001,王五,男,C1K1,C1K1R1,13812345678,,,\n".encode(), "admin")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert db.execute(select(Student.name).where(Student.student_no == "9001")).scalar_one() == "王五"


def test_a_non_admin_is_refused_over_http(client: TestClient, db: Session) -> None:
    seed_api(db)
    reply = post(client, "units", UNITS.encode(), "counselor")
    assert reply.status_code == 403
    assert count(db, OrgUnit) == 15


def test_a_bad_file_over_http_is_422_with_every_row_and_stores_nothing(client: TestClient, db: Session) -> None:
    seed_api(db)
    students = count(db, Student)
    db.rollback()  # end the read: the count after the call must see what the app committed
    data = f"{STUDENT_HEADER}\n9001,王五,男,C1K1,,13812345678,,,\n9002,赵六,男,NOPE,,123,,,\n".encode()
    reply = post(client, "students", data, "admin")
    assert reply.status_code == 422
    body = reply.json()
    assert (body["error"], body["field"]) == ("invalid", "file")
    assert body["errors"] == [
        {"line": 3, "column": "class_code", "reason": "no unit with code 'NOPE'; import the units first"},
        {"line": 3, "column": "phone", "reason": body["errors"][1]["reason"]},
    ]
    assert body["message"].startswith("文件中有 2 处问题，本次没有导入任何内容。第一处：第 3 行“class_code”列：")
    assert count(db, Student) == students


def test_an_upload_over_ten_megabytes_is_413(client: TestClient, db: Session) -> None:
    seed_api(db)
    reply = post(client, "units", b"x" * (10 * 1024 * 1024 + 1), "admin")
    assert reply.status_code == 413
    assert reply.json()["field"] == "file"


def test_the_cli_names_the_bad_line_and_exits_1_then_imports_the_fixed_file(
    sessions: Any, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"RISKCONTROL_DATABASE_URL": database_url}
    bad = tmp_path / "units.csv"
    bad.write_text(UNITS.replace("K2,CS,class", "K2,NOPE,class"), encoding="utf-8")
    result = runner.invoke(cli, ["import", "units", str(bad)], env=env)
    assert result.exit_code == 1
    assert f"{bad}:7: column parent_code: no unit with code 'NOPE'" in result.output
    with sessions() as db:
        assert count(db, OrgUnit) == 0
    good = tmp_path / "units-fixed.csv"
    good.write_text(UNITS, encoding="utf-8")
    result = runner.invoke(cli, ["import", "units", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "units: 6 created, 0 updated, 0 unchanged" in result.output
    with sessions() as db:
        assert count(db, OrgUnit) == 6


def test_report_errors_are_plain_values() -> None:
    assert RowError(3, "kind", "x") == RowError(line=3, column="kind", reason="x")
