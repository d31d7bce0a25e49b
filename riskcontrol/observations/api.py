"""HTTP API of observations: file from a phone (exactly once per client id), list and read in scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation
from riskcontrol.escalation.policy import load_policy
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import catalog, rules
from riskcontrol.observations.models import Observation
from riskcontrol.observations.schemas import FiledOut, LevelOverrideIn, ObservationIn, ObservationOut, ReasonOut
from riskcontrol.observations.service import FilingRules, file_observation, override_level_of

router = APIRouter(prefix="/api/v1/observations", tags=["observations"])


def filing_rules(ctx: AppContext) -> FilingRules:
    """The checklist, rubric and policy in force now (files are re-read when they change)."""
    sop = ctx.settings.sop_dir
    cfg: escalation.EscalationConfig = ctx.extras["escalation"]
    return FilingRules(
        checklist=catalog.load_checklist(sop),
        rubric=catalog.load_rubric(sop),
        policy=load_policy(sop),
        escalation=cfg,
        upload_dir=ctx.settings.var_dir / "uploads",
    )


def filed(o: Observation) -> FiledOut:
    return FiledOut(id=o.id, level=o.level, reasons=[ReasonOut(**r) for r in o.reasons], escalation_id=o.escalation_id)


def shown(o: Observation) -> ObservationOut:
    return ObservationOut(
        id=o.id,
        client_id=o.client_id,
        filed_by=o.filed_by,
        unit_id=o.unit_id,
        student_id=o.student_id,
        checklist=o.checklist,
        note=o.note,
        observed_at=o.observed_at,
        filed_at=o.filed_at,
        suggested_level=o.suggested_level,
        level=o.level,
        score=o.score,
        reasons=[ReasonOut(**r) for r in o.reasons],
        override_reason=o.override_reason,
        escalation_id=o.escalation_id,
        has_photo=o.photo_path is not None,
    )


@router.post("", status_code=201, response_model=FiledOut, responses={200: {"model": FiledOut, "description": "Already filed"}})
def create(body: ObservationIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> FiledOut | JSONResponse:
    """File an observation; the same `client_id` again answers 200 with the first filing's body."""
    observation, created = file_observation(db, ctx.clock, filing_rules(ctx), by=principal, data=body)
    db.commit()
    reply = filed(observation)
    return reply if created else JSONResponse(status_code=200, content=reply.model_dump())


def visible(principal: Principal) -> Select[Observation]:
    return (
        select(Observation)
        .join(OrgUnit, OrgUnit.id == Observation.unit_id)
        .where(or_(grid_service.scope_clause(principal, OrgUnit.path), Observation.filed_by == principal.user_id))
    )


@router.get("", response_model=list[ObservationOut])
def list_observations(
    db: Db,
    principal: CurrentPrincipal,
    level: Annotated[rules.LevelCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[ObservationOut]:
    """Observations in the caller's scope (and their own), newest first."""
    stmt = visible(principal)
    if level is not None:
        stmt = stmt.where(Observation.level == level.value)
    rows = db.execute(stmt.order_by(Observation.filed_at.desc(), Observation.id.desc()).limit(limit).offset(offset)).scalars()
    return [shown(o) for o in rows]


def get_visible(db: Session, principal: Principal, observation_id: int) -> Observation:
    observation = db.execute(visible(principal).where(Observation.id == observation_id)).scalar_one_or_none()
    if observation is not None:
        return observation
    raise missing_or_private(db, Observation, observation_id, what="observation", field="observation_id")


@router.get("/{observation_id}", response_model=ObservationOut, responses=error_responses(404))
def get_observation(observation_id: PathId, db: Db, principal: CurrentPrincipal) -> ObservationOut:
    return shown(get_visible(db, principal, observation_id))


@router.post("/{observation_id}/level", response_model=ObservationOut, responses=error_responses(403, 404))
def override_level(
    observation_id: PathId, body: LevelOverrideIn, db: Db, ctx: Ctx, principal: CurrentPrincipal
) -> ObservationOut:
    """A counselor sets the level with a written reason (kept and audited); the rubric only advises."""
    observation = get_visible(db, principal, observation_id)
    override_level_of(
        db,
        ctx.clock,
        filing_rules(ctx),
        by=principal,
        observation=observation,
        level=rules.LevelCode(body.level),
        reason=body.reason,
    )
    db.commit()
    return shown(observation)
