"""Signing in, lockout, and what each role may see of the grid and its students."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from tests import factories as f


def seed(db: Session) -> f.Campus:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]))
    f.user(db, "counselor", ("counselor", campus["C1K1"]), ("counselor", campus["C1K2"]))
    f.user(db, "officer", ("college_officer", campus["C2"]))
    f.user(db, "affairs", ("student_affairs", campus["S"]))
    db.commit()
    return campus


def test_a_dorm_head_lists_only_her_room(client: TestClient, db: Session) -> None:
    campus = seed(db)
    units = client.get("/api/v1/grid/units", headers=f.bearer(client, "dorm_head")).json()
    assert [u["code"] for u in units] == ["C1K1R1"]
    assert set(units[0]) >= {"id", "code", "kind", "name_zh", "name_en", "parent_id"}
    assert units[0]["parent_id"] == campus["C1K1"].id


def test_a_counselor_sees_his_two_classes_and_their_rooms(client: TestClient, db: Session) -> None:
    seed(db)
    codes = {u["code"] for u in client.get("/api/v1/grid/units", headers=f.bearer(client, "counselor")).json()}
    assert codes == {"C1K1", "C1K1R1", "C1K1R2", "C1K2", "C1K2R1", "C1K2R2"}


def test_student_affairs_sees_the_whole_school(client: TestClient, db: Session) -> None:
    campus = seed(db)
    units = client.get("/api/v1/grid/units", headers=f.bearer(client, "affairs")).json()
    assert len(units) == len(campus.units)


def test_reading_a_unit_outside_scope_is_403_and_audited(client: TestClient, db: Session) -> None:
    campus = seed(db)
    reply = client.get(f"/api/v1/grid/units/{campus['C2'].id}", headers=f.bearer(client, "counselor"))
    assert reply.status_code == 403
    assert reply.json()["field"] == "unit_id"
    denied = db.execute(select(AuditLog).where(AuditLog.action == "access.denied")).scalars().all()
    assert [d.actor for d in denied] == ["counselor"]


def test_a_student_outside_scope_does_not_exist_for_the_caller_but_the_try_is_audited(client: TestClient, db: Session) -> None:
    campus = seed(db)
    other = campus.students["C2K1R1"]
    reply = client.get(f"/api/v1/people/students/{other.id}", headers=f.bearer(client, "dorm_head"))
    assert reply.status_code == 404
    assert db.execute(select(AuditLog).where(AuditLog.action == "access.denied")).scalars().one().actor == "dorm_head"


def test_contacts_are_for_counselors_and_each_read_is_audited(client: TestClient, db: Session) -> None:
    campus = seed(db)
    mine = campus.students["C1K1R1"]
    assert client.get(f"/api/v1/people/students/{mine.id}/contacts", headers=f.bearer(client, "dorm_head")).status_code == 403
    reply = client.get(f"/api/v1/people/students/{mine.id}/contacts", headers=f.bearer(client, "counselor"))
    assert reply.status_code == 200
    assert reply.json()["guardians"][0]["relation"] == "母亲"
    reads = db.execute(select(AuditLog).where(AuditLog.action == "student.contacts.read")).scalars().all()
    assert [(r.actor, r.subject_id) for r in reads] == [("counselor", str(mine.id))]


def test_wrong_passwords_lock_the_account_for_fifteen_minutes(client: TestClient, db: Session, clock: ManualClock) -> None:
    seed(db)
    for _ in range(5):
        assert client.post("/api/v1/auth/token", json={"username": "affairs", "password": "nope"}).status_code == 401
    locked = client.post("/api/v1/auth/token", json={"username": "affairs", "password": f.PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    clock.advance(timedelta(minutes=15, seconds=1))
    assert client.post("/api/v1/auth/token", json={"username": "affairs", "password": f.PASSWORD}).status_code == 200


def test_logout_revokes_the_token(client: TestClient, db: Session) -> None:
    seed(db)
    headers = f.bearer(client, "affairs")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_no_token_is_401_and_a_malformed_login_names_the_field(client: TestClient, db: Session) -> None:
    seed(db)
    assert client.get("/api/v1/grid/units").status_code == 401
    reply = client.post("/api/v1/auth/token", json={"username": "affairs"})
    assert reply.status_code == 422
    assert reply.json()["field"] == "password"


def test_ids_beyond_the_database_range_are_refused_naming_the_field(client: TestClient, db: Session) -> None:
    seed(db)
    headers = f.bearer(client, "affairs")
    for url, field in [
        ("/api/v1/grid/units/3000000000", "unit_id"),
        ("/api/v1/people/students/99999999999999999999", "student_id"),
        ("/api/v1/people/students?unit_id=3000000000", "unit_id"),
        ("/api/v1/grid/units?parent_id=0", "parent_id"),
        ("/api/v1/grid/units?kind=planet", "kind"),
    ]:
        reply = client.get(url, headers=headers)
        assert (reply.status_code, reply.json()["field"]) == (422, field), url


def test_a_nul_byte_in_text_is_refused_naming_the_field(client: TestClient, db: Session) -> None:
    seed(db)
    reply = client.post("/api/v1/auth/token", json={"username": "aff\x00airs", "password": "x"})
    assert (reply.status_code, reply.json()["field"]) == (422, "username")
    reply = client.get("/api/v1/people/students", params={"q": "张\x00"}, headers=f.bearer(client, "affairs"))
    assert (reply.status_code, reply.json()["field"]) == (422, "q")
