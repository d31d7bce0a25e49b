"""Use cases about people: students and users within the caller's scope, contacts, passwords."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Forbidden, InvalidInput, NotFound
from riskcontrol.core.security import Principal, hash_password, require_role
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import path_ids
from riskcontrol.people import rules
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User

ClassUnit = aliased(OrgUnit, name="class_unit")
DormUnit = aliased(OrgUnit, name="dorm_unit")


def students_in_scope(principal: Principal, *, unit_id: int | None = None, query: str | None = None) -> Select[Student]:
    """Students whose class or dorm room lies in the caller's subtree (optionally under one unit)."""
    stmt = (
        select(Student)
        .join(ClassUnit, ClassUnit.id == Student.class_id)
        .outerjoin(DormUnit, DormUnit.id == Student.dorm_id)
        .where(or_(grid_service.scope_clause(principal, ClassUnit.path), grid_service.scope_clause(principal, DormUnit.path)))
    )
    if unit_id is not None:
        stmt = stmt.where(or_(Student.class_id == unit_id, Student.dorm_id == unit_id, ClassUnit.parent_id == unit_id))
    if query:
        needle = query.strip()
        stmt = stmt.where(
            or_(Student.name.contains(needle, autoescape=True), Student.student_no.startswith(needle, autoescape=True))
        )
    return stmt.order_by(Student.student_no)


def list_students(
    db: Session,
    principal: Principal,
    *,
    unit_id: int | None = None,
    query: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Student]:
    return db.execute(students_in_scope(principal, unit_id=unit_id, query=query).limit(limit).offset(offset)).scalars().all()


def get_student(db: Session, principal: Principal, student_id: int) -> Student:
    """One student in scope; outside it the student's existence is private (404, audited)."""
    student = db.execute(students_in_scope(principal).where(Student.id == student_id)).scalar_one_or_none()
    if student is not None:
        return student
    raise missing_or_private(db, Student, student_id, what="student", field="student_id")


def student_contacts(db: Session, clock: Clock, principal: Principal, student_id: int) -> tuple[Student, list[Guardian]]:
    """A student's phone and guardians: only for contact roles, and every read is audited."""
    if not principal.has_role(*rules.SEES_CONTACTS):
        raise Forbidden("contact details are visible to counselors and student-affairs staff only")
    # Only where the caller holds a contact role: a dorm head who is also a counselor elsewhere
    # does not see the phone numbers of her roommates' parents.
    student = get_student(db, principal.narrowed_to(*rules.SEES_CONTACTS), student_id)
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="student.contacts.read",
        subject_type="student",
        subject_id=student.id,
        detail={"student_no": student.student_no},
    )
    return student, list(student.guardians)


def list_users(db: Session, principal: Principal, *, limit: int = 200, offset: int = 0) -> list[tuple[User, list[str]]]:
    """Users holding a role at a unit in the caller's subtree, each with only the roles held there."""
    held_here = (
        select(RoleAssignment.user_id, RoleAssignment.role)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(grid_service.scope_clause(principal, OrgUnit.path))
    )
    roles: dict[int, set[str]] = {}
    for user_id, role in db.execute(held_here):
        roles.setdefault(user_id, set()).add(role)
    users = db.execute(select(User).where(User.id.in_(roles)).order_by(User.username).limit(limit).offset(offset)).scalars()
    return [(user, sorted(roles[user.id])) for user in users]


def get_user_by_username(db: Session, username: str) -> User:
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def set_password(db: Session, clock: Clock, *, user: User, password: str, by: Principal | None) -> None:
    """Replace a user's password and revoke nothing else; the change is audited."""
    if len(password) < 8:
        raise InvalidInput("a password needs at least 8 characters", field="password")
    if by is not None:
        require_role(by, *rules.MANAGES_DIRECTORY)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    audit.record(
        db,
        clock,
        actor_user_id=by.user_id if by else None,
        actor=by.username if by else "cli",
        action="user.password.set",
        subject_type="user",
        subject_id=user.id,
    )


def holders_at_root(db: Session, path: str, roles: Iterable[str]) -> list[User]:
    """Active holders of `roles` at the root unit (the school) of `path`."""
    ids = path_ids(path)
    if not ids:
        return []
    stmt = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.unit_id == ids[0], RoleAssignment.role.in_(list(roles)), User.active.is_(True))
        .order_by(User.id)
    )
    return list(db.execute(stmt).scalars().unique())


def nearest_holders(db: Session, path: str, roles: Iterable[str]) -> list[User]:
    """Active holders of `roles` at the unit of `path` or, failing that, at the nearest unit above holding one."""
    ids = path_ids(path)
    stmt = (
        select(RoleAssignment.unit_id, User)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.unit_id.in_(ids), RoleAssignment.role.in_(list(roles)), User.active.is_(True))
        .order_by(User.id)
    )
    by_unit: dict[int, dict[int, User]] = {}
    for unit_id, user in db.execute(stmt):
        by_unit.setdefault(unit_id, {})[user.id] = user
    for unit_id in reversed(ids):
        if by_unit.get(unit_id):
            return list(by_unit[unit_id].values())
    return []
