"""HTTP API of prevention: coverage per unit, rounds, and signing a round off."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db, Offset, PathId, QueryId
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import prevention
from riskcontrol.incidents.playbook_rules import PreventionMeasure
from riskcontrol.incidents.prevention import MeasureKey, RoundView, config
from riskcontrol.incidents.prevention_rules import Tally
from riskcontrol.incidents.prevention_schemas import (
    PERIOD,
    CompleteIn,
    CoverageOut,
    MeasureCoverageOut,
    RoundOut,
    TallyOut,
    UnitCoverageOut,
    UnitRefOut,
)

router = APIRouter(prefix="/api/v1/prevention", tags=["prevention"])


def unit_ref(unit: OrgUnit) -> UnitRefOut:
    return UnitRefOut(id=unit.id, code=unit.code, kind=unit.kind, name_zh=unit.name_zh, name_en=unit.name_en)


def round_out(view: RoundView, labels: dict[MeasureKey, PreventionMeasure]) -> RoundOut:
    row = view.round
    measure = labels.get((row.playbook_type, row.measure_code))
    evidence = measure.evidence if measure is not None else None
    return RoundOut(
        id=row.id,
        playbook_type=row.playbook_type,
        measure_code=row.measure_code,
        label_zh=measure.label.zh if measure else row.measure_code,
        label_en=measure.label.en if measure else row.measure_code,
        evidence_label_zh=evidence.zh if evidence else None,
        evidence_label_en=evidence.en if evidence else None,
        every=measure.every.value if measure else None,
        unit=unit_ref(view.unit),
        owner_role=row.owner_role,
        period=row.period,
        opens_at=row.opens_at,
        due_at=row.due_at,
        status=view.bucket.value,
        late=row.late,
        done_at=row.done_at,
        done_by=row.done_by,
        done_by_name=view.done_by_name,
        evidence=row.evidence,
        covered=row.covered,
        population=row.population,
        may_complete=view.may_complete,
    )


@router.get("/coverage", response_model=CoverageOut, responses=error_responses(403, 404))
def get_coverage(db: Db, ctx: Ctx, principal: CurrentPrincipal, unit_id: QueryId = None) -> CoverageOut:
    """This period's prevention coverage for each unit under `unit_id` (or each of your top units), per
    measure: rounds done, due, overdue and the percentage done, counted over each unit's subtree."""
    cfg = config(ctx)
    library = cfg.library()
    found = prevention.coverage(db, ctx.clock, cfg.calendar, library, principal, unit_id)
    labels = prevention.measures(library)

    def measure_out(key: MeasureKey, tally: Tally) -> MeasureCoverageOut:
        measure = labels.get(key)
        return MeasureCoverageOut(
            playbook_type=key[0],
            measure_code=key[1],
            label_zh=measure.label.zh if measure else key[1],
            label_en=measure.label.en if measure else key[1],
            every=measure.every.value if measure else None,
            owner_role=measure.owner_role if measure else None,
            tally=TallyOut.of(tally),
        )

    return CoverageOut(
        unit=unit_ref(found.unit) if found.unit is not None else None,
        trail=[unit_ref(unit) for unit in found.trail],
        periods=found.periods,
        own=TallyOut.of(found.own),
        whole=TallyOut.of(found.whole),
        units=[
            UnitCoverageOut(
                unit=unit_ref(line.unit),
                has_children=line.has_children,
                total=TallyOut.of(line.total),
                measures=[measure_out(key, tally) for key, tally in line.measures],
            )
            for line in found.units
        ],
    )


@router.get("/rounds", response_model=list[RoundOut], responses=error_responses(403, 404))
def get_rounds(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    unit_id: QueryId = None,
    status: Annotated[Literal["due", "overdue", "done"] | None, Query(description="where rounds stand now")] = None,
    period: Annotated[str | None, Query(pattern=PERIOD, description="a period code; the current periods by default")] = None,
    own: Annotated[bool, Query(description="only the rounds of `unit_id` itself, not of the units under it")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[RoundOut]:
    """Rounds in your scope (under `unit_id` when given), overdue first, then by due time."""
    cfg = config(ctx)
    views = prevention.list_rounds(
        db,
        ctx.clock,
        cfg.calendar,
        principal,
        unit_id=unit_id,
        own_only=own,
        status=status,
        period=period,
        limit=limit,
        offset=offset,
    )
    labels = prevention.measures(cfg.library())
    return [round_out(view, labels) for view in views]


@router.post("/rounds/{round_id}/complete", response_model=RoundOut, responses=error_responses(403, 404, 409, 422))
def complete(round_id: PathId, body: CompleteIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> RoundOut:
    """Sign a round off (its owner at the unit, or a counsellor, college officer, student affairs, or a
    safety officer for buildings and rooms); after its due time it is recorded as late."""
    cfg = config(ctx)
    library = cfg.library()
    row = prevention.complete_round(
        db, ctx.clock, principal, round_id, body.evidence, body.covered, body.population, library=library
    )
    view = prevention.round_view(db, ctx.clock, principal, row)
    reply = round_out(view, prevention.measures(library))
    db.commit()
    return reply
