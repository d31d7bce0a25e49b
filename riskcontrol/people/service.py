"""Use cases about people: students and users within the caller's scope, contacts, passwords."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Forbidden, InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, hash_password, require_role
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind, path_ids
from riskcontrol.people import rules
from riskcontrol.people.models import Guardian, RoleAssignment, StaffCover, Student, User

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
    refusal = phrase("refusal.people.no_student", id=student_id)
    raise missing_or_private(db, Student, student_id, message=refusal, field="student_id")


def student_contacts(db: Session, clock: Clock, principal: Principal, student_id: int) -> tuple[Student, list[Guardian]]:
    """A student's phone and guardians: only for contact roles, and every read is audited."""
    if not principal.has_role(*rules.SEES_CONTACTS):
        raise Forbidden(phrase("refusal.people.contacts_forbidden"))
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
        raise NotFound(phrase("refusal.people.no_user", username=username), field="username")
    return user


def set_password(db: Session, clock: Clock, *, user: User, password: str, by: Principal | None) -> None:
    """Replace a user's password and revoke nothing else; the change is audited."""
    if len(password) < 8:
        raise InvalidInput(phrase("refusal.people.password_short", min=8), field="password")
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


class Holders:
    """Active holders of some roles at every unit along some paths: one query loads them, callers ask in memory.

    A unit's path lists its ancestors from the school down to itself, so "nearest up the grid" is the
    deepest unit on the path with a holder. Users come in id order, each once per answer."""

    def __init__(self, db: Session, paths: Iterable[str], roles: Iterable[str], *, on: date | None = None) -> None:
        """`on` (a local date): someone away that day (`StaffCover`) is answered by their cover instead."""
        self._at: dict[int, list[tuple[str, User]]] = {}
        self._kind: dict[int, str] = {}
        unit_ids, wanted = {unit_id for path in paths for unit_id in path_ids(path)}, set(roles)
        if not unit_ids or not wanted:
            return
        stmt = (
            select(RoleAssignment.unit_id, OrgUnit.kind, RoleAssignment.role, User)
            .join(User, User.id == RoleAssignment.user_id)
            .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
            .where(RoleAssignment.unit_id.in_(unit_ids), RoleAssignment.role.in_(wanted), User.active.is_(True))
            .order_by(User.id)
        )
        for unit_id, kind, role, user in db.execute(stmt):
            self._kind[unit_id] = kind
            self._at.setdefault(unit_id, []).append((role, user))
        if on is not None:
            held = [user for pairs in self._at.values() for _, user in pairs]
            covers = covers_on(db, [user.id for user in held], on)
            if covers:
                self._at = {
                    unit_id: [(role, covers.get(user.id, user)) for role, user in pairs] for unit_id, pairs in self._at.items()
                }

    def of(
        self, path: str, roles: Iterable[str], *, at_kind: UnitKind | None = None, above: bool = False, nearest: bool = True
    ) -> list[User]:
        """Holders of `roles` at the unit of `path` or the units above it (see `holders`); `path` and `roles`
        must be among those loaded."""
        wanted, levels = set(roles), path_ids(path)
        if above and len(levels) > 1:
            levels = levels[:-1]
        found: dict[int, User] = {}
        for unit_id in reversed(levels):
            if at_kind is not None and self._kind.get(unit_id) != at_kind:
                continue
            for role, user in self._at.get(unit_id, []):
                if role in wanted:
                    found.setdefault(user.id, user)
            if found and nearest:
                break
        return list(found.values())


def holds_over(db: Session, user_id: int, roles: Iterable[str], path: str) -> bool:
    """Whether the user holds one of `roles` at the unit of `path` or a unit above it (the role is
    checked at the unit where it is held, not anywhere)."""
    ids = path_ids(path)
    stmt = select(RoleAssignment.id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.role.in_(list(roles)), RoleAssignment.unit_id.in_(ids)
    )
    return db.execute(stmt.limit(1)).first() is not None


def covers_on(db: Session, user_ids: Sequence[int], on: date) -> dict[int, User]:
    """Who stands in on `on` for each of `user_ids` that is away that day (an active cover only)."""
    if not user_ids:
        return {}
    stmt = (
        select(StaffCover.user_id, User)
        .join(User, User.id == StaffCover.cover_user_id)
        .where(StaffCover.user_id.in_(set(user_ids)), StaffCover.starts_on <= on, StaffCover.ends_on >= on, User.active.is_(True))
        .order_by(StaffCover.id)
    )
    return {row[0]: row[1] for row in db.execute(stmt)}


def holders(
    db: Session,
    path: str,
    roles: Iterable[str],
    *,
    at_kind: UnitKind | None = None,
    above: bool = False,
    nearest: bool = True,
    on: date | None = None,
) -> list[User]:
    """Active holders of any of `roles` at the nearest unit with one, from the unit of `path` up the grid.

    `at_kind` looks only at the ancestor of that kind (a school-wide role: `UnitKind.SCHOOL`); `above`
    starts from the parent (at the school, the school itself); `nearest=False` gives the holders at every
    level instead, nearest level first. One query; for many units at once, load a `Holders`."""
    roles = list(roles)
    return Holders(db, [path], roles, on=on).of(path, roles, at_kind=at_kind, above=above, nearest=nearest)


def holders_at_root(db: Session, path: str, roles: Iterable[str]) -> list[User]:
    """Active holders of `roles` at the root unit (the school) of `path`."""
    return holders(db, path, roles, at_kind=UnitKind.SCHOOL)
