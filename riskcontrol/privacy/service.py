"""Legal holds: student affairs keep everything about a student or an incident past its retention period."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident
from riskcontrol.people.models import Student
from riskcontrol.people.rules import Role
from riskcontrol.privacy.models import LegalHold
from riskcontrol.privacy.retention import HOLD_SUBJECTS, STUDENT

# Who places and releases holds: the school's student affairs office, within the units it holds the role at.
MANAGES: Final = (Role.STUDENT_AFFAIRS,)


def _manager(principal: Principal) -> Principal:
    if not principal.has_role(*MANAGES):
        raise Forbidden(phrase("refusal.hold.forbidden"), field="subject_type")
    return principal.narrowed_to(*MANAGES)


def _subject_path(db: Session, subject_type: str, subject_id: int) -> str | None:
    """The grid path of the subject's unit (a student's class, an incident's unit), or None when absent."""
    if subject_type == STUDENT:
        stmt = select(OrgUnit.path).join(Student, Student.class_id == OrgUnit.id).where(Student.id == subject_id)
        return db.execute(stmt).scalar_one_or_none()
    return db.execute(select(Incident.unit_path).where(Incident.id == subject_id)).scalar_one_or_none()


def _require_subject(db: Session, by: Principal, subject_type: str, subject_id: int) -> None:
    """Refuse unless the subject exists inside the caller's student-affairs scope (404 either way)."""
    if subject_type not in HOLD_SUBJECTS:
        choices = listing((f"'{subject}'" for subject in HOLD_SUBJECTS), style="or")
        raise InvalidInput(phrase("refusal.hold.subject_type", choices=choices), field="subject_type")
    path = _subject_path(db, subject_type, subject_id)
    if path is None or not by.covers(path):
        model = Student if subject_type == STUDENT else Incident
        refusal = phrase("refusal.people.no_student" if subject_type == STUDENT else "refusal.incident.not_found", id=subject_id)
        raise missing_or_private(db, model, subject_id, message=refusal, field="subject_id")


def _audit(db: Session, clock: Clock, by: Principal, action: str, hold: LegalHold) -> None:
    detail = {"hold_id": hold.id, "reason": hold.reason, "release_reason": hold.release_reason}
    audit.record_by(db, clock, by, action, hold.subject_type, hold.subject_id, detail)


def place(db: Session, clock: Clock, by: Principal, *, subject_type: str, subject_id: int, reason: str) -> LegalHold:
    """Put a student or an incident under a legal hold: nothing about it is deleted or anonymised until released."""
    manager = _manager(by)
    if not reason.strip():
        raise InvalidInput(phrase("refusal.hold.place_reason"), field="reason")
    _require_subject(db, manager, subject_type, subject_id)
    hold = LegalHold(
        subject_type=subject_type, subject_id=subject_id, reason=reason.strip(), placed_by=by.user_id, placed_at=clock.now()
    )
    db.add(hold)
    db.flush()
    _audit(db, clock, by, "privacy.hold.place", hold)
    return hold


def release(db: Session, clock: Clock, by: Principal, *, hold_id: int, reason: str) -> LegalHold:
    """Release a hold; what it kept is then due again at the next retention run."""
    manager = _manager(by)
    if not reason.strip():
        raise InvalidInput(phrase("refusal.hold.release_reason"), field="reason")
    hold = db.execute(select(LegalHold).where(LegalHold.id == hold_id).with_for_update()).scalar_one_or_none()
    if hold is None:
        raise missing_or_private(db, LegalHold, hold_id, message=phrase("refusal.hold.not_found", id=hold_id), field="hold_id")
    _require_subject(db, manager, hold.subject_type, hold.subject_id)
    if hold.released_at is not None:
        raise Conflict(phrase("refusal.hold.released", id=hold_id), field="hold_id")
    hold.released_at, hold.released_by, hold.release_reason = clock.now(), by.user_id, reason.strip()
    _audit(db, clock, by, "privacy.hold.release", hold)
    return hold


def list_holds(db: Session, by: Principal, *, include_released: bool = False) -> list[LegalHold]:
    """The holds on subjects inside the caller's student-affairs scope, newest first."""
    manager = _manager(by)
    stmt = select(LegalHold).order_by(LegalHold.placed_at.desc(), LegalHold.id.desc())
    if not include_released:
        stmt = stmt.where(LegalHold.released_at.is_(None))
    return [
        hold
        for hold in db.execute(stmt).scalars()
        if (path := _subject_path(db, hold.subject_type, hold.subject_id)) is not None and manager.covers(path)
    ]


def open_holds(db: Session) -> list[LegalHold]:
    """Every open hold (the privacy report)."""
    stmt = select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.placed_at, LegalHold.id)
    return list(db.execute(stmt).scalars())
