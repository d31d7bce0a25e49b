"""Opinion (舆情) items: grade and store once per client id, and hold a major item's first report to its deadline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from riskcontrol.core.events import Events
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, path_covers
from riskcontrol.escalation import service as escalation_service
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.notify import service as notify
from riskcontrol.observations import opinion_rules as rules
from riskcontrol.observations.opinion_models import OpinionReport
from riskcontrol.observations.opinion_schemas import OpinionReportIn

POLICY_FILE = "opinion.yaml"
FIRST_REPORT_DUE = "opinion.first_report_due"
SUBJECT = "opinion_report"
OPEN, REPORTED, CLOSED = "open", "reported", "closed"
MAY_FILE = frozenset({"opinion_officer", "counselor", "college_officer", "student_affairs"})
# A clock a few seconds ahead is drift, not a discovery from the future; more than this is refused.
CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True)
class OpinionConfig:
    """What opinion reports need from the deployment: the school's time zone and its SOP directory."""

    tz: ZoneInfo
    sop_dir: Path

    @classmethod
    def from_settings(cls, settings: Any) -> OpinionConfig:
        return cls(tz=settings.tz, sop_dir=settings.sop_dir)


@dataclass(frozen=True)
class MajorOpinionConfirmed:
    """The school has a major opinion item's first report (event): a person confirmed it, so the
    incidents domain opens an online-opinion incident."""

    report_id: int
    unit_id: int
    grade: str
    title: str
    by: Principal


@lru_cache(maxsize=8)
def _load(path: Path, stamp: int) -> rules.OpinionPolicy:
    return load_model(path, rules.OpinionPolicy)


def load_policy(sop_dir: Path) -> rules.OpinionPolicy:
    """`opinion.yaml` of `sop_dir`, validated; read again once edited (DataFileError names file, line, field)."""
    path = (sop_dir / POLICY_FILE).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1  # load_model then reports the unreadable file with its path
    return _load(path, stamp)


def _audit(db: Session, clock: Clock, by: Principal | None, action: str, report: OpinionReport, **detail: Any) -> None:
    who: dict[str, Any] = (
        {"actor_user_id": by.user_id, "actor": by.username} if by else {"actor_user_id": None, "actor": "system"}
    )
    audit.record(db, clock, **who, action=f"opinion.{action}", subject_type=SUBJECT, subject_id=report.id, detail=detail)


def _message(report: OpinionReport, kind: str, title: i18n.Phrase, body: i18n.Phrase, sms: i18n.Phrase) -> notify.Message:
    """A notice about `report`, every text from the catalogue."""
    data = {"opinion_report_id": report.id, "grade": report.grade}
    return notify.Message.worded(kind, title=title, body=body, sms=sms, data=data)


def _tell(db: Session, clock: Clock, events: Events, report: OpinionReport, to: rules.Audience, msg: notify.Message) -> list[int]:
    """Tell everyone `to` names above the report's unit; returns their user ids."""
    unit = db.get(OrgUnit, report.unit_id)
    assert unit is not None
    users = escalation_service.recipients(db, unit, to.grid_level, list(to.roles))
    for user in users:
        notify.notify(db, clock, events, user=user, channels=to.channels, message=msg, subject_type=SUBJECT, subject_id=report.id)
    return [user.id for user in users]


def _tell_first_report(
    db: Session, clock: Clock, events: Events, cfg: OpinionConfig, report: OpinionReport, policy: rules.OpinionPolicy
) -> None:
    assert report.first_report_due_at is not None
    now, grade = clock.now(), policy.grade(report.grade).label
    found, due = i18n.moment(report.discovered_at, cfg.tz, now), i18n.moment(report.first_report_due_at, cfg.tz, now)
    late = i18n.phrase("notice.opinion.first_report.late") if report.first_report_due_at < now else ""
    facts = {"grade": grade, "title": report.title, "found": found, "due": due, "late": late}
    message = _message(
        report,
        "opinion.first_report",
        i18n.phrase("notice.opinion.first_report.title", grade=grade, title=report.title),
        i18n.phrase("notice.opinion.first_report.body", found=found, summary=report.summary, due=due, late=late),
        i18n.phrase("notice.opinion.first_report.sms", **facts),
    )
    if not _tell(db, clock, events, report, policy.first_report.report_to, message):
        # Nobody holds the role at the school: those who would hear of a breach are told now instead.
        _tell(db, clock, events, report, policy.first_report.on_breach, message)


def _breach(db: Session, clock: Clock, events: Events, cfg: OpinionConfig, report: OpinionReport, to: rules.Audience) -> None:
    """Record that the first report missed its limit and how late it is now, and tell those who must know."""
    assert report.first_report_due_at is not None
    now = clock.now()
    late = max(0, int((now - report.first_report_due_at).total_seconds()))
    report.breached, report.breached_at, report.late_seconds = True, now, late
    minutes = late // 60
    facts = {
        "grade": load_policy(cfg.sop_dir).grade(report.grade).label,
        "title": report.title,
        "due": i18n.moment(report.first_report_due_at, cfg.tz, now),
        "late": (
            i18n.phrase("notice.opinion.breach.minutes_late", minutes=minutes)
            if minutes
            else i18n.phrase("notice.opinion.breach.limit_passed")
        ),
    }
    message = _message(
        report,
        "opinion.breach",
        i18n.phrase("notice.opinion.breach.title", title=report.title),
        i18n.phrase("notice.opinion.breach.body", **facts),
        i18n.phrase("notice.opinion.breach.sms", **facts),
    )
    told = _tell(db, clock, events, report, to, message)
    _audit(db, clock, None, "breach", report, due_at=report.first_report_due_at.isoformat(), late_seconds=late, told=told)


def _breach_audience(db: Session, report: OpinionReport, policy: rules.OpinionPolicy) -> rules.Audience:
    """Who hears of a breach: as frozen onto the pending deadline at filing, else as the file says now."""
    payload = db.execute(
        select(Deadline.payload).where(
            Deadline.kind == FIRST_REPORT_DUE,
            Deadline.subject_type == SUBJECT,
            Deadline.subject_id == str(report.id),
            Deadline.status == deadlines.PENDING,
        )
    ).scalar_one_or_none()
    return rules.Audience.model_validate(payload["on_breach"]) if payload else policy.first_report.on_breach


def _may_file(principal: Principal, unit: OrgUnit) -> bool:
    # Staff within the unit's subtree report what concerns it (a class counsellor about the college),
    # as do those above it; a neighbouring college does not.
    return any(
        role in MAY_FILE and (path_covers(path, unit.path) or path_covers(unit.path, path)) for role, path in principal.grants
    )


def find_by_client_id(db: Session, user_id: int, client_id: str) -> OpinionReport | None:
    stmt = select(OpinionReport).where(OpinionReport.filed_by == user_id, OpinionReport.client_id == client_id)
    return db.execute(stmt).scalar_one_or_none()


def _checked_unit(db: Session, by: Principal, data: OpinionReportIn, now: datetime) -> OrgUnit:
    if not by.has_role(*MAY_FILE):
        raise Forbidden(phrase("refusal.opinion.file_forbidden"), field="unit_id")
    if data.discovered_at > now + CLOCK_SKEW:
        raise InvalidInput(phrase("refusal.opinion.future"), field="discovered_at")
    unit = db.get(OrgUnit, data.unit_id)
    if unit is None:
        raise NotFound(phrase("refusal.grid.no_unit", id=data.unit_id), field="unit_id")
    if not _may_file(by, unit):
        raise Forbidden(phrase("refusal.grid.outside_scope", id=unit.id), field="unit_id")
    if unit.kind not in (UnitKind.SCHOOL, UnitKind.COLLEGE):
        raise InvalidInput(phrase("refusal.opinion.unit_kind"), field="unit_id")
    for field in ("title", "summary"):
        if not getattr(data, field).strip():
            raise InvalidInput(phrase("refusal.opinion.blank", what=phrase(f"refusal.field.{field}")), field=field)
    return unit


def _at_school(db: Session, principal: Principal, report: OpinionReport, roles: Sequence[str]) -> bool:
    """Whether the caller holds one of `roles` at the school itself (a college opinion officer does not)."""
    unit = db.get(OrgUnit, report.unit_id)
    assert unit is not None
    school_path = f"/{grid_service.ancestor_ids(unit)[0]}/"
    return any(role in roles and path == school_path for role, path in principal.grants)


def file_report(
    db: Session, clock: Clock, events: Events, cfg: OpinionConfig, *, by: Principal, data: OpinionReportIn
) -> tuple[OpinionReport, bool]:
    """Grade and store an item; a major one tells the school at once and starts its first-report clock."""
    if (seen := find_by_client_id(db, by.user_id, data.client_id)) is not None:
        return seen, False  # a retried send: stored exactly once
    now, policy = clock.now(), load_policy(cfg.sop_dir)
    unit = _checked_unit(db, by, data, now)
    facts = rules.OpinionFacts(tuple(data.platforms), data.reposts, data.views, data.media, data.attention, tuple(data.topics))
    try:
        result = rules.grade(policy, facts)
        rules.pick(policy.trends, "trend", [data.trend])
    except rules.InvalidFact as exc:
        raise InvalidInput(exc.reason, field=exc.field) from exc
    report = OpinionReport(
        client_id=data.client_id,
        filed_by=by.user_id,
        unit_id=unit.id,
        title=data.title.strip(),
        platforms=list(dict.fromkeys(data.platforms)),
        url=data.url,
        summary=data.summary.strip(),
        facts={"reposts": data.reposts, "views": data.views, "media": data.media, "attention": data.attention}
        | {"topics": sorted(set(data.topics))},
        trend=data.trend,
        discovered_at=min(data.discovered_at, now),  # drift must not start the clock after the filing itself
        filed_at=now,
        grade=result.level,
        major=result.major,
        score=result.score,
        reasons=[{"code": r.code, "grade": r.grade, "zh": r.zh, "en": r.en} for r in result.reasons],
        status=OPEN,
        breached=False,
    )
    try:
        with db.begin_nested():
            db.add(report)
            db.flush()
    except IntegrityError:
        if (seen := find_by_client_id(db, by.user_id, data.client_id)) is None:
            raise
        return seen, False  # the same send raced itself; the first one stands
    _audit(
        db, clock, by, "file", report, grade=report.grade, major=report.major, unit_id=unit.id, discovered_at=report.discovered_at
    )
    if not report.major:
        return report, True
    report.first_report_due_at = due = rules.first_report_due(report.discovered_at, policy)
    if _at_school(db, by, report, policy.first_report.may_acknowledge):
        # Filed by one who acknowledges at the school: the first report arrives with the filing (late or not).
        acknowledge(db, clock, events, cfg, report=report, by=by)
        return report, True
    # Discovered longer ago than the limit: the row is due already and the next sweep fires it as a breach.
    on_breach = policy.first_report.on_breach.model_dump(mode="json")
    deadlines.schedule(
        db, clock, kind=FIRST_REPORT_DUE, subject_type=SUBJECT, subject_id=report.id, due_at=due, payload={"on_breach": on_breach}
    )
    _tell_first_report(db, clock, events, cfg, report, policy)
    return report, True


def acknowledge(db: Session, clock: Clock, events: Events, cfg: OpinionConfig, *, report: OpinionReport, by: Principal) -> None:
    """The school has the item: set reported_at and stop the first-report clock; a repeat changes nothing."""
    policy = load_policy(cfg.sop_dir)
    if not _at_school(db, by, report, policy.first_report.may_acknowledge):
        raise Forbidden(phrase("refusal.opinion.acknowledge_forbidden"), field="report_id")
    # Lock and re-read (the sweeper may be firing the deadline now); flushed first, so a filing in this
    # same transaction is not thrown away by the re-read.
    db.flush()
    db.refresh(report, with_for_update=True)
    if report.reported_at is not None:
        return
    now, due = clock.now(), report.first_report_due_at
    if report.major and not report.breached and due is not None and now > due:
        # The sweeper has not come round yet, but the limit has passed: late is late, whoever notices first.
        _breach(db, clock, events, cfg, report, _breach_audience(db, report, policy))
    report.status, report.reported_at, report.reported_by = REPORTED, now, by.user_id
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=report.id, kind=FIRST_REPORT_DUE)
    _audit(db, clock, by, "acknowledge", report, breached=report.breached, late_seconds=report.late_seconds)
    if report.major:
        events.emit(db, clock, MajorOpinionConfirmed(report.id, report.unit_id, report.grade, report.title, by))


def close(
    db: Session, clock: Clock, events: Events, cfg: OpinionConfig, *, report: OpinionReport, by: Principal, outcome: str
) -> None:
    """Close an item with how it was handled; closing is also the school's acknowledgement if none came yet."""
    if not outcome.strip():
        raise InvalidInput(phrase("refusal.opinion.outcome_missing"), field="outcome")
    acknowledge(db, clock, events, cfg, report=report, by=by)
    if report.status == CLOSED:
        raise Conflict(phrase("refusal.opinion.closed", id=report.id), field="report_id")
    report.status, report.closed_at, report.closed_by, report.outcome = CLOSED, clock.now(), by.user_id, outcome.strip()
    _audit(db, clock, by, "close", report)


def on_first_report_due(cfg: OpinionConfig, events: Events) -> deadlines.Handler:
    """Deadline handler: nobody at the school acknowledged in time, so the breach is recorded and told."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        report = db.get(OpinionReport, int(deadline.subject_id), with_for_update=True)
        if report is None or report.reported_at is not None or report.breached:
            return
        _breach(db, clock, events, cfg, report, rules.Audience.model_validate(deadline.payload["on_breach"]))

    return handle


def register(handlers: DeadlineHandlers, events: Events, cfg: OpinionConfig) -> None:
    """Wire opinion reports into the deadline sweeper; `events` carries what their notices emit."""
    handlers.register(FIRST_REPORT_DUE, on_first_report_due(cfg, events))
