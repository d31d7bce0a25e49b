"""Watching the key-concern register: remind the counsellor of a due talk, tell the college of a missed one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import DataFileError
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import DomainError
from riskcontrol.core.events import EventHandler, Events
from riskcontrol.core.security import Principal
from riskcontrol.core.shapes import Label
from riskcontrol.escalation import service as escalation_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.notify import service as notify
from riskcontrol.people import concern_rules as rules
from riskcontrol.people import concern_service as register_service
from riskcontrol.people.concern_models import ACTIVE, KeyConcern
from riskcontrol.people.models import Student, User

log = logging.getLogger(__name__)

REMINDER, OVERDUE = "key_concern.reminder", "key_concern.overdue"
# In-app only: a missed talk is a lapse in follow-up, not an emergency; a student in acute danger
# has an escalation of their own, with SMS and minutes, started by the observation.
CHANNELS = (notify.IN_APP,)


@dataclass(frozen=True)
class WatchConfig:
    """What the watch needs: the events (for notifications), the school's time zone, the SOP directory."""

    events: Events
    tz: ZoneInfo
    sop_dir: Path

    def register_config(self) -> rules.RegisterConfig:
        return rules.RegisterConfig(register_service.load_rules(self.sop_dir), self.tz)


def pending_for(db: Session, deadline: Deadline) -> KeyConcern | None:
    """The locked, active entry a talk deadline is about, or None when a talk, a new level or closing overtook it."""
    entry = db.get(KeyConcern, int(deadline.subject_id), with_for_update=True)
    if entry is None or entry.status != ACTIVE:
        return None
    return entry if entry.next_talk_due_at == datetime.fromisoformat(deadline.payload["due_at"]) else None


@dataclass(frozen=True)
class _Facts:
    """What a message about a due talk says: the student (with their number), the counsellor, the level, the due time."""

    student: Student
    counselor: User
    who: i18n.Phrase
    level: Label
    due: i18n.Moment


def _facts(db: Session, clock: Clock, cfg: WatchConfig, entry: KeyConcern) -> _Facts:
    student, counselor = db.get(Student, entry.student_id), db.get(User, entry.counselor_id)
    assert student is not None
    assert counselor is not None
    assert entry.next_talk_due_at is not None
    label = rules.cadence_of(cfg.register_config().rules, entry.level).label
    who = i18n.phrase("notice.student", name=student.name, number=student.student_no)
    return _Facts(student, counselor, who, label, i18n.moment(entry.next_talk_due_at, cfg.tz, clock.now()))


def _tell(db: Session, clock: Clock, cfg: WatchConfig, entry: KeyConcern, user: User, message: notify.Message) -> None:
    notify.notify(
        db, clock, cfg.events, user=user, channels=CHANNELS, message=message, subject_type="key_concern", subject_id=entry.id
    )


def on_talk_due(cfg: WatchConfig) -> deadlines.Handler:
    """Deadline handler: a talk fell due unrecorded, so remind the counsellor and start the grace before the college."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        if (entry := pending_for(db, deadline)) is None:
            return
        facts = _facts(db, clock, cfg, entry)
        message = notify.Message.worded(
            REMINDER,
            level=entry.level,
            title=i18n.phrase("notice.key_concern.reminder.title", who=facts.who),
            body=i18n.phrase("notice.key_concern.reminder.body", who=facts.who, level=facts.level, due=facts.due),
            sms=i18n.phrase("notice.key_concern.reminder.sms", name=facts.student.name, due=facts.due),
            data={"key_concern_id": entry.id, "student_id": facts.student.id, "due_at": deadline.payload["due_at"]},
        )
        _tell(db, clock, cfg, entry, facts.counselor, message)
        escalate_at = rules.escalate_at(
            entry.level, datetime.fromisoformat(deadline.payload["due_at"]), cfg.register_config().rules
        )
        deadlines.schedule(
            db,
            clock,
            kind=register_service.TALK_OVERDUE,
            subject_type=register_service.SUBJECT,
            subject_id=entry.id,
            due_at=escalate_at,
            payload={"due_at": deadline.payload["due_at"]},
        )

    return handle


def on_talk_overdue(cfg: WatchConfig) -> deadlines.Handler:
    """Deadline handler: still no talk after the grace, so tell the college's student-work officers and record it."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        if (entry := pending_for(db, deadline)) is None:
            return
        facts = _facts(db, clock, cfg, entry)
        student, counselor = facts.student, facts.counselor
        home = db.get(OrgUnit, student.class_id)
        assert home is not None
        # A college without a student-work officer on the system must not swallow the lapse.
        officers = escalation_service.recipients(db, home, UnitKind.COLLEGE, ["college_officer"]) or (
            escalation_service.recipients(db, home, UnitKind.SCHOOL, ["student_affairs"])
        )
        body = i18n.phrase(
            "notice.key_concern.overdue.body", counselor=counselor.name, who=facts.who, level=facts.level, due=facts.due
        )
        message = notify.Message.worded(
            OVERDUE,
            level=entry.level,
            title=i18n.phrase("notice.key_concern.overdue.title", who=facts.who),
            body=body,
            sms=i18n.phrase("notice.key_concern.overdue.sms", name=student.name, due=facts.due, counselor=counselor.name),
            data={"key_concern_id": entry.id, "student_id": student.id, "due_at": deadline.payload["due_at"]},
        )
        for officer in officers:
            _tell(db, clock, cfg, entry, officer, message)
        audit.record(
            db,
            clock,
            actor_user_id=None,
            actor="system",
            action="key_concern.talk.overdue",
            subject_type=register_service.SUBJECT,
            subject_id=entry.id,
            detail={
                "student_id": student.id,
                "counselor_id": counselor.id,
                "due_at": deadline.payload["due_at"],
                "told": [officer.id for officer in officers],
            },
        )

    return handle


@dataclass(frozen=True)
class StudentObservedAtRisk:
    """An observation about a student was triaged yellow or above (emitted by the observations domain)."""

    student_id: int
    level: str
    observation_id: int
    reasons: str
    by: Principal
    # The observation's ticked checklist items: the entry's reason codes.
    codes: tuple[str, ...] = ()


def on_observed_at_risk(cfg: WatchConfig) -> EventHandler:
    """Event handler: a counsellor who files yellow or above about their own student puts them on the register.

    A dorm head's report is not enough: a person who answers for the student reviews it and adds
    the student deliberately (being put on the register is a decision about a person, PIPL Art. 24).
    """

    def handle(db: Session, clock: Clock, event: StudentObservedAtRisk) -> None:
        student = db.get(Student, event.student_id)
        home = db.get(OrgUnit, student.class_id) if student is not None else None
        if (
            home is None
            or rules.rank(event.level) < rules.rank("yellow")
            or not event.by.narrowed_to("counselor").covers(home.path)
        ):
            return
        if register_service.active_level(db, event.student_id) is not None:
            return
        new = rules.NewEntry(
            student_id=event.student_id,
            level=event.level,
            reasons=event.reasons,
            counselor_id=event.by.user_id,
            reason_codes=event.codes,
        )
        try:
            with db.begin_nested():
                register_service.add(
                    db,
                    clock,
                    cfg.register_config(),
                    by=event.by,
                    new=new,
                    source="observation",
                    source_id=str(event.observation_id),
                )
        except (DomainError, DataFileError):
            # The filing and its escalation matter more than the register entry: log it and go on.
            log.warning(
                "observation %s: student %s not added to the register", event.observation_id, event.student_id, exc_info=True
            )

    return handle


def register(handlers: DeadlineHandlers, events: Events, *, tz: ZoneInfo, sop_dir: Path) -> None:
    """Wire the register's deadlines and its reaction to observations into the application."""
    cfg = WatchConfig(events=events, tz=tz, sop_dir=sop_dir)
    handlers.register(register_service.TALK_DUE, on_talk_due(cfg))
    handlers.register(register_service.TALK_OVERDUE, on_talk_overdue(cfg))
    events.subscribe(StudentObservedAtRisk, on_observed_at_risk(cfg))
