"""Everything held about one student, gathered from every domain's tables (PIPL Art. 45 access and copy).

Each section names the table it reads; a test checks that every table with a student column has one,
so a table added later cannot be left out of the export unnoticed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any, Final

from sqlalchemy import Select, inspect, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base
from riskcontrol.core.security import Principal
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentProposal
from riskcontrol.observations.models import Observation
from riskcontrol.people.concern_models import KeyConcern, TalkRecord
from riskcontrol.people.factor_models import StudentFactor
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User
from riskcontrol.privacy.subject import service
from riskcontrol.privacy.subject.models import CorrectionRequest
from riskcontrol.reviews.models import RecoveryItem
from riskcontrol.reviews.recovery import READS_NOTES

FORMAT: Final = "riskcontrol.student-export/1"
Row = dict[str, Any]


@dataclass
class Found:
    """The student, who asks, and the rows found so far (later sections follow links from earlier ones)."""

    student: Student
    reads_clinical: bool
    rows: dict[str, list[Any]] = field(default_factory=dict)

    def values(self, key: str, attribute: str = "id") -> list[Any]:
        return sorted({v for row in self.rows.get(key, []) if (v := getattr(row, attribute)) is not None})


@dataclass(frozen=True)
class Section:
    """One kind of record: the table it reads, which of its rows concern the student, what is left out."""

    key: str
    model: type[Base]
    query: Callable[[Found], Select[Any]]
    # Columns never exported: secrets, and frozen copies of rules that say nothing about the student.
    omit: frozenset[str] = frozenset()
    # Replaces a row's columns by what the student may be shown of them.
    shape: Callable[[Found, Any, Row], Row] | None = None


def _observation(_found: Found, obs: Observation, row: Row) -> Row:
    # Photos are listed by name only: the export is a document, not an archive of the files.
    row["photo"] = PurePosixPath(obs.photo_path).name if obs.photo_path else None
    return row


def _recovery(found: Found, item: RecoveryItem, row: Row) -> Row:
    # Session notes are clinical: only the psychological centre reads them, and it exports them itself.
    if not found.reads_clinical:
        row["note"] = None
        row["note_withheld"] = bool(item.note)
    return row


def _escalations(found: Found) -> Select[Any]:
    about = [str(i) for i in found.values("observations")]
    linked = found.values("observations", "escalation_id")
    return select(Escalation).where(
        or_(Escalation.id.in_(linked), (Escalation.subject_type == "observation") & Escalation.subject_id.in_(about))
    )


SECTIONS: Final[tuple[Section, ...]] = (
    Section("guardians", Guardian, lambda f: select(Guardian).where(Guardian.student_id == f.student.id)),
    Section(
        "user_accounts",
        User,
        lambda f: select(User).where(User.student_id == f.student.id),
        omit=frozenset({"password_hash"}),
    ),
    Section(
        "role_assignments",
        RoleAssignment,
        lambda f: select(RoleAssignment).where(RoleAssignment.user_id.in_(f.values("user_accounts"))),
    ),
    Section(
        "observations",
        Observation,
        lambda f: select(Observation).where(Observation.student_id == f.student.id),
        omit=frozenset({"photo_path", "photo_type"}),
        shape=_observation,
    ),
    Section("escalations", Escalation, _escalations, omit=frozenset({"policy"})),
    Section("incident_people", IncidentPerson, lambda f: select(IncidentPerson).where(IncidentPerson.student_id == f.student.id)),
    # The incidents themselves, without their summary and timeline: those tell of everyone involved.
    Section(
        "incidents",
        Incident,
        lambda f: select(Incident).where(Incident.id.in_(f.values("incident_people", "incident_id"))),
        omit=frozenset({"playbook", "sop", "summary", "last_seq", "next_due_at", "drill_scale", "unit_path"}),
    ),
    Section(
        "incident_proposals",
        IncidentProposal,
        lambda f: select(IncidentProposal).where(IncidentProposal.student_id == f.student.id),
        omit=frozenset({"unit_path"}),
    ),
    Section("key_concerns", KeyConcern, lambda f: select(KeyConcern).where(KeyConcern.student_id == f.student.id)),
    Section("talk_records", TalkRecord, lambda f: select(TalkRecord).where(TalkRecord.student_id == f.student.id)),
    Section("risk_factors", StudentFactor, lambda f: select(StudentFactor).where(StudentFactor.student_id == f.student.id)),
    Section(
        "recovery_items",
        RecoveryItem,
        lambda f: select(RecoveryItem).where(RecoveryItem.person_id.in_(f.values("incident_people"))),
        omit=frozenset({"unit_path"}),
        shape=_recovery,
    ),
    # Who read the student's contacts (and everything else audited about them), when.
    Section(
        "audit",
        AuditLog,
        lambda f: select(AuditLog).where(AuditLog.subject_type == service.SUBJECT, AuditLog.subject_id == str(f.student.id)),
        omit=frozenset({"seq", "prev_hash", "hash"}),
    ),
    Section(
        "correction_requests",
        CorrectionRequest,
        lambda f: select(CorrectionRequest).where(CorrectionRequest.student_id == f.student.id),
    ),
)


def covered_tables() -> frozenset[str]:
    """The tables the export reads, besides the student's own row."""
    return frozenset(str(s.model.__tablename__) for s in SECTIONS) | {Student.__tablename__}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(section: Section, found: Found, obj: Any) -> Row:
    columns = inspect(type(obj)).column_attrs
    row = {c.key: _plain(getattr(obj, c.key)) for c in columns if c.key not in section.omit}
    return section.shape(found, obj, row) if section.shape is not None else row


def _unit_name(db: Session, unit_id: int | None) -> dict[str, str] | None:
    unit = db.get(OrgUnit, unit_id) if unit_id is not None else None
    return {"code": unit.code, "zh": unit.name_zh, "en": unit.name_en} if unit is not None else None


def _user_columns(model: type[Base]) -> list[str]:
    return [
        c.key
        for c in inspect(model).columns
        if any(fk.column.table.name == User.__tablename__ for fk in c.foreign_keys) and c.key != "id"
    ]


def gather(db: Session, principal: Principal, student: Student, *, now: datetime) -> dict[str, Any]:
    """The whole export as plain JSON values: the student, then one list of rows per section."""
    found = Found(student, reads_clinical=principal.has_role(*READS_NOTES))
    sections: dict[str, list[Row]] = {}
    staff: set[int] = set()
    for section in SECTIONS:
        model_id = inspect(section.model).primary_key[0]
        rows = list(db.execute(section.query(found).order_by(model_id)).scalars())
        found.rows[section.key] = rows
        sections[section.key] = [_row(section, found, obj) for obj in rows]
        staff.update(v for obj in rows for key in _user_columns(section.model) if (v := getattr(obj, key)) is not None)
    staff.update(r.actor_user_id for r in found.rows["audit"] if r.actor_user_id is not None)
    names = db.execute(select(User.id, User.name).where(User.id.in_(staff)).order_by(User.id)).all() if staff else []
    record = _row(Section("student", Student, lambda f: select(Student)), found, student)
    record["class"], record["dorm"] = _unit_name(db, student.class_id), _unit_name(db, student.dorm_id)
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "generated_by": principal.username,
        "student": record,
        "staff": [{"id": user_id, "name": name} for user_id, name in names],
        "sections": sections,
    }


def export(db: Session, clock: Clock, principal: Principal, student_id: int, *, fmt: str) -> dict[str, Any]:
    """Everything held about one student in the caller's scope (student affairs only); the export is audited."""
    student = service.subject(db, principal, student_id)
    data = gather(db, principal, student, now=clock.now())
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="student.export",
        subject_type=service.SUBJECT,
        subject_id=student.id,
        detail={"student_no": student.student_no, "format": fmt, "rows": {k: len(v) for k, v in data["sections"].items()}},
    )
    return data
