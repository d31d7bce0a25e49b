"""All-or-nothing, idempotent CSV import of grid units, students with guardians, and staff with their roles."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.csvimport import ErrorCollector, Row, RowError, flag_duplicates, read_rows, text_cell
from riskcontrol.core.db import Base
from riskcontrol.core.security import Principal, require_role
from riskcontrol.grid import rules as rules_grid
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people import rules
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User


class ImportKind(StrEnum):
    UNITS = "units"
    STUDENTS = "students"
    STAFF = "staff"


@dataclass
class ImportReport:
    """What an import did, or every problem that stopped it (and then nothing was written)."""

    kind: ImportKind
    errors: list[RowError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def tally(self, *, created: bool, changed: bool) -> None:
        """Count one row as created, updated or unchanged."""
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}

    def describe(self) -> str:
        """One line for people, e.g. 'units: 12 created, 0 updated, 3 unchanged'."""
        return f"{self.kind}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"


# Writes the validated rows; only ever called when validation found no problem.
Apply = Callable[[Session, ImportReport], None]

_CHUNK = 500  # keys per IN (...) query: well under every backend's bind-parameter limit
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s-]")


def normalize_mobile(text: str) -> str | None:
    """The 11-digit form of a mainland China mobile number (spaces, dashes, a +86 or 86 prefix allowed), else None."""
    digits = _SEPARATORS.sub("", text)
    for prefix in ("+86", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits.removeprefix(prefix)
            break
    return digits if _MOBILE.fullmatch(digits) else None


M = TypeVar("M", bound=Base)


def load_by_key(
    db: Session, model: type[M], key: InstrumentedAttribute[str], values: Iterable[str], *options: ORMOption
) -> dict[str, M]:
    """Existing rows whose `key` is among `values`, by that key: a few queries, not one per row."""
    wanted = sorted(set(values) - {""})
    found: dict[str, M] = {}
    for start in range(0, len(wanted), _CHUNK):
        stmt = select(model).where(key.in_(wanted[start : start + _CHUNK])).options(*options)
        found.update((getattr(obj, key.key), obj) for obj in db.execute(stmt).scalars())
    return found


def assign(obj: object, **values: Any) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def phone_cell(row: Row, column: str, errors: ErrorCollector) -> str | None:
    """The normalized mobile number in the cell, or None when it is empty or invalid (noting an error)."""
    value = row[column]
    if not value:
        return None
    phone = normalize_mobile(value)
    if phone is None:
        hint = " (Excel turned it into a number: format the column as text)" if "E+" in value.upper() else ""
        errors.add(row.line, column, f"{value!r} is not a mainland China mobile number (11 digits starting 13–19){hint}")
    return phone


def unit_cell(
    row: Row, column: str, kind: UnitKind, units: dict[str, OrgUnit], errors: ErrorCollector, *, required: bool
) -> OrgUnit | None:
    """The existing unit of `kind` named in the cell, or None (noting why when that is a problem)."""
    code = row[column]
    unit = units.get(code)
    if not code:
        if required:
            errors.add(row.line, column, "must not be empty")
    elif unit is None:
        errors.add(row.line, column, f"no unit with code {code!r}; import the units first")
    elif unit.kind != kind:
        errors.add(row.line, column, f"unit {code!r} is a {unit.kind}, not a {kind}")
        return None
    return unit


T = TypeVar("T")


def topological(nodes: dict[str, T], deps: Callable[[T], Iterable[str]]) -> tuple[list[str], list[list[str]]]:
    """Keys ordered so each follows the nodes it depends on, and every loop found (its first key repeated last)."""
    order: list[str] = []
    loops: list[list[str]] = []
    state: dict[str, bool] = {}  # False while on the walk, True once placed in the order
    for root in nodes:
        if root in state:
            continue
        state[root] = False
        stack = [(root, iter(deps(nodes[root])))]
        # Iterative, since a bad file may chain thousands of units and recursion would overflow.
        while stack:
            key, pending = stack[-1]
            following = next((d for d in pending if d in nodes), None)
            if following is None:
                stack.pop()
                state[key] = True
                order.append(key)
            elif following not in state:
                state[following] = False
                stack.append((following, iter(deps(nodes[following]))))
            elif not state[following]:
                trail = [k for k, _ in stack]
                loops.append([*trail[trail.index(following) :], following])
    return order, loops


UNIT_COLUMNS = ("code", "parent_code", "kind", "name_zh", "name_en")
_UNIT_KINDS = {k.value: k for k in UnitKind}


@dataclass(frozen=True)
class _UnitIn:
    line: int
    code: str
    kind: UnitKind | None
    parent_code: str
    building_code: str | None  # None when the file has no building_code column: leave buildings alone
    name_zh: str
    name_en: str


def _plan_units(db: Session, rows: list[Row], errors: ErrorCollector) -> Apply:
    first = flag_duplicates(rows, "code", errors)
    wanted: dict[str, _UnitIn] = {}
    for row in rows:
        code = text_cell(row, "code", errors, max_len=64)
        kind = _UNIT_KINDS.get(row["kind"].lower())
        if kind is None:
            errors.add(row.line, "kind", f"{row['kind']!r} is not one of {', '.join(_UNIT_KINDS)}")
        names = [text_cell(row, column, errors, max_len=200) for column in ("name_zh", "name_en")]
        if code and first[code] is row:
            wanted[code] = _UnitIn(row.line, code, kind, row["parent_code"], row.get("building_code"), *names)
    referenced = {c for u in wanted.values() for c in (u.code, u.parent_code, u.building_code or "")}
    existing = load_by_key(db, OrgUnit, OrgUnit.code, referenced)
    known: dict[str, UnitKind | None] = {code: u.kind for code, u in wanted.items()}
    known |= {code: UnitKind(unit.kind) for code, unit in existing.items()}
    new = {code: u for code, u in wanted.items() if code not in existing}
    looping: set[str] = set()
    for loop in topological(new, lambda u: [u.parent_code])[1]:
        looping.update(loop)
        for code in loop[:-1]:
            errors.add(new[code].line, "parent_code", f"the parent chain loops back to this unit: {' → '.join(loop)}")
    for u in wanted.values():
        if u.code in existing:
            _check_existing_unit(db, u, existing[u.code], errors)
        elif u.code not in looping:
            _check_parent(u, known, errors)
        _check_building(u, known, errors)

    def apply(db: Session, report: ImportReport) -> None:
        units: dict[str, OrgUnit] = dict(existing)
        for code in topological(new, lambda u: [u.parent_code, u.building_code or ""])[0]:
            u = new[code]
            assert u.kind is not None  # validation passed
            parent, building = units.get(u.parent_code), units.get(u.building_code or "")
            units[code] = grid_service.create_unit(
                db, code=code, kind=u.kind, name_zh=u.name_zh, name_en=u.name_en, parent=parent, building=building
            )
            report.tally(created=True, changed=True)
        for u in wanted.values():
            if u.code in existing:
                values: dict[str, Any] = {"name_zh": u.name_zh, "name_en": u.name_en}
                if u.building_code is not None:
                    values["building_id"] = units[u.building_code].id if u.building_code else None
                report.tally(created=False, changed=assign(existing[u.code], **values))

    return apply


def _check_existing_unit(db: Session, u: _UnitIn, unit: OrgUnit, errors: ErrorCollector) -> None:
    if u.kind is not None and u.kind != unit.kind:
        errors.add(u.line, "kind", f"unit {u.code!r} exists as a {unit.kind}; import does not change a unit's kind")
    parent = db.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    current = parent.code if parent is not None else ""
    if u.parent_code != current:
        where = f"under {current!r}" if current else "at the top (no parent)"
        errors.add(
            u.line,
            "parent_code",
            f"unit {u.code!r} exists {where}; import does not move units (a move would rewrite the paths of its whole subtree)",
        )


def _check_parent(u: _UnitIn, known: dict[str, UnitKind | None], errors: ErrorCollector) -> None:
    if u.parent_code and u.parent_code not in known:
        errors.add(u.line, "parent_code", f"no unit with code {u.parent_code!r} in this file or the database")
    elif u.kind is not None and (not u.parent_code or known[u.parent_code] is not None):
        problem = rules_grid.parent_problem(u.kind, known[u.parent_code] if u.parent_code else None)
        if problem:
            errors.add(u.line, "parent_code", problem)


def _check_building(u: _UnitIn, known: dict[str, UnitKind | None], errors: ErrorCollector) -> None:
    code = u.building_code
    if not code:
        return
    if u.kind is not None and u.kind != UnitKind.DORM:
        errors.add(u.line, "building_code", f"only a dorm is placed in a building, not a {u.kind}")
    elif code not in known:
        errors.add(u.line, "building_code", f"no unit with code {code!r} in this file or the database")
    elif known[code] not in (None, UnitKind.BUILDING):
        errors.add(u.line, "building_code", f"unit {code!r} is a {known[code]}, not a building")


STUDENT_COLUMNS = (
    "student_no",
    "name",
    "gender",
    "class_code",
    "dorm_code",
    "phone",
    "guardian_name",
    "guardian_relation",
    "guardian_phone",
)
GENDERS = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}


@dataclass(frozen=True)
class _StudentIn:
    student_no: str
    name: str
    gender: str
    class_id: int
    dorm_id: int | None
    phone: str | None
    guardian: tuple[str, str, str] | None


def _plan_students(db: Session, rows: list[Row], errors: ErrorCollector) -> Apply:
    flag_duplicates(rows, "student_no", errors)
    units = load_by_key(db, OrgUnit, OrgUnit.code, [c for row in rows for c in (row["class_code"], row["dorm_code"])])
    wanted: list[_StudentIn] = []
    for row in rows:
        before = len(errors)
        student_no = text_cell(row, "student_no", errors, max_len=32)
        name = text_cell(row, "name", errors, max_len=100)
        gender = GENDERS.get(row["gender"].lower())
        if gender is None:
            errors.add(row.line, "gender", f"{row['gender']!r} is not one of 男, 女, M, F, male, female")
        class_unit = unit_cell(row, "class_code", UnitKind.CLASS, units, errors, required=True)
        dorm = unit_cell(row, "dorm_code", UnitKind.DORM, units, errors, required=False)
        phone = phone_cell(row, "phone", errors)
        guardian = _guardian(row, errors)
        if len(errors) == before and gender is not None and class_unit is not None:
            wanted.append(_StudentIn(student_no, name, gender, class_unit.id, dorm.id if dorm else None, phone, guardian))

    def apply(db: Session, report: ImportReport) -> None:
        keys = [s.student_no for s in wanted]
        existing = load_by_key(db, Student, Student.student_no, keys, selectinload(Student.guardians))
        for s in wanted:
            student = existing.get(s.student_no)
            created = student is None
            if student is None:
                student = Student(student_no=s.student_no)
                db.add(student)
            changed = assign(student, name=s.name, gender=s.gender, class_id=s.class_id, dorm_id=s.dorm_id, phone=s.phone)
            if s.guardian is not None:
                changed = _upsert_guardian(student, *s.guardian) or changed
            report.tally(created=created, changed=changed)

    return apply


def _guardian(row: Row, errors: ErrorCollector) -> tuple[str, str, str] | None:
    columns = ("guardian_name", "guardian_relation", "guardian_phone")
    if not any(row[c] for c in columns):
        return None
    for column in columns:
        if not row[column]:
            errors.add(row.line, column, "must not be empty when the other guardian columns are filled")
    name = text_cell(row, "guardian_name", errors, max_len=100, required=False)
    relation = text_cell(row, "guardian_relation", errors, max_len=40, required=False)
    phone = phone_cell(row, "guardian_phone", errors)
    return (name, relation, phone) if name and relation and phone else None


def _upsert_guardian(student: Student, name: str, relation: str, phone: str) -> bool:
    for guardian in student.guardians:
        if guardian.name == name:
            return assign(guardian, relation=relation, phone=phone)
    student.guardians.append(Guardian(name=name, relation=relation, phone=phone))
    return True


STAFF_COLUMNS = ("username", "name", "phone", "roles", "unit_code")
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class _StaffIn:
    username: str
    name: str
    phone: str | None
    held: frozenset[tuple[str, int]]


def _plan_staff(db: Session, rows: list[Row], errors: ErrorCollector) -> Apply:
    flag_duplicates(rows, "username", errors)
    units = load_by_key(db, OrgUnit, OrgUnit.code, [c for row in rows for c in _split(row["unit_code"])])
    wanted: list[_StaffIn] = []
    for row in rows:
        before = len(errors)
        username = row["username"]
        if not _USERNAME.fullmatch(username):
            errors.add(row.line, "username", "must be 1–64 characters, each a letter, digit, '_', '.' or '-'")
        name = text_cell(row, "name", errors, max_len=100)
        phone = phone_cell(row, "phone", errors)
        held = _held(row, units, errors)
        if len(errors) == before:
            wanted.append(_StaffIn(username, name, phone, held))

    def apply(db: Session, report: ImportReport) -> None:
        keys = [s.username for s in wanted]
        existing = load_by_key(db, User, User.username, keys, selectinload(User.assignments))
        for s in wanted:
            user = existing.get(s.username)
            created = user is None
            if user is None:
                # No password: the account cannot sign in until `riskcontrol user password` sets one.
                user = User(username=s.username, password_hash=None, active=True, failed_logins=0)
                db.add(user)
            changed = assign(user, name=s.name, phone=s.phone)
            changed = _set_assignments(user, s.held) or changed
            report.tally(created=created, changed=changed)

    return apply


def _split(cell: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in cell.split(";") if part.strip()))


def _held(row: Row, units: dict[str, OrgUnit], errors: ErrorCollector) -> frozenset[tuple[str, int]]:
    """The (role, unit id) pairs a staff row asks for: every role of the row at every unit of the row."""
    roles, unknown = rules.parse_roles(row["roles"].lower())
    if unknown:
        errors.add(row.line, "roles", f"unknown role(s) {', '.join(unknown)}; known: {', '.join(rules.Role)}")
    elif not roles:
        errors.add(row.line, "roles", "must name at least one role (separate several with ';')")
    codes = _split(row["unit_code"])
    if not codes:
        errors.add(row.line, "unit_code", "must name at least one unit (separate several with ';')")
    held: set[tuple[str, int]] = set()
    for code in codes:
        unit = units.get(code)
        if unit is None:
            errors.add(row.line, "unit_code", f"no unit with code {code!r}; import the units first")
            continue
        for role in roles:
            problem = rules.role_unit_problem(role, UnitKind(unit.kind))
            if problem:
                errors.add(row.line, "unit_code", f"unit {code!r}: {problem}")
            else:
                held.add((role.value, unit.id))
    return frozenset(held)


def _set_assignments(user: User, held: frozenset[tuple[str, int]]) -> bool:
    current = {(a.role, a.unit_id): a for a in user.assignments}
    for key, assignment in current.items():
        if key not in held:
            user.assignments.remove(assignment)
    for role, unit_id in sorted(held - current.keys()):
        user.assignments.append(RoleAssignment(role=role, unit_id=unit_id))
    return held != current.keys()


Plan = Callable[[Session, list[Row], ErrorCollector], Apply]
PLANS: dict[ImportKind, tuple[tuple[str, ...], tuple[str, ...], Plan]] = {
    ImportKind.UNITS: (UNIT_COLUMNS, ("building_code",), _plan_units),
    ImportKind.STUDENTS: (STUDENT_COLUMNS, (), _plan_students),
    ImportKind.STAFF: (STAFF_COLUMNS, (), _plan_staff),
}


def import_csv(db: Session, clock: Clock, *, kind: ImportKind, data: bytes, by: Principal | None) -> ImportReport:
    """Check every row of a CSV file, then write all of it when no row is bad, else write nothing."""
    if by is not None:
        require_role(by, *rules.MANAGES_DIRECTORY)
    columns, optional, plan = PLANS[kind]
    report = ImportReport(kind=kind)
    errors = ErrorCollector()
    rows = read_rows(data, required=columns, optional=optional, errors=errors)
    apply = plan(db, rows, errors) if not errors else None
    if errors or apply is None:
        report.errors = errors.by_line()
        return report
    apply(db, report)
    db.flush()
    if report.created or report.updated:
        record_import(db, clock, by, f"import.{kind}", kind.value, report.counts(), rows=len(rows), data=data)
    return report


def record_import(
    db: Session, clock: Clock, by: Principal | None, action: str, what: str, counts: dict[str, Any], *, rows: int, data: bytes
) -> None:
    """The audit entry of an import that changed something: who, what it did, and the file's hash."""
    audit.record(
        db,
        clock,
        actor_user_id=by.user_id if by else None,
        actor=by.username if by else "cli",
        action=action,
        subject_type="import",
        subject_id=what,
        detail={**counts, "rows": rows, "sha256": hashlib.sha256(data).hexdigest()},
    )
