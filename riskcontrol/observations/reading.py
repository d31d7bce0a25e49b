"""Observations as one reader may read them: the grading and words she may see, and a filer's own reports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation_service
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import rules
from riskcontrol.observations.models import Observation
from riskcontrol.observations.schemas import MyReportOut, ProgressOut
from riskcontrol.people import disclosure
from riskcontrol.people.disclosure_rules import Identity
from riskcontrol.people.models import Student, User
from riskcontrol.people.rules import SEES_RISK

_Class = aliased(OrgUnit, name="report_class")
_Dorm = aliased(OrgUnit, name="report_dorm")


@dataclass(frozen=True)
class Graded:
    """An observation's grading as one reader may see it."""

    level: str
    suggested_level: str
    score: int
    reasons: list[dict[str, str]]
    override_reason: str | None


def graded(o: Observation, principal: Principal, path: str, checklist: rules.Checklist, rubric: rules.TriageRubric) -> Graded:
    """The grading `principal` may read: as stored for staff who may see a student's known risk where the
    observation is (the role checked at the unit where it is held); for everyone else on the ticks alone,
    without what the register or a risk factor added, and without a reviewer's reason (which may name them)."""
    if principal.narrowed_to(*SEES_RISK).covers(path):
        return Graded(o.level, o.suggested_level, o.score, o.reasons, o.override_reason)
    result = rules.triage(checklist, rubric, o.checklist)
    reasons = [{"code": r.code, "level": r.level.value, "zh": r.zh, "en": r.en} for r in result.reasons]
    return Graded(result.level.value, result.level.value, result.score, reasons, None)


def _view(principal: Principal, path: str, person: disclosure.Person | None) -> disclosure.View:
    return disclosure.view(principal.grants, path, [person] if person is not None else [])


def note_for(principal: Principal, o: Observation, path: str, person: disclosure.Person | None) -> str | None:
    """The filer's words as this reader may read them: the filer reads her own; others by the disclosure
    policy (staff covering the unit, the student as the policy shows them to the reader; a classmate
    holding a grid role does not read what someone else wrote about a student)."""
    if o.note is None or o.filed_by == principal.user_id:
        return o.note
    return _view(principal, path, person).text(o.note) or None


def photo_shown(principal: Principal, o: Observation, path: str, person: disclosure.Person | None) -> bool:
    """Whether this reader sees the photo filed with the observation: whoever reads its words (a photo
    cannot be redacted, so only in full)."""
    if o.photo_path is None:
        return False
    return o.filed_by == principal.user_id or _view(principal, path, person).disclosure.texts


def count_my_open_reports(user_id: int) -> Select[int]:
    """How many of the user's own reports are not yet dealt with (waiting for acknowledgement, or acknowledged
    and not yet resolved), as a query."""
    still = (escalation_service.OPEN, escalation_service.ACKNOWLEDGED)
    return (
        select(func.count())
        .select_from(Observation)
        .join(Escalation, Escalation.id == Observation.escalation_id)
        .where(Observation.filed_by == user_id, Escalation.status.in_(still))
    )


def my_reports(
    db: Session, principal: Principal, checklist: rules.Checklist, rubric: rules.TriageRubric, *, limit: int, offset: int
) -> list[MyReportOut]:
    """The caller's own reports, newest first, each with its escalation's progress (one query for the page)."""
    stmt = (
        select(Observation, OrgUnit, Escalation, User.name, Student.name, _Class.path, _Dorm.path)
        .join(OrgUnit, OrgUnit.id == Observation.unit_id)
        .outerjoin(Escalation, Escalation.id == Observation.escalation_id)
        .outerjoin(User, User.id == Escalation.acknowledged_by)
        .outerjoin(Student, Student.id == Observation.student_id)
        .outerjoin(_Class, _Class.id == Student.class_id)
        .outerjoin(_Dorm, _Dorm.id == Student.dorm_id)
        .where(Observation.filed_by == principal.user_id)
        .order_by(Observation.filed_at.desc(), Observation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    reports = []
    for o, unit, esc, acknowledger, student_name, class_path, dorm_path in db.execute(stmt):
        person = None
        if student_name is not None:
            # Only the name is read here: the filer knows the student by name (she filed it), nothing more.
            person = disclosure.Person(Identity(name=student_name), tuple(p for p in (class_path, dorm_path) if p))
        name = disclosure.view(principal.grants, unit.path, [person], told=True).name(0) if person is not None else None
        progress = None
        if esc is not None:
            progress = ProgressOut(
                status=esc.status,
                acknowledged_at=esc.acknowledged_at,
                acknowledged_by_name=acknowledger,
                resolved_at=esc.resolved_at,
            )
        reports.append(
            MyReportOut(
                id=o.id,
                filed_at=o.filed_at,
                observed_at=o.observed_at,
                unit_id=unit.id,
                unit_name_zh=unit.name_zh,
                unit_name_en=unit.name_en,
                level=graded(o, principal, unit.path, checklist, rubric).level,
                checklist=list(o.checklist),
                note=note_for(principal, o, unit.path, person),
                student_name=name,
                progress=progress,
            )
        )
    return reports
