"""The incident timeline and the live board it feeds: appending lines, telling the board, the snapshot.

Every change appends to the incident's timeline in the same transaction and, once committed,
tells the live board (`BOARD_CHANNEL`) with the timeline's sequence number, so a screen that
misses a message sees the gap and re-syncs from `board()`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.bus import publish_after_commit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation.models import Escalation
from riskcontrol.incidents import timeline
from riskcontrol.incidents.config import IncidentConfig, machine_of, playbook_of
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentTask
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level
from riskcontrol.incidents.reading import FREE_TEXT, OPEN, get, list_incidents, require_command, tasks, wall_title
from riskcontrol.incidents.roster import on_duty
from riskcontrol.notify.models import Notification
from riskcontrol.people.disclosure_rules import sees_texts

BOARD_CHANNEL: Final = "board"

# Per session: the first timeline number of each incident not yet told to the board.
_UNTOLD = "riskcontrol.incidents.untold_from"
_LAST = "riskcontrol.incidents.last_event"


def append(db: Session, clock: Clock, incident: Incident, kind: str, actor_id: int | None, **data: Any) -> IncidentEvent:
    """Append a line to the incident's timeline; the board hears of it with the change's `tell_board`."""
    incident.last_seq += 1
    db.info.setdefault(_UNTOLD, {}).setdefault(incident.id, incident.last_seq)
    item = IncidentEvent(incident_id=incident.id, seq=incident.last_seq, at=clock.now(), kind=kind, actor_id=actor_id, data=data)
    db.add(item)
    db.info.setdefault(_LAST, {})[incident.id] = item
    return item


def last_event(db: Session, incident: Incident) -> IncidentEvent:
    """The line this session appended last to the incident's timeline."""
    event: IncidentEvent = db.info[_LAST][incident.id]
    return event


def _latest(db: Session, incident: Incident, rows: list[IncidentTask], tz: tzinfo, now: datetime) -> dict[str, Any] | None:
    """The incident's newest line in words, in both languages, by the one renderer (`incidents.timeline`): what
    happened, never in whose words (a note is passed over, a reason left out), as a wall may show it."""
    stmt = select(IncidentEvent).where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind != "note")
    event = db.execute(stmt.order_by(IncidentEvent.seq.desc()).limit(1)).scalar_one_or_none()
    if event is None:
        return None
    names = timeline.names_of(incident, rows)
    today = now.astimezone(tz).date()
    worded = {
        lang: timeline.entries(
            [event], names, lang=lang, tz=tz, today=today, data=lambda e: {k: v for k, v in e.data.items() if k not in FREE_TEXT}
        )[0]
        for lang in i18n.LANGUAGES
    }
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "at_text": {lang: entry.at_text for lang, entry in worded.items()},
        "text": {lang: entry.text for lang, entry in worded.items()},
    }


def summary(db: Session, clock: Clock, incident: Incident, *, tz: tzinfo, refresh: bool = False) -> dict[str, Any]:
    """An incident as the board shows it: level colour, state and SOP progress, next deadline,
    late tasks, notifications not yet read and their delivery, its newest line in words. With `refresh`
    (after a change), the incident's next deadline is brought up to date from its open tasks first."""
    sop = machine_of(incident).sop
    state = sop.state(incident.state)
    steps = [s for s in sop.states if s.step is not None]
    now = clock.now()
    rows = tasks(db, incident.id)
    open_tasks = [t for t in rows if t.status == OPEN]
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
        "latest": _latest(db, incident, rows, tz, now),
    }


def tell_board(db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, event: IncidentEvent) -> None:
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
        "incident": summary(db, clock, incident, tz=cfg.tz, refresh=True),
    }
    publish_after_commit(db, cfg.bus, BOARD_CHANNEL, message)


def record(
    db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, kind: str, actor_id: int | None, **data: Any
) -> IncidentEvent:
    """Append to the timeline and tell the board once committed."""
    event = append(db, clock, incident, kind, actor_id, **data)
    tell_board(db, clock, cfg, incident, event)
    return event


def add_note(db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident_id: int, text: str) -> IncidentEvent:
    """A note from the incident's command on its timeline."""
    incident = get(db, principal, incident_id, lock=True)
    require_command(db, principal, incident)
    if not text.strip():
        raise InvalidInput(phrase("refusal.incident.note_empty"), field="text")
    return record(db, clock, cfg, incident, "note", principal.user_id, text=text.strip(), by=principal.display_name)


def board_watermark(db: Session) -> int:
    """The newest timeline line of any incident: it moves whenever the board is told of a change."""
    return int(db.execute(select(func.max(IncidentEvent.id))).scalar_one() or 0)


def board(db: Session, clock: Clock, principal: Principal, *, tz: tzinfo) -> dict[str, Any]:
    """The snapshot a board screen starts from (and re-syncs from after a gap)."""
    # The board is the staff's: a student's grid role does not put a crisis on their screen.
    incidents = [summary(db, clock, i, tz=tz) for i in list_incidents(db, principal) if sees_texts(principal.grants, i.unit_path)]
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
