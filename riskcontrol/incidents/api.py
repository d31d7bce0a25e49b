"""HTTP API of incidents: open, read, move through the SOP, tasks, notes, roles, people; the board."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, WebSocket
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import (
    MAX_ID,
    AppContext,
    ClockDep,
    Ctx,
    CurrentPrincipal,
    Db,
    PathId,
    ReaderLanguage,
    socket_principal,
    until_first_ends,
)
from riskcontrol.core.live import Fanout
from riskcontrol.core.outages import closed_on_outage
from riskcontrol.core.security import Principal
from riskcontrol.incidents import board, from_warning, members, moves, opening, reading, tasks, timeline
from riskcontrol.incidents.config import IncidentConfig, machine_of
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentTask
from riskcontrol.incidents.playbook_rules import Level
from riskcontrol.incidents.schemas import (
    EventOut,
    IncidentDetailOut,
    IncidentIn,
    IncidentOut,
    IncidentStateOut,
    NoteIn,
    PersonIn,
    ProposalDecisionIn,
    ProposalOut,
    RoleIn,
    RoleOut,
    TaskDoneIn,
    TaskOut,
    TransitionIn,
    TriggerOut,
)
from riskcontrol.people.disclosure import View
from riskcontrol.people.disclosure_rules import sees_texts

router = APIRouter(prefix="/api/v1", tags=["incidents"])
# Live screens connect at the root, like /ws/inbox.
sockets = APIRouter()

Trigger = Annotated[str, Path(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
RoleName = Annotated[str, Path(max_length=24, pattern=r"^[a-z][a-z0-9_]*$")]


def _cfg(ctx: AppContext) -> IncidentConfig:
    cfg: IncidentConfig = ctx.extras["incidents"]
    return cfg


def shown(incident: Incident, view: View) -> IncidentOut:
    return IncidentOut(**_fields(incident, view))


def _fields(incident: Incident, view: View) -> dict[str, Any]:
    """The incident's fields as the reader may see them (see `people.disclosure_rules`)."""
    return {
        "id": incident.id,
        "type": incident.type,
        "playbook_version": incident.playbook_version,
        "sop_version": incident.sop_version,
        "level": incident.level,
        "level_numeral": Level(incident.level).numeral,
        "state": incident.state,
        "is_open": incident.is_open,
        "title": view.title(incident.title),
        "location": incident.location,
        "summary": view.text(incident.summary),
        "unit_id": incident.unit_id,
        "source": incident.source,
        "source_id": incident.source_id,
        "started_at": incident.started_at,
        "closed_at": incident.closed_at,
        "merged_into_id": incident.merged_into_id,
        "drill": incident.drill,
        "drill_scale": incident.drill_scale,
        "seq": incident.last_seq,
        "next_due_at": incident.next_due_at,
    }


def task_out(task: IncidentTask, clock: Clock, view: View) -> TaskOut:
    return TaskOut(
        id=task.id,
        code=task.code,
        state=task.state,
        stream=task.stream,
        label_zh=task.label_zh,
        label_en=task.label_en,
        owner_role=task.owner_role,
        checklist=task.checklist,
        needs_evidence=task.needs_evidence,
        due_at=task.due_at,
        status=task.status,
        late=(task.done_at or clock.now()) > task.due_at if task.status != reading.CANCELLED else False,
        overdue_step=task.overdue_step,
        done_at=task.done_at,
        done_by=task.done_by,
        evidence=view.text(task.evidence) if task.evidence is not None else None,
    )


def events_out(
    db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident, events: list[IncidentEvent], view: View, lang: str
) -> list[EventOut]:
    """Timeline lines as this reader may read them, each also in words by the one renderer (`incidents.timeline`)."""
    names = timeline.names_of(incident, reading.tasks(db, incident.id))
    today = clock.now().astimezone(cfg.tz).date()

    def data(e: IncidentEvent) -> dict[str, Any]:
        return reading.event_data(view, e.data)

    worded = timeline.entries(events, names, lang=lang, tz=cfg.tz, today=today, data=data)
    return [
        EventOut(seq=e.seq, at=e.at, kind=e.kind, actor_id=e.actor_id, data=data(e), at_text=w.at_text, text=w.text)
        for e, w in zip(events, worded, strict=True)
    ]


def state_of(db: Session, clock: Clock, principal: Principal, incident: Incident) -> IncidentStateOut:
    machine = machine_of(incident)
    view = reading.reader_view(db, principal, incident)
    triggers = []
    for name in machine.legal(incident.state):
        spec = machine.sop.trigger(name)
        assert spec is not None
        triggers.append(
            TriggerOut(
                trigger=name, label=spec.label.model_dump(), dest=spec.dest, needs_reason=spec.needs_reason, confirm=spec.confirm
            )
        )
    return IncidentStateOut(
        **_fields(incident, view),
        legal_triggers=triggers,
        roles=reading.holders(db, incident.id),
        tasks=[task_out(t, clock, view) for t in reading.tasks(db, incident.id)],
        may_command=reading.may_command(db, principal, incident),
    )


def detail(
    db: Session, clock: Clock, cfg: IncidentConfig, principal: Principal, incident: Incident, lang: str
) -> IncidentDetailOut:
    """The whole picture, its timeline worded in `lang`; reading the people involved is audited (commit after)."""
    state = state_of(db, clock, principal, incident)
    history = reading.role_history(db, incident.id)
    lines = reading.timeline(db, incident.id)
    view = reading.reader_view(db, principal, incident)
    referred = [r.user_id for r in history] + [t.done_by for t in state.tasks] + [e.actor_id for e in lines]
    return IncidentDetailOut(
        **state.model_dump(),
        role_history=[
            RoleOut(role=r.role, user_id=r.user_id, assigned_at=r.assigned_at, assigned_by=r.assigned_by, ended_at=r.ended_at)
            for r in history
        ],
        people=reading.people(db, clock, principal, incident),
        timeline=events_out(db, clock, cfg, incident, lines, view, lang),
        users=reading.names(db, referred),
    )


@router.post("/incidents", status_code=201, responses=error_responses(403, 404, 422))
def open_incident(body: IncidentIn, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage) -> IncidentDetailOut:
    """Open an incident (a hotline call, or from an escalation, opinion report or hazard)."""
    incident = opening.open_incident(db, ctx.clock, _cfg(ctx), principal, body)
    db.commit()  # committed (and told to the board) before the reply is built
    out = detail(db, ctx.clock, _cfg(ctx), principal, incident, lang)
    db.commit()  # the audited read of the people involved
    return out


@router.get("/incidents")
def list_incidents(
    db: Db, principal: CurrentPrincipal, open_only: Annotated[bool, Query(alias="open")] = True
) -> list[IncidentOut]:
    """Incidents in your grid scope (open ones unless `open=false`)."""
    return [shown(i, reading.reader_view(db, principal, i)) for i in reading.list_incidents(db, principal, open_only=open_only)]


ProposalStatus = Literal["pending", "opened", "declined", "all"]


@router.get("/incident-proposals")
def list_proposals(
    db: Db, principal: CurrentPrincipal, status: Annotated[ProposalStatus, Query()] = "pending"
) -> list[ProposalOut]:
    """Incidents a report may call for, waiting for a person to confirm them (or decided), in your scope."""
    found = from_warning.proposals(db, principal, status=None if status == "all" else status)
    return [ProposalOut.model_validate(p, from_attributes=True) for p in found]


@router.post("/incident-proposals/{proposal_id}/decision", responses=error_responses(403, 404, 409, 422))
def decide_proposal(proposal_id: PathId, body: ProposalDecisionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> ProposalOut:
    """Open the proposed incident (`open: true`), or decline it (`open: false`, with `reason`)."""
    proposal = from_warning.decide_proposal(
        db, ctx.clock, _cfg(ctx), principal, proposal_id, open_it=body.open, reason=body.reason
    )
    db.commit()
    return ProposalOut.model_validate(proposal, from_attributes=True)


@router.get("/incidents/{incident_id}", responses=error_responses(404))
def get_incident(incident_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage) -> IncidentDetailOut:
    """The whole picture of one incident, its timeline in words in the reader's language (?lang=, cookie, header)."""
    incident = reading.get(db, principal, incident_id)
    out = detail(db, ctx.clock, _cfg(ctx), principal, incident, lang)
    db.commit()  # the audited read of the people involved
    return out


@router.get("/incidents/{incident_id}/timeline", responses=error_responses(404))
def get_timeline(
    incident_id: PathId,
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    lang: ReaderLanguage,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[EventOut]:
    """The timeline after sequence number `after` (a screen that saw a gap catches up here), in words too."""
    incident = reading.get(db, principal, incident_id)
    view = reading.reader_view(db, principal, incident)
    return events_out(db, ctx.clock, _cfg(ctx), incident, reading.timeline(db, incident.id, after_seq=after), view, lang)


@router.post("/incidents/{incident_id}/transitions/{trigger}", responses=error_responses(403, 404, 409, 422))
def fire(
    incident_id: PathId, trigger: Trigger, db: Db, ctx: Ctx, principal: CurrentPrincipal, body: TransitionIn | None = None
) -> IncidentStateOut:
    """Fire an SOP trigger; 409 with the legal triggers when it cannot fire from the current state."""
    incident = moves.transition(db, ctx.clock, _cfg(ctx), principal, incident_id, trigger, body or TransitionIn())
    db.commit()  # committed (and told to the board) before the reply is built
    return state_of(db, ctx.clock, principal, incident)


@router.get("/incidents/{incident_id}/tasks", responses=error_responses(404))
def list_tasks(incident_id: PathId, db: Db, clock: ClockDep, principal: CurrentPrincipal) -> list[TaskOut]:
    incident = reading.get(db, principal, incident_id)
    view = reading.reader_view(db, principal, incident)
    return [task_out(t, clock, view) for t in reading.tasks(db, incident.id)]


@router.post("/incidents/{incident_id}/tasks/{task_id}/complete", responses=error_responses(403, 404, 409, 422))
def complete_task(
    incident_id: PathId, task_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal, body: TaskDoneIn | None = None
) -> TaskOut:
    """Mark a task done: who and when are recorded, with the evidence given."""
    task = tasks.complete_task(db, ctx.clock, _cfg(ctx), principal, incident_id, task_id, (body or TaskDoneIn()).evidence)
    incident = reading.get(db, principal, incident_id)
    out = task_out(task, ctx.clock, reading.reader_view(db, principal, incident))
    db.commit()
    return out


@router.post("/incidents/{incident_id}/notes", status_code=201, responses=error_responses(403, 404, 422))
def add_note(incident_id: PathId, body: NoteIn, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage) -> EventOut:
    event = board.add_note(db, ctx.clock, _cfg(ctx), principal, incident_id, body.text)
    incident = reading.get(db, principal, incident_id)
    [out] = events_out(db, ctx.clock, _cfg(ctx), incident, [event], reading.reader_view(db, principal, incident), lang)
    db.commit()
    return out


@router.put("/incidents/{incident_id}/roles/{role}", responses=error_responses(403, 404, 409, 422))
def assign_role(
    incident_id: PathId, role: RoleName, body: RoleIn, db: Db, ctx: Ctx, principal: CurrentPrincipal
) -> dict[str, int]:
    """Hand a command role (commander, scribe, liaison, information officer …) to someone; history is kept."""
    incident = members.assign_role(db, ctx.clock, _cfg(ctx), principal, incident_id, role, body.user_id)
    out = reading.holders(db, incident.id)
    db.commit()
    return out


@router.post("/incidents/{incident_id}/people", status_code=201, responses=error_responses(403, 404, 422))
def add_person(incident_id: PathId, body: PersonIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> dict[str, int]:
    row = members.add_person(db, ctx.clock, _cfg(ctx), principal, incident_id, body)
    out = {"id": row.id}
    db.commit()
    return out


@router.get("/board")
def get_board(db: Db, ctx: Ctx, principal: CurrentPrincipal) -> dict[str, Any]:
    """The board's snapshot: open incidents in scope with their progress and deadlines, and who is on duty."""
    return board.board(db, ctx.clock, principal, tz=_cfg(ctx).tz)


def _board_snapshot(ctx: AppContext, principal: Principal) -> dict[str, Any]:
    with ctx.sessions() as db:
        return board.board(db, ctx.clock, principal, tz=_cfg(ctx).tz)


def _board_watermark(ctx: AppContext) -> int:
    with ctx.sessions() as db:
        return board.board_watermark(db)


def board_fanout(ctx: AppContext) -> Fanout:
    """This process's one subscription to the board, shared by its screens; while the bus is down,
    the screens re-sync whenever the timeline moves."""
    fanout: Fanout | None = ctx.extras.get("board_fanout")
    if fanout is None:
        fanout = ctx.extras["board_fanout"] = Fanout(
            ctx.bus, board.BOARD_CHANNEL, watermark=lambda: _board_watermark(ctx), retry_seconds=ctx.settings.bus_retry_seconds
        )
    return fanout


@sockets.websocket("/ws/board")
async def board_socket(websocket: WebSocket) -> None:
    """The board, live: a snapshot, then every incident event in scope, each with its sequence number.

    Through a bus outage the socket stays open, and the screen is told to re-sync whenever the
    timeline moved (see `core.live.Fanout`)."""
    ctx: AppContext = websocket.app.state.ctx
    async with closed_on_outage(websocket):
        principal = await socket_principal(websocket)
        if principal is None:
            return
        await websocket.accept()
        # Listen before taking the snapshot, so nothing committed in between is missed.
        async with board_fanout(ctx).listen() as queue:
            snapshot = await run_in_threadpool(_board_snapshot, ctx, principal)
            await websocket.send_json({"type": "snapshot", **snapshot})

            async def forward() -> None:
                while True:
                    envelope = await queue.get()
                    path = envelope.message.get("unit_path")
                    if path is None or sees_texts(principal.grants, str(path)):
                        await websocket.send_text(envelope.text)

            async def receive() -> None:
                while True:
                    await websocket.receive_text()  # pings; a closed socket ends the loop

            await until_first_ends(forward, receive)
