"""Review meetings (复盘会): due after an incident of level Ⅰ–Ⅲ is closed, reminded before, escalated when not held.

When an incident is closed (the incidents domain emits `IncidentClosed` in the closing transaction), a
meeting is put on record with its due time from `sop/review_policy.yaml` (30 days by default) and deadline
rows: reminders to the incident's commander and the organisers (student affairs), then, at the due time,
the check that it was held. A meeting not held by then turns overdue once and the leaders and student
affairs are told; it may still be held, and is then recorded as held late. Reopening the incident
cancels the meeting and its rows; closing it again starts a new one. Every change is also written to the
incident's timeline, so the review report (later) is built from what was recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import Events
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.service import scope_clause
from riskcontrol.incidents import board, reading
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.moves import IncidentClosed, IncidentReopened
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.disclosure_rules import sees_texts
from riskcontrol.people.models import User
from riskcontrol.people.rules import STAFF_ROLES, Role
from riskcontrol.reviews import rules
from riskcontrol.reviews.models import ReviewMeeting
from riskcontrol.reviews.rules import ReviewPolicy
from riskcontrol.reviews.schemas import HeldIn, ScheduleIn

POLICY_FILE: Final = "review_policy.yaml"
REMIND: Final = "review.remind"
DUE_KIND: Final = "review.due"
SUBJECT: Final = "review_meeting"
DUE, SCHEDULED, HELD, OVERDUE, CANCELLED = "due", "scheduled", "held", "overdue", "cancelled"
# Who may schedule a meeting and record it: those who run incidents and the school's leaders.
RECORDERS: Final = (Role.STUDENT_AFFAIRS, Role.LEADER, Role.RESPONSE_TEAM, Role.ADMIN)


@functools.lru_cache(maxsize=4)
def _load(path: Path, _mtime: float) -> ReviewPolicy:
    return load_model(path, ReviewPolicy)


def load_policy(sop_dir: Path) -> ReviewPolicy:
    path = sop_dir / POLICY_FILE
    return _load(path, path.stat().st_mtime)


@dataclass(frozen=True)
class ReviewConfig:
    sop_dir: Path
    tz: tzinfo
    incidents: IncidentConfig
    events: Events = field(default_factory=Events)

    def policy(self) -> ReviewPolicy:
        return load_policy(self.sop_dir)


def _commander(db: Session, incident_id: int) -> list[User]:
    holder = reading.holders(db, incident_id).get("commander")
    user = db.get(User, holder) if holder is not None else None
    return [user] if user is not None and user.active else []


def tell(
    db: Session,
    clock: Clock,
    cfg: ReviewConfig,
    users: Iterable[User],
    *,
    kind: str,
    title: i18n.Phrase,
    body: i18n.Phrase,
    sms: i18n.Phrase,
    data: dict[str, Any],
    subject: tuple[str, int],
) -> list[int]:
    """Tell `users` in the app (each active one once) of a recovery-stage matter; the ids of those told."""
    signed = i18n.phrase("notice.sms.signed", text=sms)
    message = notify.Message.worded(kind, title=title, body=body, sms=signed, data=data, sms_limit=notify.SMS_LIMIT)
    return notify.notify_all(
        db,
        clock,
        cfg.events,
        users=users,
        channels=(notify.IN_APP,),
        message=message,
        subject_type=subject[0],
        subject_id=subject[1],
    )


def _tell(
    db: Session, clock: Clock, cfg: ReviewConfig, meeting: ReviewMeeting, users: Iterable[User], kind: str, body: i18n.Phrase
) -> list[int]:
    incident = db.get(Incident, meeting.incident_id)
    assert incident is not None
    title = reading.wall_title(db, incident)
    return tell(
        db,
        clock,
        cfg,
        users,
        kind=kind,
        title=notify.as_drill(i18n.phrase("notice.review.title", title=title), meeting.drill),
        body=body,
        sms=notify.as_drill(i18n.phrase("notice.review.sms", title=title, body=body), meeting.drill),
        data={"review_id": meeting.id, "incident_id": meeting.incident_id},
        subject=(SUBJECT, meeting.id),
    )


# --- reacting to incidents -----------------------------------------------------------------------


def on_incident_closed(cfg: ReviewConfig) -> Callable[[Session, Clock, IncidentClosed], None]:
    def handle(db: Session, clock: Clock, event: IncidentClosed) -> None:
        policy = cfg.policy()
        if not rules.needs_review(event.state, event.level, policy):
            return
        due_at = policy.due_at(event.level, event.closed_at)
        assert due_at is not None
        meeting = ReviewMeeting(
            incident_id=event.incident_id,
            unit_path=event.unit_path,
            level=event.level,
            drill=event.drill,
            closed_at=event.closed_at,
            due_at=due_at,
            status=DUE,
            place="",
            attendees=[],
            minutes="",
            conclusions=[],
            created_at=clock.now(),
        )
        db.add(meeting)
        db.flush()
        for at in policy.reminders(due_at, clock.now()):
            deadlines.schedule(db, clock, kind=REMIND, subject_type=SUBJECT, subject_id=meeting.id, due_at=at, stale_at=due_at)
        deadlines.schedule(db, clock, kind=DUE_KIND, subject_type=SUBJECT, subject_id=meeting.id, due_at=due_at)
        _timeline(db, clock, cfg, meeting, "review_due", None, due_at=due_at.isoformat())

    return handle


def on_incident_reopened(cfg: ReviewConfig) -> Callable[[Session, Clock, IncidentReopened], None]:
    def handle(db: Session, clock: Clock, event: IncidentReopened) -> None:
        stmt = select(ReviewMeeting).where(
            ReviewMeeting.incident_id == event.incident_id, ReviewMeeting.status.in_((DUE, SCHEDULED, OVERDUE))
        )
        for meeting in db.execute(stmt).scalars():
            meeting.status = CANCELLED
            deadlines.cancel(db, subject_type=SUBJECT, subject_id=meeting.id)

    return handle


def _timeline(
    db: Session, clock: Clock, cfg: ReviewConfig, meeting: ReviewMeeting, kind: str, actor: int | None, **data: object
) -> None:
    incident = db.get(Incident, meeting.incident_id)
    assert incident is not None
    board.record(db, clock, cfg.incidents, incident, kind, actor, review_id=meeting.id, **data)


# --- deadlines -----------------------------------------------------------------------------------


def on_remind(cfg: ReviewConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        meeting = db.get(ReviewMeeting, int(deadline.subject_id))
        if meeting is None or meeting.status not in (DUE, SCHEDULED):
            return
        now = clock.now()
        days = max(1, round((meeting.due_at - now) / timedelta(days=1)))
        when = (
            i18n.phrase(
                "notice.review.reminder.scheduled", at=i18n.moment(meeting.scheduled_for, cfg.tz, now), place=meeting.place
            )
            if meeting.scheduled_for
            else i18n.phrase("notice.review.reminder.unscheduled")
        )
        people = _commander(db, meeting.incident_id) + people_service.holders_at_root(
            db, meeting.unit_path, cfg.policy().organisers
        )
        _tell(
            db,
            clock,
            cfg,
            meeting,
            people,
            "review.reminder",
            i18n.phrase("notice.review.reminder.body", due=i18n.Day(meeting.due_at, cfg.tz), days=days, when=when),
        )

    return handle


def on_due(cfg: ReviewConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        meeting = db.get(ReviewMeeting, int(deadline.subject_id))
        if meeting is None or meeting.status not in (DUE, SCHEDULED):
            return
        meeting.status, meeting.escalated_at = OVERDUE, clock.now()
        people = people_service.holders_at_root(db, meeting.unit_path, cfg.policy().escalate_to) + _commander(
            db, meeting.incident_id
        )
        told = _tell(
            db,
            clock,
            cfg,
            meeting,
            people,
            "review.overdue",
            i18n.phrase("notice.review.overdue.body", due=i18n.Day(meeting.due_at, cfg.tz)),
        )
        _timeline(db, clock, cfg, meeting, "review_overdue", None, told=told)

    return handle


def register(cfg: ReviewConfig, handlers: DeadlineHandlers, events: Events) -> None:
    handlers.register(REMIND, on_remind(cfg))
    handlers.register(DUE_KIND, on_due(cfg))
    events.subscribe(IncidentClosed, on_incident_closed(cfg))
    events.subscribe(IncidentReopened, on_incident_reopened(cfg))


# --- reading and recording -----------------------------------------------------------------------


def count_to_hold(principal: Principal) -> Select[int]:
    """How many review meetings in the caller's staff scope are still to be held (due, scheduled or overdue),
    as a query: the same meetings `list_meetings` shows, as a staff role covering them is what `sees_texts` asks."""
    staff = principal.narrowed_to(*STAFF_ROLES)
    return (
        select(func.count())
        .select_from(ReviewMeeting)
        .where(scope_clause(staff, ReviewMeeting.unit_path), ReviewMeeting.status.in_((DUE, SCHEDULED, OVERDUE)))
    )


def list_meetings(db: Session, principal: Principal, *, status: str | None = None) -> list[ReviewMeeting]:
    stmt = select(ReviewMeeting).where(scope_clause(principal, ReviewMeeting.unit_path))
    if status is not None:
        stmt = stmt.where(ReviewMeeting.status == status)
    # A review is a crisis record: staff covering the incident read it, not a classmate's grid role.
    return [m for m in db.execute(stmt.order_by(ReviewMeeting.due_at)).scalars() if sees_texts(principal.grants, m.unit_path)]


def get(db: Session, principal: Principal, meeting_id: int) -> ReviewMeeting:
    meeting = db.get(ReviewMeeting, meeting_id)
    if meeting is None or not sees_texts(principal.grants, meeting.unit_path):
        refusal = phrase("refusal.review.not_found", id=meeting_id)
        raise missing_or_private(db, ReviewMeeting, meeting_id, message=refusal, field="review_id")
    return meeting


def _writable(db: Session, principal: Principal, meeting_id: int) -> ReviewMeeting:
    meeting = get(db, principal, meeting_id)
    if not principal.has_role(*RECORDERS):
        raise Forbidden(phrase("refusal.review.forbidden"))
    if meeting.status in (HELD, CANCELLED):
        raise Conflict(phrase("refusal.review.finished", status=phrase(f"reviews.status.{meeting.status}")), field="review_id")
    return meeting


def schedule(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, meeting_id: int, data: ScheduleIn
) -> ReviewMeeting:
    meeting = _writable(db, principal, meeting_id)
    if data.scheduled_for <= clock.now():
        raise InvalidInput(phrase("refusal.review.schedule_past"), field="scheduled_for")
    meeting.scheduled_for, meeting.place = data.scheduled_for, data.place
    if meeting.status == DUE:
        meeting.status = SCHEDULED
    _timeline(
        db,
        clock,
        cfg,
        meeting,
        "review_scheduled",
        principal.user_id,
        scheduled_for=data.scheduled_for.isoformat(),
        place=data.place,
    )
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="review.schedule",
        subject_type=SUBJECT,
        subject_id=meeting.id,
    )
    return meeting


def record_held(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, meeting_id: int, data: HeldIn
) -> ReviewMeeting:
    """The meeting was held: when, who came, the minutes and the conclusions; late if after its due time."""
    meeting = _writable(db, principal, meeting_id)
    if data.held_at > clock.now() + timedelta(minutes=5):
        raise InvalidInput(phrase("refusal.review.held_future"), field="held_at")
    if data.held_at < meeting.closed_at:
        raise InvalidInput(phrase("refusal.review.held_early"), field="held_at")
    attendees = []
    for i, person in enumerate(data.attendees):
        if person.user_id is not None:
            user = db.get(User, person.user_id)
            if user is None:
                raise InvalidInput(phrase("refusal.review.no_user", id=person.user_id), field=f"attendees.{i}.user_id")
            attendees.append({"user_id": user.id, "name": user.name, "role": person.role})
        elif person.name.strip():
            attendees.append({"user_id": None, "name": person.name.strip(), "role": person.role})
        else:
            raise InvalidInput(phrase("refusal.review.attendee"), field=f"attendees.{i}.name")
    conclusions = [c.strip() for c in data.conclusions if c.strip()]
    if not conclusions:
        raise InvalidInput(phrase("refusal.review.conclusions"), field="conclusions")
    meeting.status, meeting.held_at = HELD, data.held_at
    meeting.attendees, meeting.minutes, meeting.conclusions, meeting.recorded_by = (
        attendees,
        data.minutes,
        conclusions,
        principal.user_id,
    )
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=meeting.id)
    late = rules.days_late(meeting.due_at, data.held_at)
    _timeline(db, clock, cfg, meeting, "review_held", principal.user_id, held_at=data.held_at.isoformat(), days_late=late)
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="review.held",
        subject_type=SUBJECT,
        subject_id=meeting.id,
    )
    return meeting
