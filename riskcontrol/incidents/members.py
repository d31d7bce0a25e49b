"""Who is in an incident: the people involved and the holders of its command roles, checked and written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Conflict, InvalidInput
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.board import append, last_event, tell_board
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentRole
from riskcontrol.incidents.playbook_rules import IcsRole
from riskcontrol.incidents.reading import get, require_command
from riskcontrol.incidents.schemas import PersonIn
from riskcontrol.observations.rules import LevelCode
from riskcontrol.people import service as people_service
from riskcontrol.people.models import Student, User
from riskcontrol.people.rules import HOLDS_INCIDENT_ROLES

INVOLVEMENTS: Final = ("missing", "injured", "at_risk", "involved", "witness", "deceased")
# A person's level is the triage level of the report about them (sop/triage.yaml): red 紧急 … blue 关注.
RISK_LEVELS: Final = tuple(code.value for code in LevelCode)


def _active_user(db: Session, user_id: int, *, field: str) -> User:
    user = db.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(phrase("refusal.people.no_active_user", id=user_id), field=field)
    return user


def eligible_holder(db: Session, user_id: int, unit_path: str, *, field: str) -> User:
    """An active staff member whose grid role covers the incident's unit: the only people who may hold
    an incident-command role (never a student's grid role, nor a role held elsewhere)."""
    user = _active_user(db, user_id, field=field)
    if not people_service.holds_over(db, user.id, HOLDS_INCIDENT_ROLES, unit_path):
        raise InvalidInput(phrase("refusal.incident.not_staff_here", id=user_id), field=field)
    return user


def check_people(db: Session, principal: Principal, people_in: Sequence[PersonIn], prefix: str) -> dict[int, Student]:
    """Check every person before anything is written; `prefix` names the field (`people.0.`)."""
    found: dict[int, Student] = {}
    for i, person in enumerate(people_in):
        at = prefix.format(i=i)
        if person.involvement not in INVOLVEMENTS:
            involvements = listing((phrase(f"incident.involvement.{i}") for i in INVOLVEMENTS), style="or")
            raise InvalidInput(phrase("refusal.incident.involvement", choices=involvements), field=f"{at}involvement")
        if person.risk_level is not None and person.risk_level not in RISK_LEVELS:
            levels = listing((phrase(f"level.{level}") for level in RISK_LEVELS), style="or")
            raise InvalidInput(phrase("refusal.incident.risk_level", choices=levels), field=f"{at}risk_level")
        if person.student_id is None:
            if not person.name.strip():
                raise InvalidInput(phrase("refusal.incident.person_unnamed"), field=f"{at}name")
            continue
        student = db.get(Student, person.student_id)
        unit = db.get(OrgUnit, student.class_id) if student is not None else None
        if student is None or unit is None or not principal.covers(unit.path):
            raise InvalidInput(phrase("refusal.people.no_student", id=person.student_id), field=f"{at}student_id")
        found[person.student_id] = student
    return found


def insert_person(
    db: Session, clock: Clock, incident: Incident, person: PersonIn, actor_id: int, students: dict[int, Student]
) -> IncidentPerson:
    """Write a checked person into the incident, with a timeline line that names no one."""
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
    append(db, clock, incident, "person", actor_id, person_id=row.id, involvement=row.involvement)
    return row


def set_role_holder(db: Session, clock: Clock, incident: Incident, role: str, user: User, actor_id: int) -> None:
    """Give a command role to a checked user, ending whoever held it (the history is kept)."""
    now = clock.now()
    db.execute(
        update(IncidentRole)
        .where(IncidentRole.incident_id == incident.id, IncidentRole.role == role, IncidentRole.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    db.add(IncidentRole(incident_id=incident.id, role=role, user_id=user.id, assigned_at=now, assigned_by=actor_id))
    append(db, clock, incident, "role", actor_id, role=role, user_id=user.id, name=user.name)


def assign_role(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, role: str, user_id: int
) -> Incident:
    """Give one of the incident's command roles to a staff member over its unit."""
    incident = get(db, principal, incident_id, lock=True)
    require_command(db, principal, incident)
    if role not in {r.value for r in IcsRole}:
        roles = listing((phrase(f"incident.role.{r.value}") for r in IcsRole), style="or")
        raise InvalidInput(phrase("refusal.incident.ics_role", choices=roles), field="role")
    if not incident.is_open:
        raise Conflict(phrase("refusal.incident.closed"), field="incident_id")
    user = eligible_holder(db, user_id, incident.unit_path, field="user_id")
    set_role_holder(db, clock, incident, role, user, principal.user_id)
    tell_board(db, clock, cfg, incident, last_event(db, incident))
    return incident


def add_person(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, person: PersonIn
) -> IncidentPerson:
    """Add a person involved to an incident the caller runs."""
    incident = get(db, principal, incident_id, lock=True)
    require_command(db, principal, incident)
    students = check_people(db, principal, [person], "")
    row = insert_person(db, clock, incident, person, principal.user_id, students)
    tell_board(db, clock, cfg, incident, last_event(db, incident))
    return row
