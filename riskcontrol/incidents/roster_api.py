"""HTTP API of the duty roster: who is on duty now, the week, shifts, handovers and the coming gaps."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Query

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.core.instants import Day
from riskcontrol.incidents import roster
from riskcontrol.incidents.models import DutyShift
from riskcontrol.incidents.roster import RosterConfig
from riskcontrol.incidents.roster_rules import Gap, Position
from riskcontrol.incidents.roster_schemas import (
    GapOut,
    GapsOut,
    HandoverIn,
    HandoverNoteOut,
    HandoverOut,
    NowOut,
    OnDutyOut,
    RemovedOut,
    ShiftIn,
    ShiftOut,
    WeekOut,
)
from riskcontrol.people.models import User

router = APIRouter(prefix="/api/v1/roster", tags=["roster"])


def _cfg(ctx: AppContext) -> RosterConfig:
    cfg: RosterConfig = ctx.extras["roster"]
    return cfg


def shift_out(shift: DutyShift, user: User) -> ShiftOut:
    return ShiftOut(
        id=shift.id,
        user_id=user.id,
        name=user.name,
        position=shift.position,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        handover_note=shift.handover_note,
        created_at=shift.created_at,
        created_by=shift.created_by,
    )


def gap_out(gap: Gap) -> GapOut:
    return GapOut(position=gap.position.value, severity=gap.severity, starts_at=gap.starts_at, ends_at=gap.ends_at)


def _on_duty(person: roster.OnDuty) -> OnDutyOut:
    note = None
    if person.handed_over_by is not None:
        before, by = person.handed_over_by
        note = HandoverNoteOut(
            shift_id=before.id, user_id=by.id, name=by.name, ended_at=before.ends_at, note=before.handover_note
        )
    return OnDutyOut(**shift_out(person.shift, person.user).model_dump(), handover=note)


@router.get("/now", response_model=NowOut, responses=error_responses(403))
def now(db: Db, ctx: Ctx, principal: CurrentPrincipal) -> NowOut:
    """Who is on duty now, leads first, with the note the previous shift left and the next handover time."""
    roster.require_reader(principal)
    found = roster.current(db, ctx.clock.now())
    people = [_on_duty(person) for person in found.on_duty]
    return NowOut(
        at=found.at,
        leads=[p for p in people if p.position == Position.LEAD],
        deputies=[p for p in people if p.position == Position.DEPUTY],
        uncovered=[position.value for position in found.uncovered],
        next_handover_at=found.next_handover_at,
    )


@router.get("", response_model=WeekOut, responses=error_responses(403))
def week(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    start: Annotated[Day | None, Query(alias="from", description="YYYY-MM-DD; today if left out")] = None,
) -> WeekOut:
    """The roster for the 7 days from `from` (00:00 school time), with its gaps."""
    roster.require_reader(principal)
    tz = _cfg(ctx).tz
    day = start or ctx.clock.now().astimezone(tz).date()
    found = roster.week(db, datetime.combine(day, time(0), tzinfo=tz))
    return WeekOut(
        start=day,
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        shifts=[shift_out(shift, user) for shift, user in found.shifts],
        gaps=[gap_out(gap) for gap in found.gaps],
    )


@router.get("/gaps", response_model=GapsOut, responses=error_responses(403))
def gaps(db: Db, ctx: Ctx, principal: CurrentPrincipal) -> GapsOut:
    """The stretches of the coming 7 days with no lead (high) or no deputy (medium) on duty."""
    roster.require_reader(principal)
    cfg = _cfg(ctx)
    starts_at = ctx.clock.now()
    found = roster.coming_gaps(db, ctx.clock, days=cfg.horizon.days)
    return GapsOut(starts_at=starts_at, ends_at=starts_at + cfg.horizon, gaps=[gap_out(gap) for gap in found])


@router.post("/shifts", status_code=201, response_model=ShiftOut, responses=error_responses(403, 409))
def add_shift(body: ShiftIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> ShiftOut:
    """Roster someone as lead or deputy for one shift (student affairs and admins)."""
    shift, user = roster.add_shift(db, ctx.clock, principal, body, tz=_cfg(ctx).tz)
    reply = shift_out(shift, user)
    db.commit()
    return reply


@router.delete("/shifts/{shift_id}", response_model=RemovedOut, responses=error_responses(403, 404, 409))
def remove_shift(shift_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> RemovedOut:
    """Delete a shift that has not started, or end one under way now; past shifts stay on record."""
    outcome, shift = roster.remove_shift(db, ctx.clock, principal, shift_id)
    reply = RemovedOut(id=shift_id, outcome=outcome, ends_at=shift.ends_at if outcome == "ended" else None)
    db.commit()
    return reply


@router.post("/shifts/{shift_id}/handover", response_model=HandoverOut, responses=error_responses(403, 404, 409))
def handover(shift_id: PathId, body: HandoverIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HandoverOut:
    """The person on the shift writes what the next shift must know; the next on duty sees it under /now."""
    shift, user = roster.handover(db, ctx.clock, principal, shift_id, body.note)
    nexts = [shift_out(s, u) for s, u in roster.successors(db, shift)]
    reply = HandoverOut(**shift_out(shift, user).model_dump(), next=nexts)
    db.commit()
    return reply
