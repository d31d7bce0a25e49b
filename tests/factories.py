"""Small builders for tests: a campus tree and users with roles, written straight to the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import ManualClock
from riskcontrol.core.security import hash_password
from riskcontrol.core.worker import Worker
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User

PASSWORD = "correct horse battery"


@cache
def password_hash() -> str:
    """One argon2 hash reused by every test user (hashing is deliberately slow)."""
    return hash_password(PASSWORD)


@dataclass
class Campus:
    """A two-college campus: each college has two classes, each class two dorm rooms."""

    units: dict[str, OrgUnit] = field(default_factory=dict)
    students: dict[str, Student] = field(default_factory=dict)

    def __getitem__(self, code: str) -> OrgUnit:
        return self.units[code]


def unit(db: Session, campus: Campus, code: str, kind: UnitKind, parent: str | None) -> OrgUnit:
    created = grid_service.create_unit(
        db, code=code, kind=kind, name_zh=f"单位{code}", name_en=f"Unit {code}", parent=campus.units[parent] if parent else None
    )
    campus.units[code] = created
    return created


def build_campus(db: Session) -> Campus:
    campus = Campus()
    unit(db, campus, "S", UnitKind.SCHOOL, None)
    for c in ("C1", "C2"):
        unit(db, campus, c, UnitKind.COLLEGE, "S")
        for k in ("1", "2"):
            cls = f"{c}K{k}"
            unit(db, campus, cls, UnitKind.CLASS, c)
            for r in ("1", "2"):
                room = f"{cls}R{r}"
                unit(db, campus, room, UnitKind.DORM, cls)
                no = f"2026{len(campus.students):04d}"
                s = Student(
                    student_no=no,
                    name=f"学生{room}",
                    gender="F",
                    class_id=campus[cls].id,
                    dorm_id=campus[room].id,
                    phone="13800000000",
                )
                s.guardians.append(Guardian(name=f"家长{room}", relation="母亲", phone="13900000000"))
                db.add(s)
                db.flush()
                campus.students[room] = s
    db.flush()
    return campus


def user(db: Session, username: str, *assignments: tuple[str, OrgUnit], name: str | None = None) -> User:
    created = User(username=username, name=name or username, password_hash=password_hash(), active=True, failed_logins=0)
    for role, at in assignments:
        created.assignments.append(RoleAssignment(role=role, unit_id=at.id))
    db.add(created)
    db.flush()
    return created


def token(client: TestClient, username: str, password: str = PASSWORD) -> str:
    reply = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def bearer(client: TestClient, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, username)}"}


@dataclass
class Scene:
    """A campus under a manual clock, its API client and worker; signs people in as needed."""

    client: TestClient
    clock: ManualClock
    sessions: sessionmaker[Session]
    worker: Worker
    campus: Campus
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, tuple[datetime, dict[str, str]]] = field(default_factory=dict)

    def at(self, moment: datetime) -> None:
        """Move the clock to `moment` and let the worker do one round."""
        self.clock.set(moment)
        self.worker.run_once()

    def as_(self, username: str) -> dict[str, str]:
        """A bearer header for `username`, signing in again once the manual clock has outrun the session."""
        signed_in = self.tokens.get(username)
        if signed_in is None or self.clock.now() - signed_in[0] > timedelta(hours=1):
            self.tokens[username] = signed_in = (self.clock.now(), bearer(self.client, username))
        return signed_in[1]


@contextmanager
def statements(db: Session) -> Iterator[list[str]]:
    """The SQL statements the block sends (to show that work is read in bulk, not once per row)."""
    seen: list[str] = []
    engine = db.get_bind()

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
