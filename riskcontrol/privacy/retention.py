"""The daily retention run: what is past its period is deleted or anonymised, in batches, held subjects kept.

One place decides what is due (`due`): the run and the privacy report both use it. Kept whatever their
age: anything about a student or an incident under an open legal hold, and incidents under review (the
review meeting not yet held, or improvement actions still open), with what they came from.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, String, and_, cast, delete, event, exists, func, or_, select, update
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, outbox
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.escalation.models import Escalation, EscalationEvent
from riskcontrol.escalation.service import CLOSED, RESOLVED
from riskcontrol.incidents.models import Incident, IncidentPerson
from riskcontrol.notify.models import Notification
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import AuthSession
from riskcontrol.privacy.models import LegalHold, RetentionRun
from riskcontrol.privacy.rules import CONTACT_READ_ACTIONS, Kind, RetentionPolicy, audit_prune_before
from riskcontrol.reviews import actions as review_actions
from riskcontrol.reviews import service as review_service
from riskcontrol.reviews.models import ImprovementAction, ReviewMeeting

log = logging.getLogger(__name__)

POLICY_FILE: Final = "retention.yaml"
DAILY: Final = "privacy.retention"
MORE: Final = "privacy.retention.more"  # a further round today, when a kind filled its batch
SUBJECT: Final = "retention"
STUDENT, INCIDENT = "student", "incident"
HOLD_SUBJECTS: Final = (STUDENT, INCIDENT)
# What an anonymised record says in place of what it said.
ANONYMISED_ZH: Final = "（已按保存期限匿名化）"
ANONYMISED_EN: Final = "(anonymised: retention period passed)"
STAND_IN: Final = "当事人（已匿名）"
# Review meetings still to be held keep their incident's people.
REVIEW_PENDING: Final = (review_service.DUE, review_service.SCHEDULED, review_service.OVERDUE)


@functools.lru_cache(maxsize=4)
def _load(path: Path, _mtime: float) -> RetentionPolicy:
    return load_model(path, RetentionPolicy)


def load_policy(sop_dir: Path) -> RetentionPolicy:
    """sop/retention.yaml, validated (re-read when the file changes); DataFileError names the spot."""
    path = sop_dir / POLICY_FILE
    return _load(path, path.stat().st_mtime)


@dataclass(frozen=True)
class RetentionConfig:
    sop_dir: Path
    tz: tzinfo

    def policy(self) -> RetentionPolicy:
        return load_policy(self.sop_dir)

    def job(self) -> deadlines.DailyJob:
        """The daily run: one pending row, due at the policy's local run time."""
        return deadlines.DailyJob(kind=DAILY, subject_type=SUBJECT, tz=self.tz, at=self.policy().run_at)


# --- what is kept whatever its age -------------------------------------------------------------


def held(subject_type: str) -> Select[int]:
    """Ids of the subjects of `subject_type` under an open legal hold."""
    stmt = select(LegalHold.subject_id).where(LegalHold.subject_type == subject_type, LegalHold.released_at.is_(None))
    return stmt.correlate(None)


def kept_incidents() -> Select[int]:
    """Incidents under an open hold or under review (meeting still to be held, or improvement actions open)."""
    reviewing = select(ReviewMeeting.incident_id).where(ReviewMeeting.status.in_(REVIEW_PENDING))
    improving = select(ImprovementAction.incident_id).where(ImprovementAction.status == review_actions.OPEN)
    stmt = select(Incident.id).where(or_(Incident.id.in_(held(INCIDENT)), Incident.id.in_(reviewing), Incident.id.in_(improving)))
    return stmt.correlate(None)  # a list of its own, also inside queries of incidents


def _student_free(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column.not_in(held(STUDENT)))


def _source_of_kept_incident(source: str, source_id: Any) -> ColumnElement[bool]:
    return exists().where(
        Incident.source == source, Incident.source_id == cast(source_id, String), Incident.id.in_(kept_incidents())
    )


def _observation_free() -> ColumnElement[bool]:
    """An observation (in the outer query) about no held student and behind no kept incident."""
    return and_(
        _student_free(Observation.student_id),
        ~_source_of_kept_incident("observation", Observation.id),
        or_(Observation.escalation_id.is_(None), ~_source_of_kept_incident("escalation", Observation.escalation_id)),
    )


# --- what is due -------------------------------------------------------------------------------


def due(kind: Kind, policy: RetentionPolicy, now: datetime) -> Select[int]:
    """Ids of the records of `kind` past their period and not kept (not for the audit kinds, cut as a prefix)."""
    cutoff = policy.cutoff(kind, now)
    if kind == Kind.OBSERVATION_NOTES:
        unresolved = select(Escalation.id).where(Escalation.status.not_in((RESOLVED, CLOSED)))
        return select(Observation.id).where(
            Observation.filed_at < cutoff,
            or_(Observation.note.is_not(None), Observation.photo_path.is_not(None)),
            or_(Observation.escalation_id.is_(None), Observation.escalation_id.not_in(unresolved)),
            _observation_free(),
        )
    if kind == Kind.RESOLVED_ESCALATIONS:
        about_kept = (
            select(Observation.id)
            .where(cast(Observation.id, String) == Escalation.subject_id, ~_observation_free())
            .correlate(Escalation)
        )
        return select(Escalation.id).where(
            Escalation.status.in_((RESOLVED, CLOSED)),
            Escalation.resolved_at < cutoff,
            Escalation.title_zh != ANONYMISED_ZH,
            _student_free(Escalation.student_id),
            ~_source_of_kept_incident("escalation", Escalation.id),
            ~and_(Escalation.subject_type == "observation", exists(about_kept)),
        )
    if kind == Kind.INCIDENT_PEOPLE:
        closed_before = select(Incident.id).where(Incident.is_open.is_(False), Incident.closed_at < cutoff)
        return select(IncidentPerson.id).where(
            IncidentPerson.incident_id.in_(closed_before),
            IncidentPerson.incident_id.not_in(kept_incidents()),
            _student_free(IncidentPerson.student_id),
            or_(IncidentPerson.name != STAND_IN, IncidentPerson.note != "", IncidentPerson.student_id.is_not(None)),
        )
    if kind == Kind.SESSIONS:
        return select(AuthSession.id).where(or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff))
    if kind == Kind.NOTIFICATIONS:
        about_held_student = select(cast(Escalation.id, String)).where(Escalation.student_id.in_(held(STUDENT)))
        about_kept_incident = select(cast(Incident.id, String)).where(Incident.id.in_(kept_incidents()))
        return select(Notification.id).where(
            Notification.created_at < cutoff,
            Notification.title_zh != ANONYMISED_ZH,
            ~and_(Notification.subject_type == "escalation", Notification.subject_id.in_(about_held_student)),
            ~and_(Notification.subject_type == "incident", Notification.subject_id.in_(about_kept_incident)),
        )
    raise ValueError(f"{kind} is cut from the audit chain, not selected row by row")


def audit_cut(db: Session, policy: RetentionPolicy, now: datetime) -> datetime:
    """The moment before which the audit chain may be cut now (see rules.audit_prune_before)."""
    read_cutoff = policy.cutoff(Kind.CONTACT_READS, now)
    oldest_read = db.execute(
        select(func.min(AuditLog.at)).where(AuditLog.action.in_(CONTACT_READ_ACTIONS), AuditLog.at >= read_cutoff)
    ).scalar_one()
    students = [str(i) for i in db.execute(held(STUDENT)).scalars()]
    incidents = [str(i) for i in db.execute(kept_incidents()).scalars()]
    about_held = or_(
        and_(AuditLog.subject_type == STUDENT, AuditLog.subject_id.in_(students)),
        and_(AuditLog.subject_type == INCIDENT, AuditLog.subject_id.in_(incidents)),
    )
    oldest_held = db.execute(select(func.min(AuditLog.at)).where(about_held)).scalar_one() if students or incidents else None
    return audit_prune_before(now, policy, oldest_kept_read=oldest_read, oldest_held=oldest_held)


def audit_rows_due(db: Session, policy: RetentionPolicy, now: datetime) -> tuple[int, int]:
    """(contact reads, other audit rows) older than the cut: what the next run removes."""
    before = audit_cut(db, policy, now)
    is_read = AuditLog.action.in_(CONTACT_READ_ACTIONS)
    stmt = select(func.count()).select_from(AuditLog).where(AuditLog.seq.is_not(None), AuditLog.at < before)
    reads = int(db.execute(stmt.where(is_read)).scalar_one())
    return reads, int(db.execute(stmt.where(~is_read)).scalar_one())


# --- the run -----------------------------------------------------------------------------------


def _ids(db: Session, stmt: Select[int], batch: int) -> list[int]:
    return list(db.execute(stmt.order_by(stmt.selected_columns[0]).limit(batch)).scalars())


def _remove_after_commit(db: Session, paths: list[str]) -> None:
    """Delete the photo files once the rows no longer naming them are committed (kept if it rolls back)."""
    if not paths:
        return

    def unlink(_session: Session) -> None:
        for name in paths:
            Path(name).unlink(missing_ok=True)

    event.listen(db, "after_commit", unlink, once=True)


def _clear_observations(db: Session, ids: list[int]) -> None:
    photos = db.execute(select(Observation.photo_path).where(Observation.id.in_(ids), Observation.photo_path.is_not(None)))
    _remove_after_commit(db, [p for p in photos.scalars() if p])
    db.execute(
        update(Observation).where(Observation.id.in_(ids)).values(note=None, photo_path=None, photo_type=None),
        execution_options={"synchronize_session": False},
    )


def _anonymise_escalations(db: Session, ids: list[int]) -> None:
    values = {
        "title_zh": ANONYMISED_ZH,
        "title_en": ANONYMISED_EN,
        "summary_zh": "",
        "summary_en": "",
        "outcome": None,
        "student_id": None,
    }
    db.execute(
        update(Escalation).where(Escalation.id.in_(ids)).values(**values), execution_options={"synchronize_session": False}
    )
    # Event details carry the outcome text; the events themselves (times, steps) stay for the figures.
    db.execute(
        update(EscalationEvent).where(EscalationEvent.escalation_id.in_(ids)).values(detail={}),
        execution_options={"synchronize_session": False},
    )


def _anonymise_people(db: Session, ids: list[int]) -> None:
    db.execute(
        update(IncidentPerson).where(IncidentPerson.id.in_(ids)).values(name=STAND_IN, note="", student_id=None),
        execution_options={"synchronize_session": False},
    )


def _anonymise_notifications(db: Session, ids: list[int]) -> None:
    """The inbox items' words (which name the student) and the texts sent for them; who was told, when, over
    what and whether it arrived stay for the figures. A text still waiting to go is left alone."""
    values = {"title_zh": ANONYMISED_ZH, "title_en": ANONYMISED_EN, "body_zh": "", "body_en": "", "data": {}}
    db.execute(
        update(Notification).where(Notification.id.in_(ids)).values(**values),
        execution_options={"synchronize_session": False},
    )
    db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.subject_type == "notification",
            OutboxMessage.subject_id.in_([str(i) for i in ids]),
            OutboxMessage.status != outbox.PENDING,
        )
        .values(payload={}),
        execution_options={"synchronize_session": False},
    )


def _delete_sessions(db: Session, ids: list[int]) -> None:
    db.execute(delete(AuthSession).where(AuthSession.id.in_(ids)), execution_options={"synchronize_session": False})


ROW_KINDS: Final[dict[Kind, Callable[[Session, list[int]], None]]] = {
    Kind.OBSERVATION_NOTES: _clear_observations,
    Kind.RESOLVED_ESCALATIONS: _anonymise_escalations,
    Kind.INCIDENT_PEOPLE: _anonymise_people,
    Kind.SESSIONS: _delete_sessions,
    Kind.NOTIFICATIONS: _anonymise_notifications,
}


@dataclass(frozen=True)
class RunResult:
    counts: dict[str, int]
    more: bool


def _prune_audit(db: Session, clock: Clock, policy: RetentionPolicy) -> dict[str, int]:
    before = audit_cut(db, policy, clock.now())
    reads = select(func.count()).select_from(AuditLog).where(AuditLog.action.in_(CONTACT_READ_ACTIONS))
    reads_before = int(db.execute(reads).scalar_one())
    try:
        with db.begin_nested():
            removed = audit.prune(db, clock, before=before)
    except audit.ChainBroken:
        # Evidence of tampering is never pruned; the other kinds still go, and `audit verify` says where.
        log.exception("retention: the audit chain was not pruned")
        return {Kind.CONTACT_READS.value: 0, Kind.AUDIT.value: 0}
    read_removed = reads_before - int(db.execute(reads).scalar_one())
    return {Kind.CONTACT_READS.value: read_removed, Kind.AUDIT.value: removed - read_removed}


def run(db: Session, clock: Clock, policy: RetentionPolicy, *, worker: str | None = None) -> RunResult:
    """One round: up to one batch of each kind that is due, the audit prefix cut; counts logged and recorded."""
    now = clock.now()
    counts: dict[str, int] = {}
    more = False
    for kind, act in ROW_KINDS.items():
        ids = _ids(db, due(kind, policy, now), policy.batch)
        if ids:
            act(db, ids)
        counts[kind.value] = len(ids)
        more = more or len(ids) == policy.batch
    counts |= _prune_audit(db, clock, policy)
    db.add(RetentionRun(ran_at=now, worker=worker, counts=counts, more=more))
    audit.record(
        db, clock, actor_user_id=None, actor="system", action="privacy.retention.run", subject_type=SUBJECT, detail=counts
    )
    log.info("retention run: %s%s", ", ".join(f"{k}={v}" for k, v in counts.items()), " (more to do)" if more else "")
    return RunResult(counts, more)


def on_run(cfg: RetentionConfig) -> deadlines.Handler:
    """Deadline handler of the daily run and of its follow-up rounds; the daily one schedules tomorrow's."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        result = run(db, clock, cfg.policy(), worker=deadline.fired_by)
        if result.more:
            deadlines.schedule(db, clock, kind=MORE, subject_type=SUBJECT, subject_id=deadline.subject_id, due_at=clock.now())
        if deadline.kind == DAILY:
            cfg.job().rescheduled(db, clock, deadline)

    return handle


def register(cfg: RetentionConfig, handlers: DeadlineHandlers) -> None:
    cfg.policy()  # a bad sop/retention.yaml stops the start, naming file, line and field
    handle = on_run(cfg)
    handlers.register(DAILY, handle)
    handlers.register(MORE, handle)
