"""HTTP API of legal holds: student affairs place, list and release them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.privacy import service
from riskcontrol.privacy.models import LegalHold
from riskcontrol.privacy.schemas import HoldIn, HoldOut, ReleaseIn

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


def hold_out(hold: LegalHold) -> HoldOut:
    return HoldOut.model_validate(hold, from_attributes=True)


@router.get("/holds", response_model=list[HoldOut], responses=error_responses(403))
def holds(db: Db, principal: CurrentPrincipal, include_released: Annotated[bool, Query()] = False) -> list[HoldOut]:
    """Holds on students and incidents in your scope (open ones unless asked for all)."""
    return [hold_out(h) for h in service.list_holds(db, principal, include_released=include_released)]


@router.post("/holds", status_code=201, response_model=HoldOut, responses=error_responses(403, 404, 422))
def place(data: HoldIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HoldOut:
    """Place a legal hold: nothing about the student or incident is deleted or anonymised while it is open."""
    hold = service.place(db, ctx.clock, principal, subject_type=data.subject_type, subject_id=data.subject_id, reason=data.reason)
    db.commit()
    return hold_out(hold)


@router.post("/holds/{hold_id}/release", response_model=HoldOut, responses=error_responses(403, 404, 409, 422))
def release(hold_id: PathId, data: ReleaseIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> HoldOut:
    """Release a hold; what it kept falls due again at the next retention run."""
    hold = service.release(db, ctx.clock, principal, hold_id=hold_id, reason=data.reason)
    db.commit()
    return hold_out(hold)
