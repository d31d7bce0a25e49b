"""The demo campus: its size and shape, its staff for every role, determinism, re-runs and logins."""

from __future__ import annotations

from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from riskcontrol import demo
from riskcontrol.core.audit import AuditLog, verify_chain
from riskcontrol.core.clock import ManualClock
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User
from riskcontrol.people.rules import ROLE_UNIT_KINDS, Role


def seed(db: Session, clock: ManualClock) -> demo.DemoSummary:
    summary = demo.seed_demo(db, clock)
    db.commit()
    return summary


def test_the_demo_campus_has_a_full_grid_and_someone_in_every_role(db: Session, clock: ManualClock) -> None:
    summary = seed(db, clock)
    counts = summary.counts
    assert summary.created
    assert counts["school"] == 1
    assert counts["college"] >= 6
    assert counts["class"] >= 60
    assert counts["building"] == 8
    assert counts["dorm"] >= 400
    assert counts["student"] >= 2400
    assert counts["guardian"] >= counts["student"]
    assert "2400 students" in summary.describe()
    held = db.execute(select(RoleAssignment.role, OrgUnit.kind).join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)).all()
    assert {Role(role) for role, _ in held} == set(Role)
    assert all(UnitKind(kind) in ROLE_UNIT_KINDS[Role(role)] for role, kind in held)
    assert verify_chain(db).ok


def test_every_dorm_room_hangs_under_a_class_and_sits_in_a_building(db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    parent, building = aliased(OrgUnit), aliased(OrgUnit)
    rows = db.execute(
        select(OrgUnit, parent.kind, parent.path, building.kind)
        .join(parent, parent.id == OrgUnit.parent_id)
        .outerjoin(building, building.id == OrgUnit.building_id)
        .where(OrgUnit.kind == UnitKind.DORM)
    ).all()
    assert len(rows) >= 400
    assert {(p, b) for _, p, _, b in rows} == {(UnitKind.CLASS, UnitKind.BUILDING)}
    assert all(room.path == f"{parent_path}{room.id}/" and room.depth == 3 for room, _, parent_path, _ in rows)


def test_roommates_share_a_gender_and_a_class(db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    rooms = db.execute(
        select(
            Student.dorm_id, func.count(), func.count(func.distinct(Student.gender)), func.count(func.distinct(Student.class_id))
        ).group_by(Student.dorm_id)
    ).all()
    assert {(n, genders, classes) for _, n, genders, classes in rooms} == {(6, 1, 1)}
    elsewhere = select(func.count()).select_from(Student).join(OrgUnit, OrgUnit.id == Student.dorm_id)
    assert db.execute(elsewhere.where(OrgUnit.parent_id != Student.class_id)).scalar_one() == 0


def test_monitors_and_dorm_heads_are_students_of_their_class_or_room(db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    rows = db.execute(
        select(RoleAssignment.role, RoleAssignment.unit_id, Student)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Student, Student.id == User.student_id)
    ).all()
    by_role: dict[str, int] = {}
    for role, unit_id, student in rows:
        by_role[role] = by_role.get(role, 0) + 1
        assert unit_id == (student.dorm_id if role == Role.DORM_HEAD else student.class_id)
    assert by_role[Role.CLASS_MONITOR] >= 60
    assert by_role[Role.PSYCH_MEMBER] >= 60
    assert by_role[Role.DORM_HEAD] >= 40
    staff_roles = db.scalars(
        select(RoleAssignment.role).join(User, User.id == RoleAssignment.user_id).where(User.student_id.is_(None)).distinct()
    ).all()
    assert Role.DORM_HEAD not in staff_roles


def test_counselors_each_look_after_two_or_three_classes(db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    loads = db.execute(
        select(RoleAssignment.user_id, func.count()).where(RoleAssignment.role == Role.COUNSELOR).group_by(RoleAssignment.user_id)
    ).all()
    assert loads
    assert {n for _, n in loads} <= {2, 3}


def test_a_second_run_keeps_the_campus_as_it_was(db: Session, clock: ManualClock) -> None:
    first = seed(db, clock)
    again = seed(db, clock)
    assert not again.created
    assert again.counts == first.counts
    assert "already there" in again.describe()
    seeded = db.scalars(select(AuditLog).where(AuditLog.action == "demo.seeded")).all()
    assert len(seeded) == 1
    assert seeded[0].detail["student"] == first.counts["student"]


def test_the_demo_campus_is_the_same_every_time(db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    students = db.scalars(select(Student).order_by(Student.student_no)).all()
    first, last = students[0], students[-1]
    assert (first.student_no, first.name, first.phone) == ("2022050101", "崔晨哲", "15555903101")
    assert (last.student_no, last.name, last.phone) == ("2025060336", "唐敏艳", "19905446031")
    cs2301 = db.scalars(select(Student).where(Student.student_no == "2023010101")).one()
    assert (cs2301.name, [(g.relation, g.name) for g in db.get_one(Student, cs2301.id).guardians]) == (
        "高辉翔",
        [("父亲", "高华"), ("母亲", "丁雨可")],
    )
    assert all(s.phone is not None and len(s.phone) == 11 and s.phone[:2] in {"13", "15", "18", "19"} for s in students)
    assert all(len(g.phone) == 11 for g in db.scalars(select(Guardian).limit(200)))


def test_every_demo_login_signs_in_with_the_demo_password(client: TestClient, db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    assert len({login.username for login in demo.DEMO_LOGINS}) == len(demo.DEMO_LOGINS)
    for login in demo.DEMO_LOGINS:
        reply = client.post("/api/v1/auth/token", json={"username": login.username, "password": demo.DEMO_PASSWORD})
        assert reply.status_code == 200, (login.username, reply.text)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {reply.json()['access_token']}"}).json()
        assert login.role in me["roles"], login.username


def test_the_demo_dorm_head_sees_only_her_room_of_the_first_class(client: TestClient, db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    dorm_head = next(login for login in demo.DEMO_LOGINS if login.role == Role.DORM_HEAD)
    reply = client.post("/api/v1/auth/token", json={"username": dorm_head.username, "password": demo.DEMO_PASSWORD})
    units = client.get("/api/v1/grid/units", headers={"Authorization": f"Bearer {reply.json()['access_token']}"}).json()
    assert [u["code"] for u in units] == ["E1-101"]
    room_class = db.get_one(OrgUnit, units[0]["parent_id"])
    assert (room_class.code, room_class.name_zh) == ("CS2301", "计科2301班")


def test_the_logins_table_lists_every_demo_account_with_its_password() -> None:
    console = Console(record=True, width=200)
    console.print(demo.logins_table())
    text = console.export_text()
    assert all(login.username in text for login in demo.DEMO_LOGINS)
    assert demo.DEMO_PASSWORD in text
    assert "寝室长" in text
    assert "Dorm head" in text
