"""What the hazard ledger's deadlines do when they fall due: remind the owner before the rectification
deadline; at it, mark an unfinished hazard overdue and tell the owner, the owner unit's head and the
school safety office (a red one goes under named supervision, 挂牌督办, and the leaders are told); and
tell the safety office when on-site acceptance is late. Every row carries the deadline it was made for,
so a row left over from an earlier deadline does nothing, and each fires once (decision 2).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from riskcontrol.core import deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards import rules
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.rules import State
from riskcontrol.hazards.service import (
    ACCEPTANCE,
    OVERDUE,
    REMIND,
    SUBJECT,
    HazardConfig,
    local_time,
    record,
    tell_people,
)
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role


def heads_of(db: Session, cfg: HazardConfig, hazard: Hazard) -> list[User]:
    """The owner unit's head: the nearest holders of the head roles for the unit's kind."""
    unit = db.get(OrgUnit, hazard.unit_id)
    roles = cfg.matrix().head_roles(unit.kind) if unit is not None else ()
    return people_service.holders(db, hazard.unit_path, roles) if roles else []


def _still_owed(hazard: Hazard | None, deadline: Deadline) -> bool:
    return (
        hazard is not None
        and hazard.state in rules.OWING
        and hazard.deadline is not None
        and isinstance(made_for := deadline.payload.get("deadline"), str)
        and datetime.fromisoformat(made_for) == hazard.deadline
    )


def on_remind(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if not _still_owed(hazard, deadline) or hazard is None or hazard.owner_user_id is None:
            return
        assert hazard.deadline is not None
        assert hazard.level is not None
        owner = db.get(User, hazard.owner_user_id)
        left = hazard.deadline - clock.now()
        days = max(1, round(left / timedelta(days=1)))
        told = tell_people(
            db,
            clock,
            cfg,
            [owner] if owner is not None and owner.active else [],
            hazard,
            kind="hazard.reminder",
            body=i18n.phrase("notice.hazard.reminder.body", deadline=local_time(cfg, hazard.deadline, clock.now()), days=days),
            sms=cfg.matrix().band_of(hazard.level).sms,
        )
        record(db, clock, hazard, "reminded", None, told=told, due=hazard.deadline.isoformat())

    return handle


def turn_overdue(db: Session, clock: Clock, cfg: HazardConfig, hazard: Hazard, *, tell: bool = True) -> None:
    """The deadline passed with the work still owed: mark it overdue and tell the owner, the owner unit's
    head and the school safety office; a band that asks for it goes under named supervision (挂牌督办)
    and the leaders are told. `tell=False` records it without telling anyone (a ledger brought in with
    its history, where the telling happened before the system knew of it)."""
    assert hazard.deadline is not None
    assert hazard.level is not None
    band = cfg.matrix().band_of(hazard.level)
    hazard.overdue = True
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=hazard.id, kind=OVERDUE)
    people: list[User] = []
    if tell:
        owner = db.get(User, hazard.owner_user_id) if hazard.owner_user_id is not None else None
        people = [owner] if owner is not None and owner.active else []
        people += heads_of(db, cfg, hazard)
        people += people_service.holders_at_root(db, hazard.unit_path, [Role.SAFETY_OFFICER])
    body = i18n.phrase("notice.hazard.overdue.body", deadline=local_time(cfg, hazard.deadline, clock.now()))
    told = tell_people(
        db,
        clock,
        cfg,
        people,
        hazard,
        kind="hazard.overdue",
        body=body,
        sms=band.sms,
    )
    record(db, clock, hazard, "overdue", None, told=told, due=hazard.deadline.isoformat())
    if band.supervised_when_overdue and not hazard.supervised:
        hazard.supervised = True
        leaders = people_service.holders_at_root(db, hazard.unit_path, [Role.LEADER]) if tell else []
        told = tell_people(
            db,
            clock,
            cfg,
            leaders,
            hazard,
            kind="hazard.supervised",
            body=i18n.phrase("notice.hazard.supervised.body", measures=hazard.measures, funds=hazard.funds),
            sms=True,
        )
        record(db, clock, hazard, "supervised", None, told=told)


def on_overdue(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if (
            not _still_owed(hazard, deadline)
            or hazard is None
            or not rules.is_overdue(State(hazard.state), hazard.deadline, clock.now())
        ):
            return
        turn_overdue(db, clock, cfg, hazard)

    return handle


def on_acceptance_due(cfg: HazardConfig) -> deadlines.Handler:
    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        hazard = db.get(Hazard, int(deadline.subject_id))
        if hazard is None or hazard.state != State.AWAITING_ACCEPTANCE or hazard.acceptance_due_at is None:
            return
        people = people_service.holders_at_root(db, hazard.unit_path, [Role.SAFETY_OFFICER]) + heads_of(db, cfg, hazard)
        now = clock.now()
        told = tell_people(
            db,
            clock,
            cfg,
            people,
            hazard,
            kind="hazard.acceptance_overdue",
            body=i18n.phrase(
                "notice.hazard.acceptance_overdue.body",
                submitted=local_time(cfg, hazard.submitted_at or now, now),
                due=local_time(cfg, hazard.acceptance_due_at, now),
            ),
            sms=False,
        )
        record(db, clock, hazard, "acceptance_overdue", None, told=told, due=hazard.acceptance_due_at.isoformat())

    return handle


def register(cfg: HazardConfig, handlers: DeadlineHandlers) -> None:
    handlers.register(REMIND, on_remind(cfg))
    handlers.register(OVERDUE, on_overdue(cfg))
    handlers.register(ACCEPTANCE, on_acceptance_due(cfg))
