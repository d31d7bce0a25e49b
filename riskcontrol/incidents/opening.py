"""Opening an incident: checked by hand (a hotline call, a report) and written with all that comes with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Forbidden, InvalidInput
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.models import Hazard
from riskcontrol.incidents.board import append, last_event, tell_board
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.members import check_people, eligible_holder, insert_person, set_role_holder
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.paging import PAGES_ON_DUTY, page_on_duty
from riskcontrol.incidents.playbook_rules import IcsRole, Level
from riskcontrol.incidents.reading import COMMANDS
from riskcontrol.incidents.schemas import IncidentIn
from riskcontrol.incidents.tasks import open_tasks
from riskcontrol.observations.models import Observation
from riskcontrol.observations.opinion_models import OpinionReport
from riskcontrol.people.models import Student, User
from riskcontrol.people.rules import Role

SOURCES: Final = ("hotline", "escalation", "opinion", "hazard", "observation")
# Who may open one (a hotline call, a counsellor's or an officer's report).
OPENS: Final = COMMANDS | {Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.SAFETY_OFFICER, Role.PSYCH_CENTER, Role.OPINION_OFFICER}


def open_incident(db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, data: IncidentIn) -> Incident:
    """Open an incident by hand (a hotline call) or from an escalation, opinion report or hazard:
    checks everything first, then writes the row and what comes with it (see `create`)."""
    if not principal.has_role(*OPENS):
        raise Forbidden(phrase("refusal.incident.open_forbidden"))
    unit = db.get(OrgUnit, data.unit_id)
    if unit is None or not principal.covers(unit.path):
        refusal = phrase("refusal.grid.no_unit", id=data.unit_id)
        raise missing_or_private(db, OrgUnit, data.unit_id, message=refusal, field="unit_id")
    _check_source(db, principal, data)
    commander = eligible_holder(db, data.commander_id or principal.user_id, unit.path, field="commander_id")
    students = check_people(db, principal, data.people, "people.{i}.")
    actor = (principal.user_id, principal.username)
    return create(db, clock, cfg, data, unit, actor=actor, commander=commander, students=students)


def _check_source(db: Session, principal: Principal, data: IncidentIn) -> None:
    if data.source not in SOURCES:
        sources = listing((phrase(f"refusal.incident.source.{source}") for source in SOURCES), style="or")
        raise InvalidInput(phrase("refusal.incident.source_unknown", choices=sources), field="source")
    if data.source == "hotline":
        return
    if data.source_id is None or not data.source_id.isdigit():
        refusal = phrase("refusal.incident.source_id_missing", source=phrase(f"refusal.incident.source.{data.source}"))
        raise InvalidInput(refusal, field="source_id")
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
        source = phrase(f"refusal.incident.source.{data.source}")
        raise InvalidInput(phrase("refusal.incident.source_not_found", source=source, id=data.source_id), field="source_id")


def create(
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
        known = listing((library.playbooks[code].label for code in library.types()), style="or")
        raise InvalidInput(phrase("refusal.incident.type_unknown", type=data.type, known=known), field="type")
    now = clock.now()
    started = data.started_at or now
    if started > now + timedelta(minutes=1):
        raise InvalidInput(phrase("refusal.incident.start_future"), field="started_at")
    if data.drill_scale != 1.0 and not data.drill:
        raise InvalidInput(phrase("refusal.incident.scale_not_drill"), field="drill_scale")
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
    append(
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
        set_role_holder(db, clock, incident, IcsRole.COMMANDER.value, commander, actor_id)
    for person in data.people:
        insert_person(db, clock, incident, person, actor_id, students)
    open_tasks(db, clock, incident, incident.state, actor_id)
    if Level(incident.level) in PAGES_ON_DUTY:
        page_on_duty(db, clock, cfg, incident)
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
    tell_board(db, clock, cfg, incident, last_event(db, incident))
    return incident
