"""HTTP API of the grid: the units in the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskcontrol.core.http import CurrentPrincipal, Db, Offset, PathId, QueryId
from riskcontrol.grid import service
from riskcontrol.grid.rules import UnitKind
from riskcontrol.grid.schemas import UnitOut

router = APIRouter(prefix="/api/v1/grid", tags=["grid"])


@router.get("/units", response_model=list[UnitOut])
def list_units(
    db: Db,
    principal: CurrentPrincipal,
    kind: UnitKind | None = None,
    parent_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Offset = 0,
) -> list[UnitOut]:
    """The units in the caller's grid subtree, in tree order."""
    units = service.list_units(db, principal, kind=kind, parent_id=parent_id, limit=limit, offset=offset)
    return [UnitOut.model_validate(u) for u in units]


@router.get("/units/{unit_id}", response_model=UnitOut)
def get_unit(unit_id: PathId, db: Db, principal: CurrentPrincipal) -> UnitOut:
    """One unit; outside the caller's subtree it is a 403 (audited)."""
    return UnitOut.model_validate(service.get_unit(db, principal, unit_id))
