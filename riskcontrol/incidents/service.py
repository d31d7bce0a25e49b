"""Incidents: open one, move it through the crisis SOP, run its playbook tasks against deadlines.

Every change appends to the incident's timeline in the same transaction and, once committed,
tells the live board (`BOARD_CHANNEL`) with the timeline's sequence number, so a screen that
misses a message sees the gap and re-syncs from `board()`.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines
from riskcontrol.core.bus import Bus, MemoryBus, publish_after_commit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import EventHandler, Events
from riskcontrol.core.i18n import translate
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation_service
from riskcontrol.escalation.models import Escalation, EscalationEvent, EscalationRecipient
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards.models import Hazard
from riskcontrol.incidents.models import (
    DutyShift,
    Incident,
    IncidentEvent,
    IncidentPerson,
    IncidentProposal,
    IncidentRole,
    IncidentTask,
)
from riskcontrol.incidents.playbook_rules import (
    LEVEL_NAMES,
    IcsRole,
    Level,
    Opens,
    Playbook,
    Suggestion,
    TriggerFacts,
    WarningSource,
    checklist_facts,
    suggest,
)
from riskcontrol.incidents.playbooks import PlaybookLibrary, load_playbooks
from riskcontrol.incidents.rules import CrisisSop, IllegalTrigger, SopMachine
from riskcontrol.incidents.schemas import IncidentIn, PersonIn, TransitionIn
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.notify import service as notify
from riskcontrol.notify.models import Notification
from riskcontrol.observations.catalog import load_checklist, load_factors, load_rubric
from riskcontrol.observations.models import Observation
from riskcontrol.observations.opinion_models import OpinionReport
from riskcontrol.observations.opinion_service import MajorOpinionConfirmed
from riskcontrol.observations.rules import LevelCode
from riskcontrol.people import disclosure, factor_import
from riskcontrol.people import service as people_service
from riskcontrol.people.disclosure_rules import Shown, sees_texts
from riskcontrol.people.models import Student, User
from riskcontrol.people.rules import HOLDS_INCIDENT_ROLES, Role

BOARD_CHANNEL: Final = "board"
TASK_OVERDUE: Final = "incident.task_overdue"
# A red warning told its first step: open the incident its ticked items call for, in its own transaction.
FROM_WARNING: Final = "incident.from_warning"

OPEN, DONE, CANCELLED = "open", "done", "cancelled"
SOURCES: Final = ("hotline", "escalation", "opinion", "hazard", "observation")
INVOLVEMENTS: Final = ("missing", "injured", "at_risk", "involved", "witness", "deceased")
# A person's level is the triage level of the report about them (sop/triage.yaml): red 紧急 … blue 关注.
RISK_LEVELS: Final = tuple(code.value for code in LevelCode)
# Who runs incidents besides the people holding a command role on one.
COMMANDS: Final = frozenset({Role.RESPONSE_TEAM, Role.STUDENT_AFFAIRS, Role.ADMIN})
# Who may open one (a hotline call, a counsellor's or an officer's report).
OPENS: Final = COMMANDS | {Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.SAFETY_OFFICER, Role.PSYCH_CENTER, Role.OPINION_OFFICER}
# The roles the "level above" is: the first ancestor unit where someone holds one of these is told.
ABOVE: Final = (Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS, Role.LEADER)
# Levels Ⅰ–Ⅲ page the on-duty team at once; a Ⅳ waits for the normal working of the board.
PAGES_ON_DUTY: Final = frozenset({Level.I, Level.II, Level.III})


@dataclass
class IncidentConfig:
    """What the incident engine needs from the composition root."""

    sop_dir: Path
    playbook_dir: Path
    tz: tzinfo
    events: Events = field(default_factory=Events)
    bus: Bus = field(default_factory=MemoryBus)
    # After an overdue task's owner is told, the commander is told this much later, then the level above.
    overdue_step: timedelta = timedelta(minutes=5)
    sms_daily_cap: int | None = None
    # Where staff reach the app from a phone: every message about an incident links its page.
    public_base_url: str = "http://127.0.0.1:8000"

    def link(self, incident: Incident) -> str:
        """The incident's page, as a message links it."""
        return f"{self.public_base_url.rstrip('/')}/incidents/{incident.id}"

    def sop(self) -> CrisisSop:
        return load_crisis_sop(self.sop_dir)

    def library(self) -> PlaybookLibrary:
        checklist = load_checklist(self.sop_dir)
        items, categories = [item.code for item in checklist.items], [c.code for c in checklist.categories]
        return load_playbooks(self.playbook_dir, self.sop(), checklist_items=items, checklist_categories=categories)


@lru_cache(maxsize=16)
def _machine(version: int, frozen_sop: str) -> SopMachine:
    return CrisisSop.model_validate_json(frozen_sop).machine


# The snapshots an incident row carries never change: each loaded row looks its rules up once.
_RULES: weakref.WeakKeyDictionary[Incident, tuple[SopMachine, Playbook]] = weakref.WeakKeyDictionary()


def _rules_of(incident: Incident) -> tuple[SopMachine, Playbook]:
    found = _RULES.get(incident)
    if found is None:
        machine = _machine(incident.sop_version, _frozen(incident.sop))
        playbook = _playbook(incident.type, incident.playbook_version, _frozen(incident.playbook))
        found = _RULES[incident] = (machine, playbook)
    return found


def machine_of(incident: Incident) -> SopMachine:
    """The SOP machine of the version the incident started on (built once per version)."""
    return _rules_of(incident)[0]


def playbook_of(incident: Incident) -> Playbook:
    """The playbook as it was when the incident started."""
    return _rules_of(incident)[1]


def _frozen(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=64)
def _playbook(type_: str, version: int, frozen: str) -> Playbook:
    return Playbook.model_validate_json(frozen)


# --- reading -----------------------------------------------------------------------------------


def in_scope(principal: Principal) -> Select[Incident]:
    return select(Incident).where(scope_clause(principal, Incident.unit_path))


def get(db: Session, principal: Principal, incident_id: int, *, lock: bool = False) -> Incident:
    stmt = in_scope(principal).where(Incident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    incident = db.execute(stmt).scalar_one_or_none()
    if incident is None:
        raise missing_or_private(db, Incident, incident_id, what="incident", field="incident_id")
    return incident


def list_incidents(db: Session, principal: Principal, *, open_only: bool = True, limit: int = 200) -> list[Incident]:
    stmt = in_scope(principal)
    if open_only:
        stmt = stmt.where(Incident.is_open.is_(True))
    return list(db.execute(stmt.order_by(Incident.level, Incident.started_at.desc()).limit(limit)).scalars())


def holders(db: Session, incident_id: int) -> dict[str, int]:
    """The current holder of each filled command role."""
    rows = db.execute(
        select(IncidentRole.role, IncidentRole.user_id).where(
            IncidentRole.incident_id == incident_id, IncidentRole.ended_at.is_(None)
        )
    ).all()
    return {str(role): int(user_id) for role, user_id in rows}


def role_history(db: Session, incident_id: int) -> list[IncidentRole]:
    stmt = select(IncidentRole).where(IncidentRole.incident_id == incident_id).order_by(IncidentRole.id)
    return list(db.execute(stmt).scalars())


def tasks(db: Session, incident_id: int) -> list[IncidentTask]:
    stmt = select(IncidentTask).where(IncidentTask.incident_id == incident_id).order_by(IncidentTask.due_at, IncidentTask.id)
    return list(db.execute(stmt).scalars())


def timeline(db: Session, incident_id: int, *, after_seq: int = 0) -> list[IncidentEvent]:
    stmt = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id, IncidentEvent.seq > after_seq)
        .order_by(IncidentEvent.seq)
    )
    return list(db.execute(stmt).scalars())


def names(db: Session, user_ids: Sequence[int | None]) -> dict[int, str]:
    """Display names of the given users (staff names are not sensitive inside the system)."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    return {int(i): str(n) for i, n in db.execute(select(User.id, User.name).where(User.id.in_(wanted))).all()}


def may_command(db: Session, principal: Principal, incident: Incident) -> bool:
    """Response team, student affairs and admins run incidents in their scope; so does anyone
    holding a command role on this one (a leader who is its commander, say)."""
    if principal.has_role(*COMMANDS):
        return True
    return principal.user_id in holders(db, incident.id).values()


def _require_command(db: Session, principal: Principal, incident: Incident) -> None:
    if not may_command(db, principal, incident):
        raise Forbidden("only the response team, student affairs or the incident's command roles may do this")


def involved(db: Session, incident: Incident) -> tuple[list[IncidentPerson], list[disclosure.Person]]:
    """The people involved, in the order they were added, with who each is (for the disclosure policy)."""
    rows = list(
        db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident.id).order_by(IncidentPerson.id)).scalars()
    )
    found = disclosure.people(db, [p.student_id for p in rows])
    return rows, [disclosure.named(p.name, found.get(p.student_id or 0), incident.unit_path) for p in rows]


def reader_view(db: Session, principal: Principal, incident: Incident, *, lang: str = "zh") -> disclosure.View:
    """What this reader may see of the incident's people and words (the one disclosure policy)."""
    _, persons = involved(db, incident)
    commands = principal.user_id in holders(db, incident.id).values()
    return disclosure.view(principal.grants, incident.unit_path, persons, commands=commands, lang=lang)


def wall_title(db: Session, incident: Incident) -> str:
    """The incident's title as a shared screen and a message to several people show it: everyone in it as a
    stand-in, no number or phone (the board hangs on a wall; a text lies on a lock screen). Names are read on
    the incident page, as the policy allows each reader."""
    _, persons = involved(db, incident)
    return disclosure.view((), incident.unit_path, persons).title(incident.title)


# Timeline data that is someone's words (a note, a reason, evidence): shown as the policy allows.
FREE_TEXT: Final = frozenset({"text", "note", "reason", "evidence", "summary", "minutes", "outcome", "title"})


def event_data(view: disclosure.View, data: dict[str, Any]) -> dict[str, Any]:
    """A timeline line's data as this reader may read it: words redacted, or withheld from readers who may not."""
    return {
        key: (view.text(value) if key in FREE_TEXT else view.title(value)) if isinstance(value, str) else value
        for key, value in data.items()
    }


def people(db: Session, clock: Clock, principal: Principal, incident: Incident, *, lang: str = "zh") -> list[dict[str, Any]]:
    """The people involved as the reader may see each (name, or a stand-in); their record and notes only
    where the policy shows them in full, and every such read is audited."""
    rows, _ = involved(db, incident)
    view = reader_view(db, principal, incident, lang=lang)
    full = [p.id for i, p in enumerate(rows) if view.disclosure.of(i) is Shown.FULL]
    if full:
        audit.record_by(db, clock, principal, "incident.people.read", "incident", incident.id, {"people": full})
    return [
        {
            "id": p.id,
            "student_id": p.student_id if view.disclosure.of(i) is Shown.FULL else None,
            "name": view.name(i),
            "involvement": p.involvement,
            "risk_level": p.risk_level,
            "note": p.note if view.disclosure.of(i) is Shown.FULL else None,
            "added_at": p.added_at,
        }
        for i, p in enumerate(rows)
    ]


# --- the timeline and the board ----------------------------------------------------------------


# Per session: the first timeline number of each incident not yet told to the board.
_UNTOLD = "riskcontrol.incidents.untold_from"
_LAST = "riskcontrol.incidents.last_event"


def _append(db: Session, clock: Clock, incident: Incident, kind: str, actor_id: int | None, **data: Any) -> IncidentEvent:
    incident.last_seq += 1
    db.info.setdefault(_UNTOLD, {}).setdefault(incident.id, incident.last_seq)
    item = IncidentEvent(incident_id=incident.id, seq=incident.last_seq, at=clock.now(), kind=kind, actor_id=actor_id, data=data)
    db.add(item)
    db.info.setdefault(_LAST, {})[incident.id] = item
    return item


def _last_event(db: Session, incident: Incident) -> IncidentEvent:
    """The line this session appended last to the incident's timeline."""
    event: IncidentEvent = db.info[_LAST][incident.id]
    return event


def summary(db: Session, clock: Clock, incident: Incident, *, refresh: bool = False) -> dict[str, Any]:
    """An incident as the board shows it: level colour, state and SOP progress, next deadline,
    late tasks, notifications not yet read and their delivery. With `refresh` (after a change),
    the incident's next deadline is brought up to date from its open tasks first."""
    sop = machine_of(incident).sop
    state = sop.state(incident.state)
    steps = [s for s in sop.states if s.step is not None]
    now = clock.now()
    open_tasks = [t for t in tasks(db, incident.id) if t.status == OPEN]
    if refresh:
        incident.next_due_at = min((t.due_at for t in open_tasks), default=None)
    about = (Notification.subject_type == "incident", Notification.subject_id == str(incident.id))
    failed = (
        select(func.count())
        .select_from(IncidentEvent)
        .where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "delivery_failed")
        .scalar_subquery()
    )
    sent = db.execute(
        select(
            select(func.count()).select_from(Notification).where(*about).scalar_subquery(),
            select(func.count(Notification.delivered_at)).where(*about).scalar_subquery(),
            select(func.count(Notification.read_at)).where(*about).scalar_subquery(),
            failed,
        )
    ).one()
    level = Level(incident.level)
    warning = db.get(Escalation, int(incident.source_id)) if incident.source == "escalation" and incident.source_id else None
    return {
        "id": incident.id,
        "seq": incident.last_seq,
        "type": incident.type,
        "type_label": playbook_of(incident).label.model_dump(),
        "level": incident.level,
        "level_numeral": level.numeral,
        "level_label": LEVEL_NAMES[level].model_dump(),
        "colour": level.colour,
        "state": incident.state,
        "state_label": state.label.model_dump(),
        "phase": state.phase.value,  # where an unnumbered state stands: before the steps, or after
        "step": state.step,
        "steps": len(steps),
        "progress": [{"code": s.code, "label": s.label.model_dump(), "step": s.step} for s in steps],
        "is_open": incident.is_open,
        "drill": incident.drill,
        "title": wall_title(db, incident),
        "location": incident.location,
        "unit_id": incident.unit_id,
        "unit_path": incident.unit_path,
        "started_at": incident.started_at.isoformat(),
        "next_due_at": incident.next_due_at.isoformat() if incident.next_due_at else None,
        "open_tasks": len(open_tasks),
        # The task the board's countdown counts down to: the soonest due of the open ones.
        "next_task": next(
            (
                {"id": t.id, "code": t.code, "label_zh": t.label_zh, "label_en": t.label_en, "due_at": t.due_at.isoformat()}
                for t in sorted(open_tasks, key=lambda t: (t.due_at, t.id))
            ),
            None,
        ),
        "late_tasks": [
            {"id": t.id, "code": t.code, "label_zh": t.label_zh, "label_en": t.label_en, "due_at": t.due_at.isoformat()}
            for t in open_tasks
            if t.due_at <= now
        ],
        "notifications": {"sent": int(sent[0]), "delivered": int(sent[1]), "read": int(sent[2]), "failed": int(sent[3])},
        # How late the warning that opened it reached its current level (after an outage), in seconds.
        "warning_late_seconds": warning.step_late_seconds if warning is not None else 0,
        "legal_triggers": list(machine_of(incident).legal(incident.state)),
    }


def _tell_board(db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, event: IncidentEvent) -> None:
    """Bring the next deadline up to date and tell the board once the change commits."""
    db.flush()
    # One message per change: it covers every line the change appended (first_seq … seq), so a
    # screen tells a change of several lines from a lost message.
    first = db.info.get(_UNTOLD, {}).pop(incident.id, event.seq)
    message = {
        "type": "incident",
        "incident_id": incident.id,
        "first_seq": first,
        "seq": event.seq,
        "unit_path": incident.unit_path,
        # The board is told what happened, never in whose words: a screen reads those through the API.
        "event": {
            "kind": event.kind,
            "at": event.at.isoformat(),
            "data": {k: v for k, v in event.data.items() if k not in FREE_TEXT},
        },
        "incident": summary(db, clock, incident, refresh=True),
    }
    publish_after_commit(db, cfg.bus, BOARD_CHANNEL, message)


def record(
    db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, kind: str, actor_id: int | None, **data: Any
) -> IncidentEvent:
    """Append to the timeline and tell the board once committed."""
    event = _append(db, clock, incident, kind, actor_id, **data)
    _tell_board(db, clock, cfg, incident, event)
    return event


# --- opening ----------------------------------------------------------------------------------


def open_incident(db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, data: IncidentIn) -> Incident:
    """Open an incident by hand (a hotline call) or from an escalation, opinion report or hazard:
    checks everything first, then writes the row and what comes with it (see `_create`)."""
    if not principal.has_role(*OPENS):
        raise Forbidden("opening an incident needs a staff role (response team, student affairs, counsellor, officer)")
    unit = db.get(OrgUnit, data.unit_id)
    if unit is None or not principal.covers(unit.path):
        raise missing_or_private(db, OrgUnit, data.unit_id, what="unit", field="unit_id")
    _check_source(db, principal, data)
    commander = _may_command(db, data.commander_id or principal.user_id, unit.path, field="commander_id")
    students = _check_people(db, principal, data.people, "people.{i}.")
    actor = (principal.user_id, principal.username)
    return _create(db, clock, cfg, data, unit, actor=actor, commander=commander, students=students)


def _check_source(db: Session, principal: Principal, data: IncidentIn) -> None:
    if data.source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", field="source")
    if data.source == "hotline":
        return
    if data.source_id is None or not data.source_id.isdigit():
        raise InvalidInput(f"an incident from a {data.source} names its id", field="source_id")
    models: dict[str, type[Escalation | OpinionReport | Observation | Hazard]] = {
        "escalation": Escalation,
        "opinion": OpinionReport,
        "observation": Observation,
        "hazard": Hazard,
    }
    model = models[data.source]
    unit_id = db.execute(select(model.unit_id).where(model.id == int(data.source_id))).scalar_one_or_none()
    unit = db.get(OrgUnit, unit_id) if unit_id is not None else None
    if unit is None or not principal.covers(unit.path):
        raise InvalidInput(f"no {data.source} with id {data.source_id} in your scope", field="source_id")


def _create(
    db: Session,
    clock: Clock,
    cfg: IncidentConfig,
    data: IncidentIn,
    unit: OrgUnit,
    *,
    actor: tuple[int, str],
    commander: User | None,
    students: dict[int, Student],
) -> Incident:
    """Write an incident, its first timeline entries, its commander and people, the tasks of its
    first state and the paging of the on-duty team, all in the caller's transaction."""
    library = cfg.library()
    playbook = library.get(data.type)
    if playbook is None:
        raise InvalidInput(f"no playbook for incident type {data.type!r}; known: {', '.join(library.types())}", field="type")
    now = clock.now()
    started = data.started_at or now
    if started > now + timedelta(minutes=1):
        raise InvalidInput("an incident cannot start in the future", field="started_at")
    if data.drill_scale != 1.0 and not data.drill:
        raise InvalidInput("a scaled clock is for drills only", field="drill_scale")
    actor_id, actor_name = actor
    sop = cfg.sop()
    incident = Incident(
        type=playbook.type,
        playbook_version=playbook.version,
        playbook=playbook.model_dump(mode="json"),
        sop_version=sop.version,
        sop=sop.model_dump(mode="json"),
        level=int(data.level),
        state=sop.initial,
        is_open=True,
        title=data.title,
        location=data.location,
        summary=data.summary,
        unit_id=unit.id,
        unit_path=unit.path,
        source=data.source,
        source_id=data.source_id,
        started_at=started,
        created_by=actor_id,
        drill=data.drill,
        drill_scale=data.drill_scale,
        last_seq=0,
    )
    db.add(incident)
    db.flush()
    _append(
        db,
        clock,
        incident,
        "created",
        actor_id,
        type=incident.type,
        level=incident.level,
        state=incident.state,
        source=incident.source,
        source_id=incident.source_id,
        playbook_version=incident.playbook_version,
        sop_version=incident.sop_version,
        drill=incident.drill,
    )
    if commander is not None:
        _assign(db, clock, incident, IcsRole.COMMANDER.value, commander, actor_id)
    for person in data.people:
        _add_person(db, clock, incident, person, actor_id, students)
    _enter(db, clock, cfg, incident, incident.state, actor_id)
    if Level(incident.level) in PAGES_ON_DUTY:
        _page_on_duty(db, clock, cfg, incident)
    audit.record(
        db,
        clock,
        actor_user_id=actor_id,
        actor=actor_name,
        action="incident.open",
        subject_type="incident",
        subject_id=str(incident.id),
        detail={"type": incident.type, "level": incident.level, "unit_id": unit.id, "source": incident.source}
        | {"drill": incident.drill},
    )
    _tell_board(db, clock, cfg, incident, _last_event(db, incident))
    return incident


def _active_user(db: Session, user_id: int, *, field: str) -> User:
    user = db.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"no active user with id {user_id}", field=field)
    return user


def _may_command(db: Session, user_id: int, unit_path: str, *, field: str) -> User:
    """An active staff member whose grid role covers the incident's unit: the only people who may hold
    an incident-command role (never a student's grid role, nor a role held elsewhere)."""
    user = _active_user(db, user_id, field=field)
    if not people_service.holds_over(db, user.id, HOLDS_INCIDENT_ROLES, unit_path):
        raise InvalidInput(f"user {user_id} holds no staff role over this incident's unit", field=field)
    return user


def _check_people(db: Session, principal: Principal, people_in: Sequence[PersonIn], prefix: str) -> dict[int, Student]:
    """Check every person before anything is written; `prefix` names the field (`people.0.`)."""
    found: dict[int, Student] = {}
    for i, person in enumerate(people_in):
        at = prefix.format(i=i)
        if person.involvement not in INVOLVEMENTS:
            raise InvalidInput(f"involvement must be one of {', '.join(INVOLVEMENTS)}", field=f"{at}involvement")
        if person.risk_level is not None and person.risk_level not in RISK_LEVELS:
            raise InvalidInput(f"risk_level must be one of {', '.join(RISK_LEVELS)}", field=f"{at}risk_level")
        if person.student_id is None:
            if not person.name.strip():
                raise InvalidInput("give a name or a student id", field=f"{at}name")
            continue
        student = db.get(Student, person.student_id)
        unit = db.get(OrgUnit, student.class_id) if student is not None else None
        if student is None or unit is None or not principal.covers(unit.path):
            raise InvalidInput(f"no student with id {person.student_id} in your scope", field=f"{at}student_id")
        found[person.student_id] = student
    return found


def _add_person(
    db: Session, clock: Clock, incident: Incident, person: PersonIn, actor_id: int, students: dict[int, Student]
) -> IncidentPerson:
    student = students.get(person.student_id) if person.student_id is not None else None
    row = IncidentPerson(
        incident_id=incident.id,
        student_id=person.student_id,
        name=person.name or (student.name if student is not None else ""),
        involvement=person.involvement,
        risk_level=person.risk_level,
        note=person.note,
        added_at=clock.now(),
        added_by=actor_id,
    )
    db.add(row)
    db.flush()
    # The timeline names no one: it is shown on the board; the person list is where names live.
    _append(db, clock, incident, "person", actor_id, person_id=row.id, involvement=row.involvement)
    return row


def _assign(db: Session, clock: Clock, incident: Incident, role: str, user: User, actor_id: int) -> None:
    now = clock.now()
    db.execute(
        update(IncidentRole)
        .where(IncidentRole.incident_id == incident.id, IncidentRole.role == role, IncidentRole.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    db.add(IncidentRole(incident_id=incident.id, role=role, user_id=user.id, assigned_at=now, assigned_by=actor_id))
    _append(db, clock, incident, "role", actor_id, role=role, user_id=user.id, name=user.name)


# --- moving through the SOP ---------------------------------------------------------------------


def _due(incident: Incident, after_start: timedelta) -> datetime:
    """A playbook deadline counted from the incident's start (compressed on a drill's scaled clock)."""
    return incident.started_at + after_start / incident.drill_scale


def _enter(db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, state: str, actor_id: int | None) -> None:
    """Create the playbook's tasks for `state` at the incident's level, each with its deadline row."""
    playbook = playbook_of(incident)
    existing = set(db.execute(select(IncidentTask.code).where(IncidentTask.incident_id == incident.id)).scalars())
    made: list[str] = []
    for task in playbook.tasks_for(state, Level(incident.level)):
        if task.code in existing:
            continue
        after = task.due_after_start(Level(incident.level))
        assert after is not None  # tasks_for only returns tasks listed at this level
        row = IncidentTask(
            incident_id=incident.id,
            code=task.code,
            state=state,
            stream=task.stream,
            label_zh=task.label.zh,
            label_en=task.label.en,
            owner_role=task.owner.value,
            checklist=[c.model_dump() for c in task.checklist],
            needs_evidence=task.needs_evidence,
            due_at=_due(incident, after),
            status=OPEN,
            created_at=clock.now(),
            overdue_step=0,
        )
        db.add(row)
        db.flush()
        deadlines.schedule(db, clock, kind=TASK_OVERDUE, subject_type="incident_task", subject_id=row.id, due_at=row.due_at)
        made.append(task.code)
    if made:
        _append(db, clock, incident, "tasks_opened", actor_id, state=state, tasks=made)


def _close_tasks(db: Session, incident: Incident) -> None:
    ids = list(
        db.execute(select(IncidentTask.id).where(IncidentTask.incident_id == incident.id, IncidentTask.status == OPEN)).scalars()
    )
    deadlines.cancel(db, subject_type="incident_task", subject_id=ids)
    if ids:
        db.execute(
            update(IncidentTask)
            .where(IncidentTask.id.in_(ids))
            .values(status=CANCELLED)
            .execution_options(synchronize_session="fetch")
        )


def transition(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, trigger: str, data: TransitionIn
) -> Incident:
    """Fire `trigger` on the incident; Conflict naming the legal triggers when it cannot fire now."""
    incident = get(db, principal, incident_id, lock=True)
    _require_command(db, principal, incident)
    machine = machine_of(incident)
    try:
        move = machine.fire(incident.state, trigger)
    except IllegalTrigger as exc:
        raise IllegalNow(exc) from exc
    spec = machine.sop.trigger(trigger)
    assert spec is not None  # fire() succeeded
    reason = (data.reason or "").strip()
    if spec.confirm and not data.confirm:
        raise InvalidInput(f"{trigger!r} cannot be taken back; send confirm: true to fire it", field="confirm")
    if spec.needs_reason and not reason:
        raise InvalidInput(f"{trigger!r} needs a written reason", field="reason")
    changes: dict[str, Any] = {}
    if trigger == "change_level":
        if data.level is None:
            raise InvalidInput("give the new level (I–IV)", field="level")
        if int(data.level) == incident.level:
            raise InvalidInput(f"the incident is already at level {Level(incident.level).numeral}", field="level")
        changes = {"from_level": incident.level, "to_level": int(data.level)}
    target: Incident | None = None
    if trigger == "merge":
        if data.into_incident_id is None:
            raise InvalidInput("name the incident to merge into", field="into_incident_id")
        if data.into_incident_id == incident.id:
            raise InvalidInput("an incident cannot be merged into itself", field="into_incident_id")
        target = get(db, principal, data.into_incident_id, lock=True)
        if not target.is_open:
            raise InvalidInput(f"incident {target.id} is not open", field="into_incident_id")
        changes = {"into_incident_id": target.id}
    now = clock.now()
    incident.state = move.dest
    if trigger == "change_level":
        incident.level = int(changes["to_level"])
        _retime_open_tasks(db, clock, incident)
    _append(
        db,
        clock,
        incident,
        "transition",
        principal.user_id,
        trigger=trigger,
        source=move.source,
        dest=move.dest,
        reason=reason or None,
        **changes,
    )
    final = machine.sop.state(move.dest).final
    if final:
        incident.is_open = False
        incident.closed_at = now
        _close_tasks(db, incident)
        if target is not None:
            incident.merged_into_id = target.id
            record(db, clock, cfg, target, "merged_in", principal.user_id, incident_id=incident.id, reason=reason)
        closed = IncidentClosed(incident.id, incident.state, incident.level, incident.drill, now, incident.unit_path)
        cfg.events.emit(db, clock, closed)
    else:
        if not incident.is_open:  # reopened
            incident.is_open, incident.closed_at = True, None
            cfg.events.emit(db, clock, IncidentReopened(incident.id))
        if not move.internal or trigger == "change_level":
            _enter(db, clock, cfg, incident, move.dest, principal.user_id)
        phase = machine.sop.state(move.dest).phase
        if phase == "recovery" and machine.sop.state(move.source).phase != "recovery":
            cfg.events.emit(db, clock, RecoveryBegan(incident.id, now, incident.unit_path))
    if trigger == "change_level" and Level(incident.level) in PAGES_ON_DUTY and changes["from_level"] > incident.level:
        _page_on_duty(db, clock, cfg, incident)
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=f"incident.{trigger}",
        subject_type="incident",
        subject_id=str(incident.id),
        detail={"source": move.source, "dest": move.dest, **changes},
    )
    _tell_board(db, clock, cfg, incident, _last_event(db, incident))
    return incident


@dataclass(frozen=True)
class IncidentClosed:
    """Emitted in the closing transaction when an incident reaches a final state (closed, false alarm, merged)."""

    incident_id: int
    state: str
    level: int
    drill: bool
    closed_at: datetime
    unit_path: str


@dataclass(frozen=True)
class RecoveryBegan:
    """Emitted in the transaction that first moves an incident into a state of the SOP's recovery phase."""

    incident_id: int
    began_at: datetime
    unit_path: str


@dataclass(frozen=True)
class IncidentReopened:
    """Emitted in the transaction that reopens a finished incident."""

    incident_id: int


class IllegalNow(Conflict):
    """409: the trigger cannot fire from the incident's state; `legal` lists the ones that can."""

    code = "illegal_transition"

    def __init__(self, exc: IllegalTrigger) -> None:
        super().__init__(
            f"{exc.trigger!r} cannot fire from {exc.state!r}; legal now: {', '.join(exc.legal) or 'none'}", field="trigger"
        )
        self.legal = exc.legal
        self.state = exc.state

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "state": self.state, "legal": list(self.legal)}


def _retime_open_tasks(db: Session, clock: Clock, incident: Incident) -> None:
    """A change of level re-times the open tasks to the new level's deadlines (where the playbook has one)."""
    playbook = playbook_of(incident)
    level = Level(incident.level)
    retimed: list[IncidentTask] = []
    for row in db.execute(
        select(IncidentTask).where(IncidentTask.incident_id == incident.id, IncidentTask.status == OPEN)
    ).scalars():
        task = playbook.task(row.code)
        after = task.due_after_start(level) if task is not None else None
        if after is not None and _due(incident, after) != row.due_at:
            row.due_at, row.overdue_step = _due(incident, after), 0
            retimed.append(row)
    deadlines.cancel(db, subject_type="incident_task", subject_id=[row.id for row in retimed])
    for row in retimed:
        deadlines.schedule(db, clock, kind=TASK_OVERDUE, subject_type="incident_task", subject_id=row.id, due_at=row.due_at)


# --- tasks, notes, roles, people ----------------------------------------------------------------


def complete_task(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, task_id: int, evidence: str | None
) -> IncidentTask:
    incident = get(db, principal, incident_id, lock=True)
    task = db.get(IncidentTask, task_id)
    if task is None or task.incident_id != incident.id:
        raise missing_or_private(db, IncidentTask, task_id, what="task of this incident", field="task_id")
    if not may_command(db, principal, incident) and holders(db, incident.id).get(task.owner_role) != principal.user_id:
        raise Forbidden("only the task's owner or the incident's command may complete it")
    if task.status != OPEN:
        raise Conflict(f"task {task.code!r} is already {task.status}", field="task_id")
    text = (evidence or "").strip()
    if task.needs_evidence and not text:
        raise InvalidInput(f"task {task.code!r} needs evidence (what was done, a reference or a file name)", field="evidence")
    now = clock.now()
    task.status, task.done_at, task.done_by, task.evidence = DONE, now, principal.user_id, text or None
    deadlines.cancel(db, subject_type="incident_task", subject_id=task.id)
    late = now > task.due_at
    record(
        db,
        clock,
        cfg,
        incident,
        "task_done",
        principal.user_id,
        task_id=task.id,
        code=task.code,
        late=late,
        evidence=text or None,
    )
    return task


def add_note(db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, text: str) -> IncidentEvent:
    incident = get(db, principal, incident_id, lock=True)
    _require_command(db, principal, incident)
    if not text.strip():
        raise InvalidInput("a note cannot be empty", field="text")
    return record(db, clock, cfg, incident, "note", principal.user_id, text=text.strip(), by=principal.display_name)


def assign_role(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, role: str, user_id: int
) -> Incident:
    incident = get(db, principal, incident_id, lock=True)
    _require_command(db, principal, incident)
    if role not in {r.value for r in IcsRole}:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in IcsRole)}", field="role")
    if not incident.is_open:
        raise Conflict("the incident is closed; reopen it first", field="incident_id")
    user = _may_command(db, user_id, incident.unit_path, field="user_id")
    _assign(db, clock, incident, role, user, principal.user_id)
    _tell_board(db, clock, cfg, incident, _last_event(db, incident))
    return incident


def add_person(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, person: PersonIn
) -> IncidentPerson:
    incident = get(db, principal, incident_id, lock=True)
    _require_command(db, principal, incident)
    students = _check_people(db, principal, [person], "")
    row = _add_person(db, clock, incident, person, principal.user_id, students)
    _tell_board(db, clock, cfg, incident, _last_event(db, incident))
    return row


# --- notifications: paging, overdue tasks ------------------------------------------------------


def _channels(incident: Incident) -> list[str]:
    # A drill never texts real phones.
    return [notify.IN_APP] if incident.drill else [notify.IN_APP, notify.SMS]


def _tell(
    db: Session,
    clock: Clock,
    cfg: IncidentConfig,
    incident: Incident,
    users: Sequence[User],
    message: notify.Message,
) -> list[int]:
    told: list[int] = []
    for user in users:
        if user.id in told:
            continue
        notify.notify(
            db,
            clock,
            cfg.events,
            user=user,
            channels=_channels(incident),
            message=message,
            subject_type="incident",
            subject_id=incident.id,
            sms_cap=cfg.sms_daily_cap,
        )
        told.append(user.id)
    return told


def _prefix(incident: Incident) -> tuple[str, str]:
    level = Level(incident.level)
    drill = ("【演练】", "[DRILL] ") if incident.drill else ("", "")
    return f"{drill[0]}【{level.numeral}级】", f"{drill[1]}[Level {level.numeral}] "


def on_duty(db: Session, at: datetime) -> list[tuple[DutyShift, User]]:
    """Who is on the rapid-response duty roster at `at`, leads first."""
    stmt = (
        select(DutyShift, User)
        .join(User, User.id == DutyShift.user_id)
        .where(DutyShift.starts_at <= at, DutyShift.ends_at > at, User.active.is_(True))
        .order_by(DutyShift.position != "lead", DutyShift.starts_at)  # leads first
    )
    return [(shift, user) for shift, user in db.execute(stmt).all()]


def _duty_team(db: Session, clock: Clock, incident: Incident) -> tuple[list[User], bool]:
    """Who is on duty now, or, with nobody rostered, the response team nearest the incident's unit;
    and whether it was the roster."""
    users = [user for _shift, user in on_duty(db, clock.now())]
    return (users, True) if users else (people_service.holders(db, incident.unit_path, [Role.RESPONSE_TEAM]), False)


def _message(
    cfg: IncidentConfig,
    incident: Incident,
    kind: str,
    *,
    title: tuple[str, str],
    body: tuple[str, str],
    sms: str,
    **data: Any,
) -> notify.Message:
    """A message about the incident: its level (and 演练 for a drill) in front, red for Ⅰ/Ⅱ, and the link
    to its page at the end (a text read at 02:00 leads straight to the tasks)."""
    zh, en = _prefix(incident)
    link = cfg.link(incident)
    return notify.Message(
        kind=kind,
        level="red" if incident.level <= 2 else "orange",
        title_zh=zh + title[0],
        title_en=en + title[1],
        body_zh=f"{body[0]}\n{link}",
        body_en=f"{body[1]}\n{link}",
        sms_zh=f"{zh}{sms} {link}",
        data={"incident_id": incident.id, "url": link, **data},
    )


def _page_on_duty(db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident) -> None:
    """Page the on-duty team at once; with nobody rostered, the school's response team is paged."""
    users, rostered = _duty_team(db, clock, incident)
    playbook, where, title = playbook_of(incident), incident.location, wall_title(db, incident)
    message = _message(
        cfg,
        incident,
        "incident.page",
        title=(f"{playbook.label.zh}：{title}", f"{playbook.label.en}: {title}"),
        body=(
            f"地点：{where or '未填'}。请立即查看应急指挥看板。",
            f"Location: {where or 'not given'}. Open the incident board now.",
        ),
        sms=f"{playbook.label.zh}：{title}，地点{where or '未填'}。请立即查看应急看板。",
    )
    told = _tell(db, clock, cfg, incident, users, message)
    _append(db, clock, incident, "paged", None, users=told, on_duty=rostered, channels=_channels(incident))


def on_task_overdue(cfg: IncidentConfig) -> deadlines.Handler:
    """A task passed its due time: tell its owner; 5 minutes on, the commander; then the level above."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        task = db.get(IncidentTask, int(deadline.subject_id), with_for_update=True)
        if task is None or task.status != OPEN:
            return
        incident = db.get(Incident, task.incident_id, with_for_update=True)
        if incident is None or not incident.is_open:
            return
        step = task.overdue_step + 1
        held = holders(db, incident.id)
        if step == 1:
            owner_id = held.get(task.owner_role) or held.get(IcsRole.COMMANDER.value)
            users = [u for u in [db.get(User, owner_id)] if u is not None] if owner_id else []
            whom = "owner"
        elif step == 2:
            commander_id = held.get(IcsRole.COMMANDER.value)
            users = [u for u in [db.get(User, commander_id)] if u is not None] if commander_id else []
            whom = "commander"
        else:
            users = people_service.holders(db, incident.unit_path, ABOVE, above=True)
            whom = "level_above"
        if not users:
            # Nobody holds the role (unfilled roles stay with the commander; no commander yet): the on-duty team.
            users, _rostered = _duty_team(db, clock, incident)
        due, title = task.due_at.astimezone(cfg.tz).strftime("%H:%M"), wall_title(db, incident)
        message = _message(
            cfg,
            incident,
            "incident.task_overdue",
            title=(f"超时未完成：{task.label_zh}", f"Overdue: {task.label_en}"),
            body=(
                f"事件「{title}」的步骤「{task.label_zh}」应于 {due} 前完成，现已超时。",
                f"Step '{task.label_en}' of incident '{title}' was due by {due} and is late.",
            ),
            sms=f"事件「{title}」步骤「{task.label_zh}」已超时（应于{due}前完成），请立即处理。",
            task_id=task.id,
            step=step,
        )
        told = _tell(db, clock, cfg, incident, users, message)
        task.overdue_step = step
        record(
            db,
            clock,
            cfg,
            incident,
            "task_overdue",
            None,
            task_id=task.id,
            code=task.code,
            step=step,
            whom=whom,
            users=told,
            due_at=task.due_at.isoformat(),
            late=bool(deadline.late),
        )
        if step < 3:
            deadlines.schedule(
                db,
                clock,
                kind=TASK_OVERDUE,
                subject_type="incident_task",
                subject_id=task.id,
                # The ladder keeps its own schedule: after an outage every rung already due is told at once.
                due_at=deadline.due_at + cfg.overdue_step / incident.drill_scale,
            )

    return handle


def on_delivery_failed(cfg: IncidentConfig) -> EventHandler:
    def handle(db: Session, clock: Clock, event: notify.DeliveryFailed) -> None:
        if event.subject_type != "incident" or not event.final:
            return
        incident = db.get(Incident, int(event.subject_id))
        if incident is None:
            return
        record(
            db,
            clock,
            cfg,
            incident,
            "delivery_failed",
            None,
            user_id=event.user_id,
            channel=event.channel,
            notification_id=event.notification_id,
            reason=event.reason,
        )

    return handle


def _open_from_warning(
    db: Session, clock: Clock, cfg: IncidentConfig, found: tuple[Playbook, Level], data: dict[str, Any], by: tuple[int, str]
) -> Incident | None:
    """Open the incident a warning calls for, unless one from the same source (or about the same student)
    is open already: that one hears of the warning and is returned."""
    playbook, level = found
    source, source_id = data["source"], data["source_id"]
    same = select(Incident).where(Incident.is_open.is_(True))
    student_ids = [p["student_id"] for p in data.get("people", ())]
    if student_ids:
        # About a student already in an open incident of this type: that incident hears of it instead.
        involved = select(IncidentPerson.incident_id).where(IncidentPerson.student_id.in_(student_ids))
        same = same.where(Incident.type == playbook.type, Incident.id.in_(involved))
    else:
        same = same.where(Incident.source == source, Incident.source_id == source_id)
    already = db.execute(same.order_by(Incident.id).limit(1)).scalar_one_or_none()
    if already is not None:
        record(db, clock, cfg, already, "warning", by[0], source=source, source_id=source_id, level=int(level))
        return already
    unit = db.get(OrgUnit, data["unit_id"])
    if unit is None:
        return None
    leads = [user for shift, user in on_duty(db, clock.now()) if shift.position == "lead"]
    incident_in = IncidentIn.model_validate({**data, "type": playbook.type, "level": level}, strict=False)
    students = {s.id: s for p in incident_in.people if p.student_id is not None if (s := db.get(Student, p.student_id))}
    return _create(db, clock, cfg, incident_in, unit, actor=by, commander=leads[0] if leads else None, students=students)


def on_escalation_began(cfg: IncidentConfig) -> EventHandler:
    """An escalation about an observation had its first step told (in the worker): the incident the
    ticked items may call for is looked up right after, in a transaction of its own, so that the first
    step's notices are stored and sent without waiting for it."""

    def handle(db: Session, clock: Clock, event: escalation_service.Began) -> None:
        if event.subject_type == "observation":
            deadlines.schedule(
                db,
                clock,
                kind=FROM_WARNING,
                subject_type="escalation",
                subject_id=event.escalation_id,
                due_at=clock.now(),
                payload={"observation_id": int(event.subject_id)},
            )

    return handle


def observation_suggestion(db: Session, cfg: IncidentConfig, observation: Observation) -> Suggestion | None:
    """The incident an observation's ticks call for in the playbooks' warning triggers, given the local
    time it was filed and the student's known risk factors (one place: the worker and the calibration
    set ask the same question)."""
    filed = observation.filed_at.astimezone(cfg.tz)
    known: list[str] = []
    if observation.student_id is not None:
        catalogue = load_factors(cfg.sop_dir)
        known = [item for item, _ in factor_import.known_items(db, catalogue, observation.student_id, filed.date())]
    facts = checklist_facts(load_checklist(cfg.sop_dir), observation.checklist, filed.time(), known)
    return suggest(cfg.library().playbooks.values(), facts)


def from_observation(db: Session, cfg: IncidentConfig, observation: Observation, playbook: Playbook) -> dict[str, Any]:
    """What an incident opened from a report carries: a plain title (its type and the place), the room and its
    building, the report's level, ticks and note as the summary (record text, so the disclosure policy
    redacts it for each reader), and the student at the report's level."""
    room = db.get(OrgUnit, observation.unit_id)
    building = db.get(OrgUnit, room.building_id) if room is not None and room.building_id is not None else None
    place = room.name_zh if room is not None else ""
    typed = str((observation.location or {}).get("text") or "").strip()
    location = " ".join(name for name in (building.name_zh if building else "", place) if name)
    if typed:
        location = f"{location}（{typed}）" if location else typed
    labels = {item.code: item.zh for item in load_checklist(cfg.sop_dir).items}
    ticks = "、".join(str(labels.get(code, code)) for code in observation.checklist)
    level = load_rubric(cfg.sop_dir).level(LevelCode(observation.level)).zh
    summary = f"报告分级：{level}。勾选：{ticks or '无'}。"
    if observation.note and observation.note.strip():
        summary += f"备注：{observation.note.strip()}"
    student = observation.student_id
    person = {"student_id": student, "involvement": "at_risk", "risk_level": observation.level}
    return {
        "title": f"{playbook.label.zh}：{place}" if place else str(playbook.label.zh),
        "unit_id": observation.unit_id,
        "location": location[:200],
        "summary": summary[:8000],
        "people": [person] if student is not None else [],
    }


def on_warning_due(cfg: IncidentConfig) -> deadlines.Handler:
    """Open the incident an observation's ticked items call for, at the gravest level among the matching
    triggers, or propose it to be confirmed when the trigger says so; with no trigger matching, the
    escalation stands alone."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        observation = db.get(Observation, int(deadline.payload["observation_id"]))
        if observation is None:
            return
        found = observation_suggestion(db, cfg, observation)
        if found is None:
            return
        filer = db.get(User, observation.filed_by)
        unit = db.get(OrgUnit, observation.unit_id)
        if unit is None:
            return
        if found.opens is Opens.CONFIRM:
            title = from_observation(db, cfg, observation, found.playbook)["title"]
            _propose(db, clock, cfg.events, found, unit, title, deadline.subject_id, observation)
            return
        data = from_observation(db, cfg, observation, found.playbook) | {"source": "escalation", "source_id": deadline.subject_id}
        by = (filer.id, filer.username) if filer is not None else (observation.filed_by, "")
        _open_from_warning(db, clock, cfg, (found.playbook, found.level), data, by)

    return handle


def _propose(
    db: Session,
    clock: Clock,
    events: Events,
    found: Suggestion,
    unit: OrgUnit,
    title: str,
    escalation_id: str,
    observation: Observation,
) -> None:
    """Record an incident for a person to confirm (once per escalation), and say so on the escalation."""
    exists = select(IncidentProposal.id).where(
        IncidentProposal.source == "escalation", IncidentProposal.source_id == escalation_id
    )
    if db.execute(exists).first() is not None:
        return
    db.add(
        IncidentProposal(
            type=found.playbook.type,
            level=int(found.level),
            title=title,
            unit_id=unit.id,
            unit_path=unit.path,
            source="escalation",
            source_id=escalation_id,
            observation_id=observation.id,
            student_id=observation.student_id,
            filed_by=observation.filed_by,
            status="pending",
            proposed_at=clock.now(),
        )
    )
    # Those told first hear it, and the escalation's timeline says so.
    told = select(User).join(EscalationRecipient, EscalationRecipient.user_id == User.id)
    told = told.where(EscalationRecipient.escalation_id == int(escalation_id), EscalationRecipient.step == 0)
    params = {"type_zh": found.playbook.label.zh, "type_en": found.playbook.label.en, "level": found.level.numeral}
    message = notify.Message(
        kind="incident_proposal",
        title_zh=translate("zh-CN", "proposal.title", title=title, **params),
        title_en=translate("en", "proposal.title", title=title, **params),
        body_zh=translate("zh-CN", "proposal.body", **params),
        body_en=translate("en", "proposal.body", **params),
        sms_zh=translate("zh-CN", "proposal.title", title=title, **params),
        data={"escalation_id": int(escalation_id), "type": found.playbook.type, "level": int(found.level)},
    )
    notices = [notify.Notice(user, [notify.IN_APP], message, "escalation", escalation_id) for user in db.execute(told).scalars()]
    notify.notify_many(db, clock, events, notices)
    detail = {"type": found.playbook.type, "level": int(found.level)}
    db.add(EscalationEvent(escalation_id=int(escalation_id), at=clock.now(), kind="incident_proposed", detail=detail))


def proposals(db: Session, principal: Principal, *, status: str | None = "pending", limit: int = 200) -> list[IncidentProposal]:
    """The incidents waiting for confirmation (or of another status) in the caller's scope, newest first;
    staff only (a student's grid roles do not learn what a report about a classmate led to)."""
    if not principal.has_role(*OPENS):
        raise Forbidden("incident proposals are for staff (response team, student affairs, counsellor, officer)")
    stmt = select(IncidentProposal).where(scope_clause(principal, IncidentProposal.unit_path))
    if status is not None:
        stmt = stmt.where(IncidentProposal.status == status)
    return list(db.execute(stmt.order_by(IncidentProposal.proposed_at.desc(), IncidentProposal.id.desc()).limit(limit)).scalars())


def decide_proposal(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, proposal_id: int, *, open_it: bool, reason: str | None
) -> IncidentProposal:
    """Open a proposed incident, or decline it with a reason; each proposal is decided once."""
    if not principal.has_role(*OPENS):
        raise Forbidden("deciding on an incident needs a staff role (response team, student affairs, counsellor, officer)")
    stmt = select(IncidentProposal).where(IncidentProposal.id == proposal_id, scope_clause(principal, IncidentProposal.unit_path))
    proposal = db.execute(stmt.with_for_update()).scalar_one_or_none()
    if proposal is None:
        raise missing_or_private(db, IncidentProposal, proposal_id, what="proposal", field="proposal_id")
    if proposal.status != "pending":
        raise Conflict(f"this proposal was already {proposal.status}")
    if not open_it and reason is None:
        raise InvalidInput("say why the incident is not needed", field="reason")
    proposal.decided_at, proposal.decided_by, proposal.reason = clock.now(), principal.user_id, reason
    if not open_it:
        proposal.status = "declined"
        return proposal
    library = cfg.library()
    playbook = library.get(proposal.type)
    if playbook is None:
        raise Conflict(f"the playbook {proposal.type!r} is no longer in the library")
    observation = db.get(Observation, proposal.observation_id) if proposal.observation_id is not None else None
    if observation is not None:
        data = from_observation(db, cfg, observation, playbook) | {"title": proposal.title}
    else:
        people = [{"student_id": proposal.student_id, "involvement": "at_risk"}] if proposal.student_id is not None else []
        data = {"title": proposal.title, "unit_id": proposal.unit_id, "people": people}
    data |= {"source": proposal.source, "source_id": proposal.source_id}
    incident = _open_from_warning(
        db, clock, cfg, (playbook, Level(proposal.level)), data, (principal.user_id, principal.username)
    )
    proposal.status, proposal.incident_id = "opened", incident.id if incident is not None else None
    return proposal


def on_major_opinion(cfg: IncidentConfig) -> EventHandler:
    """A major opinion item, once the school confirmed it, opens an online-opinion incident at the
    level its grade calls for."""

    def handle(db: Session, clock: Clock, event: MajorOpinionConfirmed) -> None:
        found = suggest(cfg.library().playbooks.values(), TriggerFacts(WarningSource.OPINION, [event.grade]))
        if found is None:
            return
        data = {"title": event.title, "unit_id": event.unit_id, "source": "opinion", "source_id": str(event.report_id)}
        _open_from_warning(db, clock, cfg, (found.playbook, found.level), data, (event.by.user_id, event.by.username))

    return handle


def register(cfg: IncidentConfig, handlers: DeadlineHandlers) -> None:
    """Wire incidents into the deadline sweeper and the domain events."""
    handlers.register(TASK_OVERDUE, on_task_overdue(cfg))
    handlers.register(FROM_WARNING, on_warning_due(cfg))
    cfg.events.subscribe(notify.DeliveryFailed, on_delivery_failed(cfg))
    cfg.events.subscribe(escalation_service.Began, on_escalation_began(cfg))
    cfg.events.subscribe(MajorOpinionConfirmed, on_major_opinion(cfg))


# --- the board ---------------------------------------------------------------------------------


def board_watermark(db: Session) -> int:
    """The newest timeline line of any incident: it moves whenever the board is told of a change."""
    return int(db.execute(select(func.max(IncidentEvent.id))).scalar_one() or 0)


def board(db: Session, clock: Clock, principal: Principal) -> dict[str, Any]:
    """The snapshot a board screen starts from (and re-syncs from after a gap)."""
    # The board is the staff's: a student's grid role does not put a crisis on their screen.
    incidents = [summary(db, clock, i) for i in list_incidents(db, principal) if sees_texts(principal.grants, i.unit_path)]
    duty = [
        {
            "user_id": user.id,
            "name": user.name,
            "position": shift.position,
            "ends_at": shift.ends_at.isoformat(),
        }
        for shift, user in on_duty(db, clock.now())
    ]
    return {"now": clock.now().isoformat(), "incidents": incidents, "on_duty": duty}
