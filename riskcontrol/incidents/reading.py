"""Reading incidents in the caller's scope: rows, command holders, tasks, timeline, and what each reader may see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Forbidden
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.service import scope_clause
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentPerson, IncidentRole, IncidentTask
from riskcontrol.people import disclosure
from riskcontrol.people.disclosure_rules import Shown
from riskcontrol.people.models import User
from riskcontrol.people.rules import STAFF_ROLES, Role

# What a task is: waiting to be done, done, or cancelled with its incident.
OPEN, DONE, CANCELLED = "open", "done", "cancelled"
# Who runs incidents besides the people holding a command role on one.
COMMANDS: Final = frozenset({Role.RESPONSE_TEAM, Role.STUDENT_AFFAIRS, Role.ADMIN})
# Timeline data that is someone's words (a note, a reason, evidence): shown as the policy allows.
FREE_TEXT: Final = frozenset({"text", "note", "reason", "evidence", "summary", "minutes", "outcome", "title"})


def in_scope(principal: Principal) -> Select[Incident]:
    """The incidents in the caller's part of the grid."""
    return select(Incident).where(scope_clause(principal, Incident.unit_path))


def get(db: Session, principal: Principal, incident_id: int, *, lock: bool = False) -> Incident:
    """One incident in the caller's scope (locked for a change with `lock`); the same 404 whether missing or out of scope."""
    stmt = in_scope(principal).where(Incident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    incident = db.execute(stmt).scalar_one_or_none()
    if incident is None:
        refusal = phrase("refusal.incident.not_found", id=incident_id)
        raise missing_or_private(db, Incident, incident_id, message=refusal, field="incident_id")
    return incident


def list_incidents(db: Session, principal: Principal, *, open_only: bool = True, limit: int = 200) -> list[Incident]:
    """The incidents in the caller's scope, gravest first, then newest."""
    stmt = in_scope(principal)
    if open_only:
        stmt = stmt.where(Incident.is_open.is_(True))
    return list(db.execute(stmt.order_by(Incident.level, Incident.started_at.desc()).limit(limit)).scalars())


def count_open(principal: Principal) -> Select[int]:
    """How many open incidents the board shows the caller, as a query: those where they hold a staff role (a
    student's grid role puts no crisis on their screen, as `board.board` has it)."""
    staff = principal.narrowed_to(*STAFF_ROLES)
    return select(func.count()).select_from(Incident).where(scope_clause(staff, Incident.unit_path), Incident.is_open.is_(True))


def from_source(db: Session, principal: Principal, source: str, source_id: str) -> list[Incident]:
    """The incidents in the caller's scope that a record (`source`, `source_id`: an escalation, say) opened, or
    that heard of it while already open (a warning about a student already in an open incident), oldest first."""
    opened = in_scope(principal).where(Incident.source == source, Incident.source_id == source_id)
    found = {incident.id: incident for incident in db.execute(opened).scalars()}
    heard = in_scope(principal).add_columns(IncidentEvent.data).join(IncidentEvent, IncidentEvent.incident_id == Incident.id)
    for incident, data in db.execute(heard.where(IncidentEvent.kind == "warning")):
        if data.get("source") == source and str(data.get("source_id")) == source_id:
            found.setdefault(incident.id, incident)
    return [found[key] for key in sorted(found)]


def holders(db: Session, incident_id: int) -> dict[str, int]:
    """The current holder of each filled command role."""
    rows = db.execute(
        select(IncidentRole.role, IncidentRole.user_id).where(
            IncidentRole.incident_id == incident_id, IncidentRole.ended_at.is_(None)
        )
    ).all()
    return {str(role): int(user_id) for role, user_id in rows}


def role_history(db: Session, incident_id: int) -> list[IncidentRole]:
    """Every command role ever held on the incident, in the order assigned."""
    stmt = select(IncidentRole).where(IncidentRole.incident_id == incident_id).order_by(IncidentRole.id)
    return list(db.execute(stmt).scalars())


def tasks(db: Session, incident_id: int) -> list[IncidentTask]:
    """The incident's tasks, soonest due first."""
    stmt = select(IncidentTask).where(IncidentTask.incident_id == incident_id).order_by(IncidentTask.due_at, IncidentTask.id)
    return list(db.execute(stmt).scalars())


def timeline(db: Session, incident_id: int, *, after_seq: int = 0) -> list[IncidentEvent]:
    """The incident's timeline after line `after_seq`, in order."""
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


def require_command(db: Session, principal: Principal, incident: Incident) -> None:
    """Refuse (403) a caller who may not run the incident."""
    if not may_command(db, principal, incident):
        raise Forbidden(phrase("refusal.incident.command_only"))


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


TYPE_MARK: Final = "："  # between an incident's type and its place in a title made from a report


def titled(type_label: str, place: str | None) -> str:
    """The plain title of an incident opened from a report: its type and the place (`心理危机：东1-101`)."""
    return f"{type_label}{TYPE_MARK}{place}" if place else type_label


def untyped(type_label: str, title: str) -> str:
    """A title without its leading type, for a text that names the type itself ('' when the type is all it says)."""
    return "" if title == type_label else title.removeprefix(f"{type_label}{TYPE_MARK}")


def wall_title(db: Session, incident: Incident) -> str:
    """The incident's title as a shared screen and a message to several people show it: everyone in it as a
    stand-in, no number or phone (the board hangs on a wall; a text lies on a lock screen). Names are read on
    the incident page, as the policy allows each reader."""
    _, persons = involved(db, incident)
    return disclosure.view((), incident.unit_path, persons).title(incident.title)


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
