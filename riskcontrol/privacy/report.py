"""The privacy report: what personal data is held, by kind and age band, how much is past due, and the holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import Clock
from riskcontrol.escalation.models import Escalation
from riskcontrol.incidents.models import IncidentPerson
from riskcontrol.notify.models import Notification
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import AuthSession
from riskcontrol.privacy import retention
from riskcontrol.privacy.models import LegalHold, RetentionRun
from riskcontrol.privacy.rules import AGE_BANDS, CONTACT_READ_ACTIONS, Kind, RetentionPolicy, band_counts
from riskcontrol.privacy.service import open_holds


@dataclass(frozen=True)
class KindLine:
    kind: Kind
    keep_days: int
    held: int
    bands: dict[str, int]
    past_due: int


@dataclass(frozen=True)
class Report:
    at: datetime
    lines: list[KindLine]
    holds: list[LegalHold]
    last_run: RetentionRun | None


def _held(kind: Kind) -> tuple[Any, list[ColumnElement[bool]]]:
    """The timestamp a record's age is counted from, and which records of the kind still hold personal data."""
    if kind == Kind.OBSERVATION_NOTES:
        return Observation.filed_at, [(Observation.note.is_not(None)) | (Observation.photo_path.is_not(None))]
    if kind == Kind.RESOLVED_ESCALATIONS:
        return Escalation.started_at, [Escalation.title_zh != retention.ANONYMISED_ZH]
    if kind == Kind.INCIDENT_PEOPLE:
        return IncidentPerson.added_at, [IncidentPerson.name != retention.STAND_IN]
    if kind == Kind.CONTACT_READS:
        return AuditLog.at, [AuditLog.action.in_(CONTACT_READ_ACTIONS)]
    if kind == Kind.AUDIT:
        return AuditLog.at, [AuditLog.action.not_in(CONTACT_READ_ACTIONS)]
    if kind == Kind.NOTIFICATIONS:
        return Notification.created_at, [Notification.title_zh != retention.ANONYMISED_ZH]
    return AuthSession.created_at, []


def build(db: Session, clock: Clock, policy: RetentionPolicy) -> Report:
    """The report as of now."""
    now = clock.now()
    reads_due, audit_due = retention.audit_rows_due(db, policy, now)
    lines = []
    for kind in Kind:
        stamp, where = _held(kind)
        stmt = select(func.count()).select_from(stamp.table).where(*where)
        total = int(db.execute(stmt).scalar_one())
        younger = [int(db.execute(stmt.where(stamp >= now - below)).scalar_one()) for _, below in AGE_BANDS if below is not None]
        if kind == Kind.CONTACT_READS:
            past_due = reads_due
        elif kind == Kind.AUDIT:
            past_due = audit_due
        else:
            due = retention.due(kind, policy, now).subquery()
            past_due = int(db.execute(select(func.count()).select_from(due)).scalar_one())
        lines.append(KindLine(kind, policy.keep(kind).days, total, band_counts(total, younger), past_due))
    last = db.execute(
        select(RetentionRun).order_by(RetentionRun.ran_at.desc(), RetentionRun.id.desc()).limit(1)
    ).scalar_one_or_none()
    return Report(now, lines, open_holds(db), last)
