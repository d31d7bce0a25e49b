"""HTTP API of inspection rounds (/api/v1/inspections): checklists, rounds, walking one, the missed report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskcontrol.core.durations import format_duration
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.instants import Instant
from riskcontrol.hazards import inspections
from riskcontrol.hazards.inspection_rules import InspectionPlan, Item, Status
from riskcontrol.hazards.inspection_schemas import (
    PERIOD,
    ChecklistOut,
    CompleteIn,
    ItemOut,
    PlaceOut,
    ResultOut,
    RoundDetailOut,
    RoundOut,
    UnitRefOut,
)
from riskcontrol.hazards.inspections import RoundView, config
from riskcontrol.hazards.places import PlaceKind, Places

router = APIRouter(prefix="/api/v1/inspections", tags=["inspections"])


def item_out(item: Item) -> ItemOut:
    return ItemOut(
        code=item.code,
        zh=item.zh,
        en=item.en,
        hint_zh=item.hint.zh if item.hint else None,
        hint_en=item.hint.en if item.hint else None,
        category=item.category,
        likelihood=item.likelihood,
        impact=item.impact,
    )


def round_out(view: RoundView, plan: InspectionPlan, places: Places) -> RoundOut:
    row, unit = view.round, view.unit
    kp = plan.kind(row.place_kind)
    place = places.by_code.get(row.place_code)
    return RoundOut(
        id=row.id,
        place=PlaceOut(
            code=row.place_code,
            kind=row.place_kind,
            zh=place.zh if place else row.place_code,
            en=place.en if place else row.place_code,
            lon=row.lon,
            lat=row.lat,
        ),
        label_zh=kp.label.zh if kp else row.place_kind,
        label_en=kp.label.en if kp else row.place_kind,
        unit=UnitRefOut(id=unit.id, code=unit.code, kind=unit.kind, name_zh=unit.name_zh, name_en=unit.name_en),
        inspector_role=row.inspector_role,
        period=row.period,
        every=kp.every.value if kp else None,
        opens_at=row.opens_at,
        due_at=row.due_at,
        status=view.status.value,
        late=row.late,
        inspector_id=row.inspector_id,
        inspector_name=view.inspector_name,
        started_at=row.started_at,
        done_at=row.done_at,
        note=row.note,
        failed=len(row.hazard_ids),
        hazard_ids=list(row.hazard_ids),
        may_complete=view.may_complete,
    )


def detail_out(view: RoundView, plan: InspectionPlan, places: Places) -> RoundDetailOut:
    kp = plan.kind(view.round.place_kind)
    results = [
        ResultOut(code=r["code"], ok=r["ok"], note=r["note"], floor=r.get("floor", ""), hazard_id=r.get("hazard_id"))
        for r in view.round.results
    ]
    return RoundDetailOut(
        **round_out(view, plan, places).model_dump(),
        items=[item_out(item) for item in kp.items] if kp else [],
        results=results,
    )


@router.get("/checklists", response_model=list[ChecklistOut])
def get_checklists(ctx: Ctx, _principal: CurrentPrincipal) -> list[ChecklistOut]:
    """The checklist of each kind of place, how often it is walked, by whom and within how long."""
    return [
        ChecklistOut(
            kind=kind.value,
            label_zh=kp.label.zh,
            label_en=kp.label.en,
            every=kp.every.value,
            allow=format_duration(kp.allow),
            inspector_role=kp.inspector.role.value,
            inspector_at=kp.inspector.at.value,
            items=[item_out(item) for item in kp.items],
        )
        for kind, kp in config(ctx).plan().kinds.items()
    ]


@router.get("/rounds", response_model=list[RoundOut], responses=error_responses(422))
def get_rounds(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    status: Annotated[Status | None, Query(description="where rounds stand now: open, done or missed")] = None,
    kind: Annotated[PlaceKind | None, Query(description="the kind of place")] = None,
    period: Annotated[str | None, Query(pattern=PERIOD, description="a period code; the current periods by default")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[RoundOut]:
    """Rounds in your scope, missed first, then open by due time, then done."""
    cfg = config(ctx)
    views = inspections.list_rounds(
        db, ctx.clock, cfg, principal, status=status, kind=kind, period=period, limit=limit, offset=offset
    )
    plan, places = cfg.plan(), cfg.places()
    return [round_out(view, plan, places) for view in views]


@router.get("/missed", response_model=list[RoundOut], responses=error_responses(422))
def get_missed(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    kind: Annotated[PlaceKind | None, Query(description="the kind of place")] = None,
    since: Annotated[Instant | None, Query(description="due at or after this time; 180 days back by default")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[RoundOut]:
    """Rounds in your scope that missed their due time, still missed or walked late; the latest due first."""
    cfg = config(ctx)
    views = inspections.missed_rounds(db, ctx.clock, principal, kind=kind, since=since, limit=limit, offset=offset)
    plan, places = cfg.plan(), cfg.places()
    return [round_out(view, plan, places) for view in views]


@router.get("/rounds/{round_id}", response_model=RoundDetailOut, responses=error_responses(404))
def get_round(round_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> RoundDetailOut:
    """One round with the checklist to walk and, once done, every item as ticked."""
    cfg = config(ctx)
    view = inspections.get_round(db, ctx.clock, principal, round_id)
    return detail_out(view, cfg.plan(), cfg.places())


@router.post("/rounds/{round_id}/complete", response_model=RoundDetailOut, responses=error_responses(403, 404, 409, 422))
def complete(round_id: PathId, body: CompleteIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> RoundDetailOut:
    """Hand in a walked round: every checklist item ticked ok or failed (a failed one says what was found);
    each failed item goes on the hazard ledger at the place. After its due time the round is done late."""
    cfg = config(ctx)
    row = inspections.complete_round(db, ctx.clock, cfg, principal, round_id, body)
    reply = detail_out(inspections.get_round(db, ctx.clock, principal, row.id), cfg.plan(), cfg.places())
    db.commit()
    return reply
