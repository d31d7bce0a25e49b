"""Incidents a warning calls for: a red report's ticks or a major opinion item open one, or propose it to be confirmed."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import deadlines, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.events import EventHandler, Events
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation_service
from riskcontrol.escalation.models import EscalationEvent, EscalationRecipient
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.service import scope_clause
from riskcontrol.incidents.board import record
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentProposal
from riskcontrol.incidents.opening import OPENS, create
from riskcontrol.incidents.playbook_rules import (
    Level,
    Opens,
    Playbook,
    Suggestion,
    TriggerFacts,
    WarningSource,
    checklist_facts,
    suggest,
)
from riskcontrol.incidents.reading import titled
from riskcontrol.incidents.roster import on_duty
from riskcontrol.incidents.schemas import IncidentIn
from riskcontrol.notify import service as notify
from riskcontrol.observations.catalog import load_checklist, load_factors, load_rubric
from riskcontrol.observations.models import Observation
from riskcontrol.observations.opinion_service import MajorOpinionConfirmed
from riskcontrol.observations.rules import LevelCode
from riskcontrol.people import factor_import
from riskcontrol.people.models import Student, User

# A red warning told its first step: open the incident its ticked items call for, in its own transaction.
FROM_WARNING: Final = "incident.from_warning"


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
    return create(db, clock, cfg, incident_in, unit, actor=by, commander=leads[0] if leads else None, students=students)


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
        "title": titled(str(playbook.label.zh), place),
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
    params = {"type": found.playbook.label, "level": found.level.numeral}
    message = notify.Message.worded(
        "incident_proposal",
        title=i18n.phrase("proposal.title", title=title, **params),
        body=i18n.phrase("proposal.body", **params),
        sms=i18n.phrase("proposal.title", title=title, **params),
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
        raise Forbidden(phrase("refusal.proposal.staff_only"))
    stmt = select(IncidentProposal).where(scope_clause(principal, IncidentProposal.unit_path))
    if status is not None:
        stmt = stmt.where(IncidentProposal.status == status)
    return list(db.execute(stmt.order_by(IncidentProposal.proposed_at.desc(), IncidentProposal.id.desc()).limit(limit)).scalars())


def decide_proposal(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, proposal_id: int, *, open_it: bool, reason: str | None
) -> IncidentProposal:
    """Open a proposed incident, or decline it with a reason; each proposal is decided once."""
    if not principal.has_role(*OPENS):
        raise Forbidden(phrase("refusal.proposal.decide_forbidden"))
    stmt = select(IncidentProposal).where(IncidentProposal.id == proposal_id, scope_clause(principal, IncidentProposal.unit_path))
    proposal = db.execute(stmt.with_for_update()).scalar_one_or_none()
    if proposal is None:
        refusal = phrase("refusal.proposal.not_found", id=proposal_id)
        raise missing_or_private(db, IncidentProposal, proposal_id, message=refusal, field="proposal_id")
    if proposal.status != "pending":
        raise Conflict(phrase("refusal.proposal.decided", status=phrase(f"refusal.proposal.{proposal.status}")))
    if not open_it and reason is None:
        raise InvalidInput(phrase("refusal.proposal.reason_missing"), field="reason")
    proposal.decided_at, proposal.decided_by, proposal.reason = clock.now(), principal.user_id, reason
    if not open_it:
        proposal.status = "declined"
        return proposal
    library = cfg.library()
    playbook = library.get(proposal.type)
    if playbook is None:
        raise Conflict(phrase("refusal.proposal.playbook_gone", type=proposal.type))
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
