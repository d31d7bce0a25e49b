"""The figures on the home page's tiles: for one person, the number each tile's page holds for them, in one query."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from riskcontrol.core.http import AppContext
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation_service
from riskcontrol.hazards import inspections
from riskcontrol.hazards import service as hazard_service
from riskcontrol.incidents import prevention
from riskcontrol.incidents import reading as incident_reading
from riskcontrol.observations import reading as observation_reading
from riskcontrol.reviews import service as review_service


class Tile(StrEnum):
    """A home tile that carries a figure, and what the figure counts (each within the person's grid subtree)."""

    INBOX = "inbox"  # warnings waiting for my acknowledgement
    MY_REPORTS = "my_reports"  # my reports not yet dealt with
    HAZARD_REPORT = "hazard_report"  # hazards I reported that are still being dealt with
    BOARD = "board"  # open incidents
    PREVENTION = "prevention"  # prevention rounds of the current periods past their due time
    INSPECTIONS = "inspections"  # inspection rounds of the current periods not walked yet
    REVIEWS = "reviews"  # review meetings still to be held
    RISK_MAP = "risk_map"  # open hazards past their rectification deadline


Figure = Callable[[AppContext, Principal], Select[int]]

# Each figure is one domain's own count (the same rows its page lists), built only when the tile is shown.
FIGURES: Final[Mapping[Tile, Figure]] = {
    Tile.INBOX: lambda ctx, p: escalation_service.count_waiting_for(p.user_id),
    Tile.MY_REPORTS: lambda ctx, p: observation_reading.count_my_open_reports(p.user_id),
    Tile.HAZARD_REPORT: lambda ctx, p: hazard_service.count_reported_open(p.user_id),
    Tile.BOARD: lambda ctx, p: incident_reading.count_open(p),
    Tile.PREVENTION: lambda ctx, p: prevention.count_overdue(prevention.config(ctx).calendar, p, ctx.clock.now()),
    Tile.INSPECTIONS: lambda ctx, p: inspections.count_waiting(inspections.config(ctx), p, ctx.clock.now()),
    Tile.REVIEWS: lambda ctx, p: review_service.count_to_hold(p),
    Tile.RISK_MAP: lambda ctx, p: hazard_service.count_overdue(p),
}


def figures(db: Session, ctx: AppContext, principal: Principal, tiles: Iterable[Tile]) -> dict[Tile, int]:
    """The figure of each of `tiles` for `principal`, all read in one round trip to the database."""
    wanted = list(dict.fromkeys(tiles))
    if not wanted:
        return {}
    row = db.execute(select(*(FIGURES[tile](ctx, principal).scalar_subquery().label(tile.value) for tile in wanted))).one()
    return {tile: int(value or 0) for tile, value in zip(wanted, row, strict=True)}
