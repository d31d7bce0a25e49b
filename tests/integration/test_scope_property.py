"""Property: on any grid, no user can read or list anything outside their subtree, through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import ManualClock
from riskcontrol.core.security import hash_token
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people.models import AuthSession, RoleAssignment, Student, User
from riskcontrol.people.rules import ROLE_UNIT_KINDS, SEES_CONTACTS, Role
from tests.conftest import wipe


@dataclass(frozen=True)
class Node:
    kind: UnitKind
    parent: int | None  # index into the node list


@st.composite
def grids(draw: st.DrawFn) -> list[Node]:
    """A school with random colleges, classes, dorm rooms and buildings (indexes, not ids)."""
    nodes = [Node(UnitKind.SCHOOL, None)]
    for _ in range(draw(st.integers(1, 3))):
        nodes.append(Node(UnitKind.COLLEGE, 0))
        college = len(nodes) - 1
        for _ in range(draw(st.integers(0, 3))):
            nodes.append(Node(UnitKind.CLASS, college))
            cls = len(nodes) - 1
            nodes.extend(Node(UnitKind.DORM, cls) for _ in range(draw(st.integers(0, 2))))
    for _ in range(draw(st.integers(0, 2))):
        nodes.append(
            Node(UnitKind.BUILDING, draw(st.sampled_from([0] + [i for i, n in enumerate(nodes) if n.kind == UnitKind.COLLEGE])))
        )
        building = len(nodes) - 1
        nodes.extend(Node(UnitKind.DORM, building) for _ in range(draw(st.integers(0, 2))))
    return nodes


@st.composite
def campuses(draw: st.DrawFn) -> tuple[list[Node], list[tuple[int, int | None]], list[list[tuple[Role, int]]]]:
    nodes = draw(grids())
    classes = [i for i, n in enumerate(nodes) if n.kind == UnitKind.CLASS]
    dorms = [i for i, n in enumerate(nodes) if n.kind == UnitKind.DORM]
    students: list[tuple[int, int | None]] = []
    if classes:
        pick_dorm = st.none() | st.sampled_from(dorms) if dorms else st.none()
        students = draw(st.lists(st.tuples(st.sampled_from(classes), pick_dorm), max_size=8))
    users = []
    for _ in range(draw(st.integers(1, 4))):
        assignments = []
        for role in draw(st.lists(st.sampled_from(list(Role)), min_size=1, max_size=3)):
            places = [i for i, n in enumerate(nodes) if n.kind in ROLE_UNIT_KINDS[role]]
            if places:
                assignments.append((role, draw(st.sampled_from(places))))
        users.append(assignments)
    return nodes, students, users


def make_units(db: Session, nodes: list[Node]) -> list[OrgUnit]:
    """The grid's units, in the nodes' order (codes U0, U1 …)."""
    units: list[OrgUnit] = []
    for k, node in enumerate(nodes):
        parent = units[node.parent] if node.parent is not None else None
        units.append(
            grid_service.create_unit(db, code=f"U{k}", kind=node.kind, name_zh=f"单位{k}", name_en=f"U{k}", parent=parent)
        )
    return units


def make_user(db: Session, clock: ManualClock, username: str, assignments: list[tuple[Role, int]]) -> tuple[User, str]:
    """A user holding each (role, unit id), signed in for an hour: the user and their bearer token."""
    user = User(username=username, name=username, active=True, failed_logins=0)
    user.assignments = [RoleAssignment(role=role.value, unit_id=unit_id) for role, unit_id in set(assignments)]
    db.add(user)
    db.flush()
    token = f"token-{username}"
    db.add(
        AuthSession(
            user_id=user.id,
            token_hash=hash_token(token),
            kind="api",
            created_at=clock.now(),
            expires_at=clock.now() + timedelta(hours=1),
        )
    )
    return user, token


def visible(nodes: list[Node], held_at: set[int]) -> set[int]:
    """Indexes of units at or under any unit in `held_at`, by walking parent links."""
    seen = set()
    for i in range(len(nodes)):
        j: int | None = i
        while j is not None:
            if j in held_at:
                seen.add(i)
                break
            j = nodes[j].parent
    return seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(campus=campuses())
def test_nobody_reads_or_lists_outside_their_subtree(
    campus: tuple[list[Node], list[tuple[int, int | None]], list[list[tuple[Role, int]]]],
    client: TestClient,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: ManualClock,
) -> None:
    nodes, student_specs, user_specs = campus
    wipe(engine)
    # Each example is a fresh minute: the users' ids recur from one example to the next, and so would
    # their rate-limit buckets on a clock that never moved.
    clock.advance(timedelta(minutes=1))
    with sessions() as db:
        units = make_units(db, nodes)
        students = []
        for k, (cls, dorm) in enumerate(student_specs):
            student = Student(
                student_no=f"S{k:03d}",
                name=f"学生{k}",
                gender="M",
                class_id=units[cls].id,
                dorm_id=units[dorm].id if dorm is not None else None,
            )
            db.add(student)
            students.append(student)
        tokens = [
            make_user(db, clock, f"user{k}", [(role, units[at].id) for role, at in assignments])[1]
            for k, assignments in enumerate(user_specs)
        ]
        db.commit()
        unit_ids = [u.id for u in units]
        student_ids = [s.id for s in students]

    for k, assignments in enumerate(user_specs):
        headers = {"Authorization": f"Bearer {tokens[k]}"}
        in_scope = visible(nodes, {at for _, at in assignments})
        expected_units = {unit_ids[i] for i in in_scope}
        expected_students = {
            student_ids[n]
            for n, (cls, dorm) in enumerate(student_specs)
            if cls in in_scope or (dorm is not None and dorm in in_scope)
        }
        expected_users = {f"user{m}" for m, other in enumerate(user_specs) if any(at in in_scope for _, at in other)}

        listed = client.get("/api/v1/grid/units", headers=headers).json()
        assert {u["id"] for u in listed} == expected_units
        assert {s["id"] for s in client.get("/api/v1/people/students", headers=headers).json()} == expected_students
        assert {u["username"] for u in client.get("/api/v1/people/users", headers=headers).json()} == expected_users
        for unit_id in unit_ids:
            status = client.get(f"/api/v1/grid/units/{unit_id}", headers=headers).status_code
            assert status == (200 if unit_id in expected_units else 403)
        for student_id in student_ids:
            status = client.get(f"/api/v1/people/students/{student_id}", headers=headers).status_code
            assert status == (200 if student_id in expected_students else 404)
        contact_scope = visible(nodes, {at for role, at in assignments if role in SEES_CONTACTS})
        for n, (cls, dorm) in enumerate(student_specs):
            status = client.get(f"/api/v1/people/students/{student_ids[n]}/contacts", headers=headers).status_code
            if not contact_scope:
                assert status == 403
            else:
                reachable = cls in contact_scope or (dorm is not None and dorm in contact_scope)
                assert status == (200 if reachable else 404)
