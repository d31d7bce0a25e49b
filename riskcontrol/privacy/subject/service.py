"""Use cases of a student's rights: who may act on them, and correction requests recorded and decided."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Conflict, InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, require_role
from riskcontrol.people import service as people
from riskcontrol.people.models import Student
from riskcontrol.people.rules import Role
from riskcontrol.privacy.subject.models import PENDING, CorrectionRequest
from riskcontrol.privacy.subject.schemas import CorrectionIn, DecisionIn

# The student-affairs office answers a student's requests about their data, for the students in its scope.
ANSWERS_REQUESTS = (Role.STUDENT_AFFAIRS,)
SUBJECT = "student"


def subject(db: Session, principal: Principal, student_id: int) -> Student:
    """The student a request is about: for student affairs only, and only where that role is held."""
    require_role(principal, *ANSWERS_REQUESTS)
    return people.get_student(db, principal.narrowed_to(*ANSWERS_REQUESTS), student_id)


def student_id_of(db: Session, student_no: str) -> int:
    """The id of the student with this student number (for commands, which name students by number)."""
    found = db.execute(select(Student.id).where(Student.student_no == student_no)).scalar_one_or_none()
    if found is None:
        raise NotFound(phrase("refusal.people.no_student_no", student_no=student_no), field="student_no")
    return found


def record_correction(db: Session, clock: Clock, principal: Principal, student_id: int, data: CorrectionIn) -> CorrectionRequest:
    """Record a request to correct something held about the student (audited); it waits for a decision."""
    student = subject(db, principal, student_id)
    now = clock.now()
    received_at = data.received_at or now
    if received_at > now:
        raise InvalidInput(phrase("refusal.correction.received_future"), field="received_at")
    request = CorrectionRequest(
        student_id=student.id,
        record=data.record.strip(),
        statement=data.statement.strip(),
        requested_by=data.requested_by.strip(),
        received_at=received_at,
        recorded_at=now,
        recorded_by=principal.user_id,
        status=PENDING,
    )
    db.add(request)
    db.flush()
    _audit(db, clock, principal, student, "student.correction.recorded", correction_id=request.id, record=request.record)
    return request


def decide_correction(
    db: Session, clock: Clock, principal: Principal, student_id: int, correction_id: int, data: DecisionIn
) -> CorrectionRequest:
    """Accept or refuse a pending correction request, with the reason (audited); a decision is final."""
    student = subject(db, principal, student_id)
    request = db.get(CorrectionRequest, correction_id, with_for_update=True)
    if request is None or request.student_id != student.id:
        raise NotFound(phrase("refusal.correction.not_found"), field="correction_id")
    if request.status != PENDING:
        refusal = phrase("refusal.correction.decided", status=phrase(f"refusal.correction.{request.status}"))
        raise Conflict(refusal, field="correction_id")
    request.status, request.decision_reason = data.decision, data.reason.strip()
    request.decided_at, request.decided_by = clock.now(), principal.user_id
    _audit(db, clock, principal, student, "student.correction.decided", correction_id=request.id, decision=data.decision)
    return request


def corrections(db: Session, student_id: int) -> Sequence[CorrectionRequest]:
    """Every correction request about the student, oldest first (the caller has checked who asks)."""
    stmt = select(CorrectionRequest).where(CorrectionRequest.student_id == student_id).order_by(CorrectionRequest.id)
    return db.execute(stmt).scalars().all()


def _audit(db: Session, clock: Clock, principal: Principal, student: Student, action: str, **detail: object) -> None:
    audit.record_by(db, clock, principal, action, SUBJECT, student.id, {"student_no": student.student_no, **detail})
