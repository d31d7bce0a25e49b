"""Escalations: tell a grid level, wait for an acknowledgement, climb when nobody answers in time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, HiddenOutOfScope, InvalidInput, NotFound
from riskcontrol.core.events import EventHandler, Events
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.core.workdays import WEEKDAYS, WorkCalendar
from riskcontrol.escalation import rules
from riskcontrol.escalation.models import Escalation, EscalationEvent, EscalationRecipient
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.notify import service as notify
from riskcontrol.notify.models import Notification
from riskcontrol.people import disclosure
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User

BEGIN, STEP_DUE, REPEAT = "escalation.begin", "escalation.step_due", "escalation.repeat"
NIGHT_RUNG = "escalation.night_rung"
# The deadlines of the climb itself, which an acknowledgement stops.
CLIMB = (STEP_DUE, REPEAT)
OPEN, ACKNOWLEDGED, RESOLVED, CLOSED = "open", "acknowledged", "resolved", "closed"
# Besides those told, these roles may acknowledge anything in their scope (a superior taking it on).
MAY_ACKNOWLEDGE = frozenset({"counselor", "college_officer", "student_affairs", "psych_center", "response_team"})
LINK_SALT = "escalation-ack"
REMINDER_KIND = "escalation.reminder"
ESCALATION_KIND, LADDER_KIND = "escalation", "escalation.night_rung"


@dataclass(frozen=True)
class EscalationConfig:
    """What escalations need from the deployment: time zone, public URL for links, signing secret."""

    tz: ZoneInfo
    public_base_url: str
    secret: str
    events: Events
    sms_daily_cap: int | None = None
    # The school's working days (sop/calendar.yaml): "the next working day" skips holidays.
    calendar: WorkCalendar = WEEKDAYS


def _event(db: Session, clock: Clock, esc: Escalation, kind: str, **fields: Any) -> None:
    detail = fields.pop("detail", {})
    db.add(EscalationEvent(escalation_id=esc.id, at=clock.now(), kind=kind, detail=detail, **fields))


def ack_token(secret: str, escalation_id: int, user_id: int) -> str:
    """The signed token of a one-tap acknowledgement link for one person and one escalation."""
    return URLSafeTimedSerializer(secret, salt=LINK_SALT).dumps({"e": escalation_id, "u": user_id})


def read_ack_token(secret: str, token: str, max_age_seconds: int = 7 * 86400) -> tuple[int, int]:
    """(escalation id, user id) from a link token; a forged or stale one is refused."""
    try:
        data = URLSafeTimedSerializer(secret, salt=LINK_SALT).loads(token, max_age=max_age_seconds)
    except BadSignature as exc:
        raise Forbidden(phrase("refusal.escalation.link_invalid"), field="token") from exc
    return int(data["e"]), int(data["u"])


def recipients(db: Session, unit: OrgUnit, grid_level: UnitKind, roles: Sequence[str], *, on: date | None = None) -> list[User]:
    """Users holding one of `roles` at the ancestor of `unit` of kind `grid_level` (or the unit itself);
    on a day someone is away (`on`, local), their cover instead."""
    return people_service.holders(db, unit.path, roles, at_kind=grid_level, on=on)


def recipients_many(
    db: Session, wants: Sequence[tuple[OrgUnit, UnitKind, Sequence[str]]], *, on: date | None = None
) -> list[list[User]]:
    """`recipients` for many (unit, grid level, roles) at once, in one query."""
    held = people_service.Holders(db, [unit.path for unit, _, _ in wants], {r for _, _, roles in wants for r in roles}, on=on)
    return [held.of(unit.path, roles, at_kind=grid_level) for unit, grid_level, roles in wants]


def _today(clock: Clock, cfg: EscalationConfig) -> date:
    """The school's local date now: whose cover stands in is decided by it."""
    return clock.now().astimezone(cfg.tz).date()


@dataclass(frozen=True)
class Wording:
    """An escalation's title and report as one recipient may read them, in-app and by text message."""

    title: i18n.Both
    summary: i18n.Both | i18n.Phrase
    sms_title: i18n.Both


def wordings_many(db: Session, tellings: Sequence[tuple[Escalation, Sequence[User]]]) -> dict[tuple[int, int], Wording]:
    """Each recipient's wording of each escalation, by (escalation id, user id), by the one disclosure policy:
    a recipient was told, so reads at least the name; a text message never carries the student number or
    the report's words. Three queries for the whole batch (the recipients' roles, the units, the students)."""
    grants = disclosure.grants_of(db, [u.id for _, users in tellings for u in users])
    paths = _unit_paths(db, [esc.unit_id for esc, _ in tellings])
    found = disclosure.people(db, [esc.student_id for esc, _ in tellings])
    withheld = i18n.phrase("disclosure.withheld")
    out = {}
    for esc, users in tellings:
        path, involved = paths.get(esc.unit_id, ""), [found[esc.student_id]] if esc.student_id in found else []
        for user in users:
            app = disclosure.view(grants[user.id], path, involved, told=True)
            sms = disclosure.view(grants[user.id], path, involved, told=True, sms=True)
            summary = i18n.Both(app.text(esc.summary_zh), app.text(esc.summary_en))
            out[(esc.id, user.id)] = Wording(
                title=i18n.Both(app.title(esc.title_zh), app.title(esc.title_en)),
                summary=summary if summary.zh and summary.en else withheld,
                sms_title=i18n.Both(sms.title(esc.title_zh), sms.title(esc.title_en)),
            )
    return out


def wordings(db: Session, esc: Escalation, users: Sequence[User]) -> dict[int, Wording]:
    """`wordings_many` for one escalation, by user id."""
    return {user_id: words for (_, user_id), words in wordings_many(db, [(esc, users)]).items()}


def _unit_paths(db: Session, unit_ids: Sequence[int]) -> dict[int, str]:
    wanted = set(unit_ids)
    if not wanted:
        return {}
    return dict(db.execute(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(wanted))).all())


def _message(
    cfg: EscalationConfig,
    esc: Escalation,
    level: rules.LevelPolicy,
    step: rules.StepPolicy,
    user: User,
    due_at: datetime,
    reminder: bool,
    words: Wording,
    now: datetime,
) -> notify.Message:
    link = f"{cfg.public_base_url.rstrip('/')}/e/{ack_token(cfg.secret, esc.id, user.id)}"
    due = i18n.moment(due_at, cfg.tz, now)
    title, sms = ("reminder_title", "reminder_sms") if reminder else ("title", "sms")
    return notify.Message.worded(
        REMINDER_KIND if reminder else ESCALATION_KIND,
        level=esc.level,
        title=i18n.phrase(f"notice.escalation.{title}", level=level.label, title=words.title),
        body=i18n.phrase("notice.escalation.body", summary=words.summary, due=due, step=step.label),
        sms=i18n.phrase(f"notice.escalation.{sms}", level=level.label, title=words.sms_title, due=due, link=link),
        data={"escalation_id": esc.id, "step": esc.current_step, "due_at": due_at.isoformat(), "link": link},
    )


def _tell(
    db: Session,
    clock: Clock,
    cfg: EscalationConfig,
    tellings: Sequence[tuple[Escalation, Sequence[User], Sequence[str], datetime]],
    *,
    reminder: bool,
) -> None:
    """Tell each escalation's users over its channels that it waits for them until its due time; the
    inbox items of all are stored together, and each is recorded on its escalation's timeline."""
    notices, told = [], []
    words = wordings_many(db, [(esc, users) for esc, users, _, _ in tellings])
    for esc, users, channels, due_at in tellings:
        level = rules.from_snapshot(esc.policy)
        step = level.chain[esc.current_step]
        for user in users:
            message = _message(cfg, esc, level, step, user, due_at, reminder, words[(esc.id, user.id)], clock.now())
            notices.append(notify.Notice(user, channels, message, "escalation", esc.id, cfg.sms_daily_cap))
            told.append((esc, user, channels))

    def record(items: list[Notification]) -> None:
        for (esc, user, channels), item in zip(told, items, strict=True):
            for channel in channels:
                capped = channel == notify.SMS and bool(item.data.get("sms_capped"))
                _event(
                    db,
                    clock,
                    esc,
                    "sms_capped" if capped else "reminded" if reminder else "notified",
                    step=esc.current_step,
                    user_id=user.id,
                    notification_id=item.id,
                    channel=channel,
                )

    notify.notify_many(db, clock, cfg.events, notices, stored=record)


def _next_reminder_at(step: rules.StepPolicy, after: datetime, base: datetime, due_at: datetime) -> datetime | None:
    """The first reminder of a step told on schedule at `base` that falls after `after` and before its
    deadline, on the step's own schedule (base + k × repeat_every); None when no reminder is left."""
    if step.repeat_every is None:
        return None
    every = step.repeat_every
    passed = max(0, int((after - base) / every))
    at = base + every * (passed + 1)
    return at if at < due_at else None


def _schedule_reminder(db: Session, clock: Clock, esc: Escalation, index: int, at: datetime | None, due_at: datetime) -> None:
    """A reminder of step `index` at `at`; one still waiting when the step's window closes is dropped."""
    if at is not None:
        payload = {"step": index}
        deadlines.schedule(
            db, clock, kind=REPEAT, subject_type="escalation", subject_id=esc.id, due_at=at, payload=payload, stale_at=due_at
        )


def _tell_step(db: Session, clock: Clock, cfg: EscalationConfig, esc: Escalation, index: int, *, scheduled_at: datetime) -> None:
    """Tell one escalation's step `index` now (see `_tell_steps`)."""
    _tell_steps(db, clock, cfg, [(esc, index, scheduled_at)])


def _tell_steps(db: Session, clock: Clock, cfg: EscalationConfig, steps: Sequence[tuple[Escalation, int, datetime]]) -> None:
    """Tell each escalation's step `index` now, when the escalation's schedule says it is told at
    `scheduled_at`, and set its acknowledgement deadline (and reminders). All of them together: one
    query for the units, one for who holds the roles, the inbox items stored at once.

    The window counts from the schedule, not from whenever the telling happens: after an outage every
    step already due is told at once, each marked late by how much, and the school hears no later
    than the frozen policy promised. A step told early (a fallback when nobody could be reached) counts
    from now. The top of the chain has nowhere higher to go: when its scheduled window is already over
    (an outage, or a re-telling), it gets a whole window from now rather than being told again at once."""
    now = clock.now()
    while steps:
        planned = [_plan_step(db, clock, cfg, esc, index, scheduled_at) for esc, index, scheduled_at in steps]
        units = {u.id: u for u in db.execute(select(OrgUnit).where(OrgUnit.id.in_({p.esc.unit_id for p in planned}))).scalars()}
        wants = [[(units[p.esc.unit_id], grid_level, roles) for grid_level, roles in p.step.audiences()] for p in planned]
        flat = recipients_many(db, [want for audiences in wants for want in audiences], on=_today(clock, cfg))
        found: list[list[User]] = []
        at = 0
        for audiences in wants:
            merged = {user.id: user for group in flat[at : at + len(audiences)] for user in group}
            found.append(list(merged.values()))
            at += len(audiences)
        steps, tellings = [], []
        for plan, users in zip(planned, found, strict=True):
            esc, index = plan.esc, plan.index
            if not users:
                _event(db, clock, esc, "nobody_at_level", step=index, detail={"grid_level": plan.step.grid_level.value})
                if index + 1 < len(plan.level.chain):
                    steps.append((esc, index + 1, plan.base))
                    continue
            db.add_all([EscalationRecipient(escalation_id=esc.id, user_id=user.id, step=index, told_at=now) for user in users])
            tellings.append((esc, users, rules.channels_at(plan.level, plan.step.channels, now, cfg.tz), plan.due_at))
            payload = {"step": index}
            deadlines.schedule(
                db, clock, kind=STEP_DUE, subject_type="escalation", subject_id=esc.id, due_at=plan.due_at, payload=payload
            )
            _schedule_reminder(db, clock, esc, index, _next_reminder_at(plan.step, now, plan.base, plan.due_at), plan.due_at)
        _tell(db, clock, cfg, tellings, reminder=False)


@dataclass(frozen=True)
class _Planned:
    esc: Escalation
    level: rules.LevelPolicy
    step: rules.StepPolicy
    index: int
    base: datetime
    due_at: datetime


def _plan_step(db: Session, clock: Clock, cfg: EscalationConfig, esc: Escalation, index: int, scheduled_at: datetime) -> _Planned:
    """Move the escalation to step `index` with its window and lateness, and record the step."""
    level = rules.from_snapshot(esc.policy)
    step = level.chain[index]
    now = clock.now()
    base = min(now, scheduled_at)
    due_at = rules.ack_deadline(step, base, cfg.tz, cfg.calendar)
    if index == len(level.chain) - 1 and due_at <= now:
        base, due_at = now, rules.ack_deadline(step, now, cfg.tz, cfg.calendar)
    late_seconds = max(0, int((now - scheduled_at).total_seconds()))
    esc.current_step, esc.step_due_at, esc.step_late_seconds = index, due_at, late_seconds
    detail = {
        "grid_level": step.grid_level.value,
        "roles": [r.value for r in step.roles],
        "scheduled_at": scheduled_at.isoformat(),
        "due_at": due_at.isoformat(),
        "late_seconds": late_seconds,
    }
    _event(db, clock, esc, "step", step=index, detail=detail)
    return _Planned(esc, level, step, index, base, due_at)


def prepare(
    clock: Clock,
    *,
    policy: rules.EscalationPolicy,
    level: str,
    unit: OrgUnit,
    subject_type: str,
    subject_id: str | int,
    title: i18n.Phrase,
    summary: i18n.Phrase,
    grade_within: timedelta | None = None,
    cfg: EscalationConfig | None = None,
    student_id: int | None = None,
    reported_by: int | None = None,
) -> Escalation | None:
    """An escalation under the policy of `level`, frozen now, not yet stored; None for digest-only levels.
    With `grade_within`, the first step waits no longer than that (see `rules.with_first_window`). Its
    title and summary are kept in both languages, as the catalogue words them now."""
    if grade_within is not None:
        assert cfg is not None, "a calendar window needs the school's time zone and working days"
        level_policy = rules.warning_level(
            policy, level, grade_within=grade_within, started_at=clock.now(), tz=cfg.tz, calendar=cfg.calendar
        )
    else:
        level_policy = rules.level_policy(policy, level)
    if not level_policy.chain:
        return None
    return Escalation(
        subject_type=subject_type,
        subject_id=str(subject_id),
        level=level,
        unit_id=unit.id,
        student_id=student_id,
        reported_by=reported_by,
        title_zh=i18n.word(i18n.DEFAULT_LANGUAGE, title),
        title_en=i18n.word("en", title),
        summary_zh=i18n.word(i18n.DEFAULT_LANGUAGE, summary).strip(),
        summary_en=i18n.word("en", summary).strip(),
        status=OPEN,
        policy=rules.snapshot(level_policy),
        current_step=0,
        step_late_seconds=0,
        started_at=clock.now(),
        delivery_problem=False,
    )


def opening_rows(clock: Clock, esc: Escalation) -> tuple[EscalationEvent, Deadline]:
    """The rows that open an escalation: its "started" event and the deadline that has the worker tell
    the first step (normally within a second, and before the same round's dispatch sends anything).
    Both carry `esc.id`, which is unknown (None, "") until the escalation is stored."""
    detail = {"level": esc.level, "subject_type": esc.subject_type, "subject_id": esc.subject_id}
    started = EscalationEvent(escalation_id=esc.id, at=clock.now(), kind="started", detail=detail)
    known = "" if esc.id is None else str(esc.id)
    begin = deadlines.pending(clock, kind=BEGIN, subject_type="escalation", subject_id=known, due_at=clock.now())
    return started, begin


def store(db: Session, clock: Clock, esc: Escalation) -> Escalation:
    """Save a prepared escalation with its opening rows in the caller's transaction."""
    db.add(esc)
    db.flush()
    db.add_all(opening_rows(clock, esc))
    return esc


def on_begin(cfg: EscalationConfig) -> deadlines.BatchHandler:
    """Deadline handler: tell the first step of escalations that were just started, many at once
    (filings arrive faster than one by one could keep up with)."""

    def handle(db: Session, clock: Clock, rows: Sequence[Deadline]) -> None:
        ids = sorted({int(row.subject_id) for row in rows})
        found = db.execute(select(Escalation).where(Escalation.id.in_(ids)).order_by(Escalation.id).with_for_update())
        starting = [esc for esc in found.scalars() if esc.status == OPEN and esc.step_due_at is None]
        _tell_steps(db, clock, cfg, [(esc, 0, esc.started_at) for esc in starting])
        for esc in starting:
            cfg.events.emit(db, clock, Began(esc.id, esc.subject_type, esc.subject_id, esc.level, esc.unit_id))

    return handle


@dataclass(frozen=True)
class Began:
    """An escalation's first step was told (event, in the worker's transaction). Higher domains react
    here rather than in the filing request: a red observation's incident opens from this."""

    escalation_id: int
    subject_type: str
    subject_id: str
    level: str
    unit_id: int


def _locked(db: Session, escalation_id: int) -> Escalation:
    esc = db.get(Escalation, escalation_id, with_for_update=True)
    if esc is None:
        raise NotFound(phrase("refusal.escalation.not_found", id=escalation_id), field="escalation_id")
    return esc


def on_step_due(cfg: EscalationConfig) -> deadlines.Handler:
    """Deadline handler: a step let its window pass unacknowledged, so the next level up is told."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        esc = _locked(db, int(deadline.subject_id))
        step = int(deadline.payload["step"])
        if esc.status != OPEN or esc.current_step != step:
            return
        _event(db, clock, esc, "unacknowledged", step=step, detail={"due_at": deadline.due_at.isoformat(), "late": deadline.late})
        top = len(rules.from_snapshot(esc.policy).chain) - 1
        # At the top there is nowhere higher to go: tell the top again rather than let it stop.
        _tell_step(db, clock, cfg, esc, min(step + 1, top), scheduled_at=deadline.due_at)

    return handle


def on_repeat(cfg: EscalationConfig) -> deadlines.Handler:
    """Deadline handler: remind the current step while it stays silent. (A reminder still waiting when
    its step's window closes, after an outage, is dropped by the sweeper: the step above is told instead.)"""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        esc = _locked(db, int(deadline.subject_id))
        index = int(deadline.payload["step"])
        if esc.status != OPEN or esc.current_step != index or esc.step_due_at is None:
            return
        now = clock.now()
        level = rules.from_snapshot(esc.policy)
        step = level.chain[index]
        told = (
            db.execute(
                select(User)
                .join(EscalationRecipient, EscalationRecipient.user_id == User.id)
                .where(EscalationRecipient.escalation_id == esc.id, EscalationRecipient.step == index)
                .distinct()
            )
            .scalars()
            .all()
        )
        channels = rules.channels_at(level, step.repeat_channels or step.channels, now, cfg.tz)
        _tell(db, clock, cfg, [(esc, told, channels, esc.step_due_at)], reminder=True)
        due_at = esc.step_due_at
        _schedule_reminder(db, clock, esc, index, _next_reminder_at(step, now, deadline.due_at, due_at), due_at)

    return handle


def still_worth_sending(db: Session, clock: Clock, item: Notification) -> str | None:
    """Why a queued message about an escalation should not go out any more, or None: nobody needs a
    call to acknowledge what is already acknowledged, nor a reminder of a step the climb has left."""
    esc = db.get(Escalation, int(item.subject_id))
    if esc is None or item.kind not in (ESCALATION_KIND, REMINDER_KIND, LADDER_KIND):
        return None  # not a call to acknowledge (an incident to confirm, say)
    if item.kind == LADDER_KIND:
        # The night ladder stops when the student is found, not when someone acknowledged.
        return f"escalation {esc.status}" if esc.status in (RESOLVED, CLOSED) else None
    if esc.status != OPEN:
        return f"escalation {esc.status}"
    if item.kind == REMINDER_KIND and (
        item.data.get("step") != esc.current_step or (esc.step_due_at is not None and clock.now() >= esc.step_due_at)
    ):
        return "its step has passed"
    return None


def on_delivery_failed(cfg: EscalationConfig) -> EventHandler:
    """Event handler: a message about an escalation did not get through; flag it, and climb at once
    when nobody at the current step can still be reached by SMS."""

    def handle(db: Session, clock: Clock, event: notify.DeliveryFailed) -> None:
        if event.subject_type != "escalation":
            return
        esc = _locked(db, int(event.subject_id))
        esc.delivery_problem = True
        _event(
            db,
            clock,
            esc,
            "delivery_failed",
            step=esc.current_step,
            user_id=event.user_id,
            notification_id=event.notification_id,
            channel=event.channel,
            detail={"reason": event.reason, "final": event.final},
        )
        if esc.status != OPEN or event.channel != notify.SMS:
            return
        told = set(
            db.execute(
                select(EscalationRecipient.user_id).where(
                    EscalationRecipient.escalation_id == esc.id, EscalationRecipient.step == esc.current_step
                )
            ).scalars()
        )
        failed = set(
            db.execute(
                select(EscalationEvent.user_id).where(
                    EscalationEvent.escalation_id == esc.id,
                    EscalationEvent.step == esc.current_step,
                    EscalationEvent.kind == "delivery_failed",
                    EscalationEvent.channel == notify.SMS,
                )
            ).scalars()
        )
        level = rules.from_snapshot(esc.policy)
        if told <= failed and esc.current_step + 1 < len(level.chain):
            _event(db, clock, esc, "fallback", step=esc.current_step, detail={"reason": "no one at this step reachable by SMS"})
            deadlines.cancel(db, subject_type="escalation", subject_id=esc.id, kind=CLIMB)
            _tell_step(db, clock, cfg, esc, esc.current_step + 1, scheduled_at=clock.now())

    return handle


def acknowledge(
    db: Session, clock: Clock, *, escalation_id: int, user: User, principal: Principal | None, via: str
) -> Escalation:
    """Stop the climb: record who acknowledged, when and how; repeated acknowledgements change nothing."""
    esc = _locked(db, escalation_id)
    require_may_act(db, esc, user.id, principal)
    if esc.status != OPEN:
        if esc.acknowledged_at is not None:
            return esc
        refusal = phrase("refusal.escalation.not_open", id=escalation_id, status=phrase(f"escalation.status.{esc.status}"))
        raise Conflict(refusal, field="escalation_id")
    now = clock.now()
    esc.status, esc.acknowledged_at, esc.acknowledged_by, esc.acknowledged_via = ACKNOWLEDGED, now, user.id, via
    esc.held_by = user.id
    # The climb stops; the night ladder goes on until the student is found, and the incident the
    # report calls for still opens.
    deadlines.cancel(db, subject_type="escalation", subject_id=esc.id, kind=CLIMB)
    _event(db, clock, esc, "acknowledged", step=esc.current_step, user_id=user.id, channel=via)
    audit.record(
        db,
        clock,
        actor_user_id=user.id,
        actor=user.username,
        action="escalation.acknowledge",
        subject_type="escalation",
        subject_id=esc.id,
        detail={"via": via, "step": esc.current_step},
    )
    return esc


def require_may_act(db: Session, esc: Escalation, user_id: int, principal: Principal | None) -> None:
    """Refuse anyone but those told of the escalation, or a responsible officer above them (by the role held
    where it covers the escalation's unit): they acknowledge it, add notes and hand it over. Outside the
    caller's scope the escalation does not exist (404)."""
    if was_told(db, user_id, esc.id):
        return
    unit = db.get(OrgUnit, esc.unit_id)
    assert unit is not None
    if principal is not None and principal.narrowed_to(*MAY_ACKNOWLEDGE).covers(unit.path):
        return
    if principal is not None and not principal.covers(unit.path):
        raise HiddenOutOfScope(phrase("refusal.escalation.not_found", id=esc.id), field="escalation_id")
    raise Forbidden(phrase("refusal.escalation.not_told"), field="escalation_id")


def resolve(db: Session, clock: Clock, *, escalation_id: int, principal: Principal, outcome: str, close: bool) -> Escalation:
    """Record the outcome (resolved), or close a resolved escalation; also stops any climb still running."""
    esc = get(db, principal, escalation_id)
    esc = _locked(db, esc.id)
    if not principal.has_role(*MAY_ACKNOWLEDGE):
        raise Forbidden(phrase("refusal.escalation.resolve_forbidden"), field="escalation_id")
    if not outcome.strip():
        raise InvalidInput(phrase("refusal.escalation.outcome_missing"), field="outcome")
    target = CLOSED if close else RESOLVED
    if esc.status == CLOSED or (close and esc.status != RESOLVED):
        status = phrase(f"escalation.status.{esc.status}")
        raise Conflict(phrase("refusal.escalation.close_unresolved", id=escalation_id, status=status), field="escalation_id")
    now = clock.now()
    esc.status, esc.outcome = target, outcome.strip()
    if target == RESOLVED:
        esc.resolved_at, esc.resolved_by = now, principal.user_id
    deadlines.cancel(db, subject_type="escalation", subject_id=esc.id)
    _event(db, clock, esc, target, user_id=principal.user_id, detail={"outcome": esc.outcome})
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=f"escalation.{target}",
        subject_type="escalation",
        subject_id=esc.id,
    )
    return esc


def in_scope(principal: Principal) -> Select[Escalation]:
    return (
        select(Escalation)
        .join(OrgUnit, OrgUnit.id == Escalation.unit_id)
        .where(grid_service.scope_clause(principal, OrgUnit.path))
        .order_by(Escalation.started_at.desc())
    )


def get(db: Session, principal: Principal, escalation_id: int) -> Escalation:
    """One escalation within the caller's scope, or the person was told of it."""
    esc = db.get(Escalation, escalation_id)
    if esc is None:
        raise NotFound(phrase("refusal.escalation.not_found", id=escalation_id), field="escalation_id")
    unit = db.get(OrgUnit, esc.unit_id)
    if not was_told(db, principal.user_id, esc.id) and (unit is None or not principal.covers(unit.path)):
        raise HiddenOutOfScope(phrase("refusal.escalation.not_found", id=escalation_id), field="escalation_id")
    return esc


def was_told(db: Session, user_id: int, escalation_id: int) -> bool:
    """Whether this user was told of the escalation (to act on it)."""
    stmt = select(EscalationRecipient.id).where(
        EscalationRecipient.escalation_id == escalation_id, EscalationRecipient.user_id == user_id
    )
    return db.execute(stmt.limit(1)).first() is not None


def _about(db: Session, esc: Escalation) -> tuple[str, list[disclosure.Person]]:
    """Where the escalation is (its unit's path) and whom it is about."""
    unit = db.get(OrgUnit, esc.unit_id)
    found = disclosure.people(db, [esc.student_id])
    return (unit.path if unit else "", [found[esc.student_id]] if esc.student_id in found else [])


def reader_view(
    db: Session, principal: Principal, esc: Escalation, *, told: bool | None = None, lang: str = "zh"
) -> disclosure.View:
    """What the caller may see of an escalation's student and words, by the one disclosure policy
    (`told`: whether they were told of it, when known already; `lang`: of a stand-in's name)."""
    told = was_told(db, principal.user_id, esc.id) if told is None else told
    path, involved = _about(db, esc)
    return disclosure.view(principal.grants, path, involved, told=told, lang=lang)


def _waiting(user_id: int) -> ColumnElement[bool]:
    """SQL condition: an open escalation (nobody has acknowledged it yet) this user was told of."""
    told = select(EscalationRecipient.escalation_id).where(EscalationRecipient.user_id == user_id)
    return and_(Escalation.id.in_(told), Escalation.status == OPEN)


def waiting_for(db: Session, user_id: int) -> list[Escalation]:
    """Open escalations this user was told of, soonest deadline first."""
    stmt = select(Escalation).where(_waiting(user_id)).order_by(Escalation.step_due_at)
    return list(db.execute(stmt).scalars())


def count_waiting_for(user_id: int) -> Select[int]:
    """How many escalations wait for this user's acknowledgement (what their inbox lists), as a query."""
    return select(func.count()).select_from(Escalation).where(_waiting(user_id))


def latest_open_for(db: Session, user_id: int) -> Escalation | None:
    """The newest open escalation this user was told of (what an SMS reply of '1' acknowledges)."""
    told = select(EscalationRecipient.escalation_id).where(EscalationRecipient.user_id == user_id)
    stmt = select(Escalation).where(Escalation.id.in_(told), Escalation.status == OPEN).order_by(Escalation.started_at.desc())
    return db.execute(stmt.limit(1)).scalar_one_or_none()


def on_sms_reply(db: Session, clock: Clock, event: notify.SmsReplied) -> None:
    """Event handler: '1' by SMS acknowledges the newest open escalation the sender was told of."""
    if event.body.strip() not in {"1", "１"}:
        return
    esc = latest_open_for(db, event.user_id)
    user = db.get(User, event.user_id)
    if esc is not None and user is not None:
        acknowledge(db, clock, escalation_id=esc.id, user=user, principal=None, via="sms")


def timeline(db: Session, escalation_id: int) -> list[EscalationEvent]:
    return list(
        db.execute(
            select(EscalationEvent)
            .where(EscalationEvent.escalation_id == escalation_id)
            .order_by(EscalationEvent.at, EscalationEvent.id)
        ).scalars()
    )


def schedule_night_ladder(
    db: Session, clock: Clock, cfg: EscalationConfig, policy: rules.EscalationPolicy, esc: Escalation, ticks: Sequence[str]
) -> int:
    """When the observation behind `esc` starts the night ladder (a student not back at the night check),
    schedule its rungs, each at its clock time that night or at once when that has passed; how many."""
    ladder = policy.night_ladder
    if ladder is None or not ladder.applies(ticks, esc.started_at, cfg.tz):
        return 0
    times = ladder.rung_times(esc.started_at, cfg.tz)
    for index, at in enumerate(times):
        payload = {"rung": index, "ladder": ladder.model_dump(mode="json", by_alias=True)}
        deadlines.schedule(db, clock, kind=NIGHT_RUNG, subject_type="escalation", subject_id=esc.id, due_at=at, payload=payload)
    _event(db, clock, esc, "night_ladder", detail={"rungs": [at.isoformat() for at in times]})
    return len(times)


def on_night_rung(cfg: EscalationConfig) -> deadlines.Handler:
    """Deadline handler: a rung of the night ladder is due; its level is told unless the student was
    found (the escalation resolved or closed). An acknowledgement does not stop the ladder: only
    knowing where the student is does."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        esc = _locked(db, int(deadline.subject_id))
        if esc.status in (RESOLVED, CLOSED):
            return
        rung = rules.NightLadder.model_validate(deadline.payload["ladder"]).rungs[int(deadline.payload["rung"])]
        unit = db.get(OrgUnit, esc.unit_id)
        assert unit is not None
        users = recipients(db, unit, rung.grid_level, rung.roles, on=_today(clock, cfg))
        now = clock.now()
        detail = {"rung": int(deadline.payload["rung"]), "at": rung.at.strftime("%H:%M"), "grid_level": rung.grid_level.value}
        # Someone the climb already told over every channel of the rung (a filing after the rung's
        # time tells the counsellor at once) is not told the same thing twice.
        told = db.execute(
            select(EscalationEvent.user_id, EscalationEvent.channel).where(
                EscalationEvent.escalation_id == esc.id,
                EscalationEvent.kind.in_(("notified", "night_rung")),
                EscalationEvent.user_id.in_([u.id for u in users]),
            )
        ).all()
        users = [u for u in users if not {c.value for c in rung.channels} <= {ch for uid, ch in told if uid == u.id}]
        if not users and told:
            return
        if not users:
            _event(db, clock, esc, "nobody_at_rung", detail=detail)
            return
        db.add_all([EscalationRecipient(escalation_id=esc.id, user_id=u.id, step=esc.current_step, told_at=now) for u in users])
        notices = []
        words = wordings(db, esc, users)
        for user in users:
            message = _rung_message(cfg, esc, rung, user, words[user.id], deadline.due_at, now)
            notices.append(notify.Notice(user, rung.channels, message, "escalation", esc.id, None))
            for channel in rung.channels:
                _event(db, clock, esc, "night_rung", step=esc.current_step, user_id=user.id, channel=channel, detail=detail)
        notify.notify_many(db, clock, cfg.events, notices)

    return handle


def _rung_message(
    cfg: EscalationConfig, esc: Escalation, rung: rules.Rung, user: User, words: Wording, due_at: datetime, now: datetime
) -> notify.Message:
    """A rung's call, named for its clock time (`23:30`, or with its date when that was another day: a
    filing after midnight tells the rungs already past at once)."""
    link = f"{cfg.public_base_url.rstrip('/')}/e/{ack_token(cfg.secret, esc.id, user.id)}"
    at = i18n.moment(_rung_instant(rung, due_at, cfg.tz), cfg.tz, now)
    return notify.Message.worded(
        LADDER_KIND,
        level=esc.level,
        title=i18n.phrase("ladder.title", at=at, label=rung.label, title=words.title),
        body=i18n.phrase("ladder.body", summary=words.summary),
        sms=i18n.phrase("ladder.sms", at=at, title=words.sms_title, link=link),
        data={"escalation_id": esc.id, "rung": rung.at.strftime("%H:%M"), "link": link},
    )


def _rung_instant(rung: rules.Rung, due_at: datetime, tz: ZoneInfo) -> datetime:
    """The last time the rung's clock time came round at or before its deadline (the deadline itself,
    or the filing that came after it)."""
    local = due_at.astimezone(tz)
    at = datetime.combine(local.date(), rung.at, tzinfo=tz)
    return at if at <= local else at - timedelta(days=1)


def register(cfg: EscalationConfig, handlers: DeadlineHandlers) -> None:
    """Wire escalations into the deadline sweeper and the domain events."""
    begin = on_begin(cfg)
    # The climb is the promise: its rows are claimed before anything else that is due.
    handlers.register(BEGIN, lambda db, clock, row: begin(db, clock, [row]), batch=begin, urgent=True)
    handlers.register(STEP_DUE, on_step_due(cfg), urgent=True)
    handlers.register(REPEAT, on_repeat(cfg), urgent=True)
    handlers.register(NIGHT_RUNG, on_night_rung(cfg), urgent=True)
    cfg.events.subscribe(notify.DeliveryFailed, on_delivery_failed(cfg))
    cfg.events.subscribe(notify.SmsReplied, on_sms_reply)
