"""HTTP API of the hazard ledger (/api/v1/hazards) and the high-risk zones (/api/v1/zones)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import (
    CSV_MEDIA_TYPES,
    TABLE_UPLOAD_OPENAPI,
    XLSX_MEDIA_TYPE,
    AppContext,
    ClockDep,
    Ctx,
    CurrentPrincipal,
    Db,
    Offset,
    PathId,
    import_refused,
    upload_body,
)
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, require_role
from riskcontrol.hazards import ledger_io, photos, rules, service, zones
from riskcontrol.hazards.models import Hazard, Zone
from riskcontrol.hazards.rules import Action
from riskcontrol.hazards.schemas import (
    AcceptIn,
    AssessIn,
    AssignIn,
    HazardEditIn,
    HazardEventOut,
    HazardIn,
    HazardOut,
    ImportOut,
    PhotoIn,
    ReasonIn,
    ReopenIn,
    SubmitIn,
    ZoneEditIn,
    ZoneIn,
    ZoneOut,
)
from riskcontrol.hazards.service import cfg_of

router = APIRouter(prefix="/api/v1", tags=["hazards"])

State = Literal["reported", "assessed", "assigned", "rectifying", "awaiting_acceptance", "closed", "dismissed"]
Level = Literal["red", "orange", "yellow", "blue"]


def hazard_out(hazard: Hazard) -> HazardOut:
    return HazardOut(
        id=hazard.id,
        title=hazard.title,
        category=hazard.category,
        description=hazard.description,
        location=hazard.geometry,
        lon=hazard.lon,
        lat=hazard.lat,
        place=hazard.place,
        building=hazard.building,
        floor=hazard.floor,
        photos=[{k: v for k, v in p.items() if k != "file"} for p in hazard.photos],
        found_by=hazard.found_by,
        found_at=hazard.found_at,
        origin=hazard.origin,
        origin_ref=hazard.origin_ref,
        likelihood=hazard.likelihood,
        impact=hazard.impact,
        score=service.score(hazard),
        level=hazard.level,
        unit_id=hazard.unit_id,
        owner_department=hazard.owner_department,
        owner_user_id=hazard.owner_user_id,
        measures=hazard.measures,
        deadline=hazard.deadline,
        funds=hazard.funds,
        contingency_plan=hazard.contingency_plan,
        state=hazard.state,
        overdue=hazard.overdue,
        supervised=hazard.supervised,
        rectification=hazard.rectification,
        submitted_at=hazard.submitted_at,
        acceptance_due_at=hazard.acceptance_due_at,
        accepted_at=hazard.accepted_at,
        accepted_by=hazard.accepted_by,
        acceptance_note=hazard.acceptance_note,
        closed_at=hazard.closed_at,
        updated_at=hazard.updated_at,
        legal_actions=[a.value for a in rules.legal_actions(rules.State(hazard.state))],
        seq=hazard.last_seq,
    )


def zone_out(zone: Zone) -> ZoneOut:
    return ZoneOut(
        id=zone.id,
        name=zone.name,
        level=zone.level,
        reason=zone.reason,
        windows=zone.windows,
        location=zone.geometry,
        lon=zone.lon,
        lat=zone.lat,
        public=zone.public,
        tip=zone.tip,
        active=zone.active,
        unit_id=zone.unit_id,
        updated_at=zone.updated_at,
    )


@router.get("/risk-matrix")
def risk_matrix(ctx: Ctx, _principal: CurrentPrincipal) -> dict[str, Any]:
    """The risk matrix and the hazard categories, as the school configured them."""
    return cfg_of(ctx).matrix().model_dump(mode="json")


@router.post("/hazards", status_code=201, responses=error_responses(403, 404, 422))
def report_hazard(body: HazardIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Report a hazard (from a phone or the desk); with likelihood and impact it is assessed at once."""
    hazard = service.create_hazard(db, ctx.clock, cfg_of(ctx), principal, body)
    out = hazard_out(hazard)
    db.commit()
    return out


@router.get("/hazards")
def list_hazards(
    db: Db,
    principal: CurrentPrincipal,
    state: State | None = None,
    level: Level | None = None,
    category: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    overdue: bool | None = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[HazardOut]:
    """Hazards in your grid scope, newest first, filtered by state, level, category or overdue."""
    rows = service.list_hazards(
        db,
        principal,
        state=state,
        level=level,
        category=category,
        overdue=overdue,
        open_only=open_only,
        limit=limit,
        offset=offset,
    )
    return [hazard_out(h) for h in rows]


async def ledger_body(request: Request) -> bytes:
    """The uploaded ledger (CSV or .xlsx as the request body), refused above 10 MB while it streams in."""
    return await upload_body(request, CSV_MEDIA_TYPES | {XLSX_MEDIA_TYPE}, what=phrase("refusal.upload.csv_or_xlsx"))


def _manager(principal: CurrentPrincipal) -> Principal:
    require_role(principal, *service.MANAGERS)
    return principal


@router.get("/hazards/export", responses={200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}}}})
def export_hazards(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv",
) -> Response:
    """The ledger in your scope as CSV (UTF-8 with BOM, opens in Excel) or an Excel workbook; re-importable."""
    data = ledger_io.export(db, ctx.clock, cfg_of(ctx), principal, fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_MEDIA_TYPE
    filename = f"hazard-ledger.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post(
    "/hazards/import",
    response_model=ImportOut,
    responses=error_responses(403, 409, 413, 415),
    openapi_extra=TABLE_UPLOAD_OPENAPI,
)
def import_hazards(
    request: Request,
    by: Annotated[Principal, Depends(_manager)],
    data: Annotated[bytes, Depends(ledger_body)],
    db: Db,
    ctx: Ctx,
) -> ImportOut | JSONResponse:
    """Import a ledger (CSV or .xlsx): every row is stored, or (when any row is bad) none is and each bad row is listed."""
    result = ledger_io.import_ledger(db, ctx.clock, cfg_of(ctx), by, data)
    if result.errors:
        db.rollback()
        return import_refused(request, result.errors)
    out = ImportOut(created=len(result.ids), ids=result.ids)
    db.commit()
    return out


@router.get("/hazards/{hazard_id}", responses=error_responses(404))
def get_hazard(hazard_id: PathId, db: Db, principal: CurrentPrincipal) -> HazardOut:
    return hazard_out(service.get(db, principal, hazard_id))


@router.patch("/hazards/{hazard_id}", responses=error_responses(403, 404, 422))
def edit_hazard(hazard_id: PathId, body: HazardEditIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Correct a hazard or move it (a new point or polygon); the history keeps what it was."""
    hazard = service.edit(db, ctx.clock, cfg_of(ctx), principal, hazard_id, body)
    out = hazard_out(hazard)
    db.commit()
    return out


@router.get("/hazards/{hazard_id}/history", responses=error_responses(404))
def hazard_history(hazard_id: PathId, db: Db, principal: CurrentPrincipal) -> list[HazardEventOut]:
    """Every change of the hazard, numbered, oldest first."""
    hazard = service.get(db, principal, hazard_id)
    return [
        HazardEventOut(seq=e.seq, at=e.at, actor_id=e.actor_id, kind=e.kind, data=e.data) for e in service.history(db, hazard.id)
    ]


def _act(
    db: Session, ctx: AppContext, principal: Principal, hazard_id: int, action: Action, body: service.ActionBody
) -> HazardOut:
    hazard = service.act(db, ctx.clock, cfg_of(ctx), principal, hazard_id, action, body)
    out = hazard_out(hazard)
    db.commit()
    return out


_ACT = error_responses(403, 404, 409, 422)


@router.post("/hazards/{hazard_id}/assess", responses=_ACT)
def assess(hazard_id: PathId, body: AssessIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Rate likelihood and impact (1–5 each); the matrix gives the colour band."""
    return _act(db, ctx, principal, hazard_id, Action.ASSESS, body)


@router.post("/hazards/{hazard_id}/assign", responses=_ACT)
def assign(hazard_id: PathId, body: AssignIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Assign the five fixes (五定): owner unit and person, measures, deadline, funds, contingency plan."""
    return _act(db, ctx, principal, hazard_id, Action.ASSIGN, body)


@router.post("/hazards/{hazard_id}/start", responses=_ACT)
def start(hazard_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """The owner starts rectifying."""
    return _act(db, ctx, principal, hazard_id, Action.START, None)


@router.post("/hazards/{hazard_id}/submit", responses=_ACT)
def submit(hazard_id: PathId, body: SubmitIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """The owner reports the rectification done and asks for on-site acceptance."""
    return _act(db, ctx, principal, hazard_id, Action.SUBMIT, body)


@router.post("/hazards/{hazard_id}/accept", responses=_ACT)
def accept(hazard_id: PathId, body: AcceptIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Accept the rectification on site and strike the hazard off (销号); only from awaiting acceptance."""
    return _act(db, ctx, principal, hazard_id, Action.ACCEPT, body)


@router.post("/hazards/{hazard_id}/reject", responses=_ACT)
def reject(hazard_id: PathId, body: ReasonIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Acceptance failed: back to rectification, with the reason."""
    return _act(db, ctx, principal, hazard_id, Action.REJECT, body)


@router.post("/hazards/{hazard_id}/reopen", responses=_ACT)
def reopen(hazard_id: PathId, body: ReopenIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """A closed hazard is back: rectify again by a new deadline."""
    return _act(db, ctx, principal, hazard_id, Action.REOPEN, body)


@router.post("/hazards/{hazard_id}/dismiss", responses=_ACT)
def dismiss(hazard_id: PathId, body: ReasonIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    """Not a hazard after all (or a duplicate): struck from the open ledger with the reason."""
    return _act(db, ctx, principal, hazard_id, Action.DISMISS, body)


@router.post("/hazards/{hazard_id}/photos", status_code=201, responses=error_responses(403, 404, 422))
def add_photo(hazard_id: PathId, body: PhotoIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HazardOut:
    hazard = photos.add_photo(db, ctx.clock, cfg_of(ctx), principal, hazard_id, body)
    out = hazard_out(hazard)
    db.commit()
    return out


@router.get("/hazards/{hazard_id}/photos/{n}", responses=error_responses(404))
def get_photo(hazard_id: PathId, n: PathId, db: Db, principal: CurrentPrincipal) -> FileResponse:
    path, media = photos.photo(db, principal, hazard_id, n)
    return FileResponse(path, media_type=media)


@router.get("/zones")
def list_zones(
    db: Db, principal: CurrentPrincipal, include_inactive: Annotated[bool, Query(alias="all")] = False
) -> list[ZoneOut]:
    """High-risk zones in your scope (active ones unless `all=true`)."""
    return [zone_out(z) for z in zones.zones_in_scope(db, principal, active_only=not include_inactive)]


@router.post("/zones", status_code=201, responses=error_responses(403, 404, 422))
def create_zone(body: ZoneIn, db: Db, clock: ClockDep, principal: CurrentPrincipal) -> ZoneOut:
    """Draw a high-risk zone: a polygon with a level, a reason, time windows, public or internal."""
    zone = zones.create_zone(db, clock, principal, body)
    out = zone_out(zone)
    db.commit()
    return out


@router.get("/zones/{zone_id}", responses=error_responses(404))
def get_zone(zone_id: PathId, db: Db, principal: CurrentPrincipal) -> ZoneOut:
    return zone_out(zones.get_zone(db, principal, zone_id))


@router.patch("/zones/{zone_id}", responses=error_responses(403, 404, 422))
def edit_zone(zone_id: PathId, body: ZoneEditIn, db: Db, clock: ClockDep, principal: CurrentPrincipal) -> ZoneOut:
    """Change or move a zone, or retire it (`active: false`)."""
    zone = zones.edit_zone(db, clock, principal, zone_id, body)
    out = zone_out(zone)
    db.commit()
    return out
