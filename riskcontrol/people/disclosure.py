"""The disclosure policy's facts from the database: who a person is (`Identity`), where they live and
study, and which roles a reader holds where. The decisions are in `disclosure_rules`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.disclosure_rules import Disclosure, Identity, Redactor, disclose, redactor
from riskcontrol.people.models import Guardian, RoleAssignment, Student

_Class = aliased(OrgUnit, name="disclosed_class")
_Dorm = aliased(OrgUnit, name="disclosed_dorm")


@dataclass(frozen=True)
class Person:
    """A person involved in a record: who they are, and the paths of their class and dorm room."""

    identity: Identity
    homes: tuple[str, ...]


def people(db: Session, student_ids: Iterable[int | None]) -> dict[int, Person]:
    """The identities and homes of some students, by id (two queries, whatever their number)."""
    wanted = {i for i in student_ids if i is not None}
    if not wanted:
        return {}
    stmt = (
        select(Student, _Class.path, _Dorm.path)
        .join(_Class, _Class.id == Student.class_id)
        .outerjoin(_Dorm, _Dorm.id == Student.dorm_id)
        .where(Student.id.in_(wanted))
    )
    guardians: dict[int, list[Guardian]] = {}
    for guardian in db.execute(select(Guardian).where(Guardian.student_id.in_(wanted))).scalars():
        guardians.setdefault(guardian.student_id, []).append(guardian)
    found = {}
    for student, class_path, dorm_path in db.execute(stmt):
        theirs = guardians.get(student.id, [])
        found[student.id] = Person(
            Identity(
                name=student.name,
                student_no=student.student_no,
                phones=tuple(p for p in [student.phone, *(g.phone for g in theirs)] if p),
                guardian_names=tuple(g.name for g in theirs),
            ),
            tuple(p for p in (class_path, dorm_path) if p),
        )
    return found


def named(name: str, person: Person | None, fallback_home: str) -> Person:
    """A person as a record names them: their student record when linked (the name written on the record
    counted as another name of theirs), else the name alone, living at the record's unit as far as it knows."""
    if person is None:
        return Person(Identity(name=name), (fallback_home,))
    if not name or name == person.identity.name:
        return person
    return Person(replace(person.identity, aliases=(*person.identity.aliases, name)), person.homes)


def grants_of(db: Session, user_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """Each user's (role, unit path) pairs: what the policy needs to decide for a recipient."""
    wanted = set(user_ids)
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in wanted}
    if not wanted:
        return out
    stmt = (
        select(RoleAssignment.user_id, RoleAssignment.role, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(RoleAssignment.user_id.in_(wanted))
    )
    for user_id, role, path in db.execute(stmt):
        out[user_id].append((role, path))
    return out


@dataclass(frozen=True)
class View:
    """One reader's view of one record: the decision, and a redactor applying it to the record's words."""

    disclosure: Disclosure
    redact: Redactor
    people: tuple[Person, ...]
    lang: str

    def name(self, index: int) -> str:
        return self.people[index].identity.shown_name(index, self.disclosure.of(index), self.lang)

    def text(self, text: str | None) -> str:
        """A text of the record as this reader may read it: redacted, or withheld (empty)."""
        return self.redact(text) if self.disclosure.texts else ""

    def title(self, text: str | None) -> str:
        """A record's title or label: always shown, with the people redacted."""
        return self.redact(text)


def view(
    grants: Iterable[tuple[str, str]],
    unit_path: str,
    involved: Sequence[Person],
    *,
    commands: bool = False,
    told: bool = False,
    sms: bool = False,
    lang: str = "zh",
) -> View:
    """A reader's (`grants`) view of a record at `unit_path` about `involved`."""
    decided = disclose(grants, unit_path, [p.homes for p in involved], commands=commands, told=told, sms=sms)
    return View(decided, redactor([p.identity for p in involved], decided, lang), tuple(involved), lang)
