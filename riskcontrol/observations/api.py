"""HTTP API of observations: file from a phone (exactly once per client id), list and read in scope."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import NotFound, error_responses
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation
from riskcontrol.escalation.policy import load_policy
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import catalog, rules
from riskcontrol.observations.models import Observation
from riskcontrol.observations.reading import Graded, graded, my_reports, note_for, photo_shown
from riskcontrol.observations.schemas import (
    FiledOut,
    LevelOverrideIn,
    MyReportOut,
    ObservationIn,
    ObservationOut,
    ReasonOut,
)
from riskcontrol.observations.service import FilingRules, file_observation, override_level_of
from riskcontrol.people import disclosure

router = APIRouter(prefix="/api/v1/observations", tags=["observations"])

# How many observations one page of a list holds.
Limit = Annotated[int, Query(ge=1, le=500)]


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
        factors=catalog.load_factors(sop),
    )


def filed(o: Observation, g: Graded) -> FiledOut:
    return FiledOut(id=o.id, level=g.level, reasons=[ReasonOut(**r) for r in g.reasons], escalation_id=o.escalation_id)


def shown(o: Observation, g: Graded, *, note: str | None) -> ObservationOut:
    """`note`: the filer's words as the reader may read them (see `note_for`)."""
    return ObservationOut(
        id=o.id,
        client_id=o.client_id,
        filed_by=o.filed_by,
        unit_id=o.unit_id,
        student_id=o.student_id,
        checklist=o.checklist,
        note=note,
        observed_at=o.observed_at,
        filed_at=o.filed_at,
        suggested_level=g.suggested_level,
        level=g.level,
        score=g.score,
        reasons=[ReasonOut(**r) for r in g.reasons],
        override_reason=g.override_reason,
        escalation_id=o.escalation_id,
        has_photo=o.photo_path is not None,
    )


def _reader(
    db: Session, ctx: AppContext, principal: Principal, rows: Sequence[Observation]
) -> Callable[[Observation], ObservationOut]:
    """Each of `rows` as the caller may read it: its grading and its note (the units and students of all of
    them looked up at once)."""
    sop = ctx.settings.sop_dir
    checklist, rubric = catalog.load_checklist(sop), catalog.load_rubric(sop)
    unit_ids = {o.unit_id for o in rows}
    paths = dict(db.execute(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(unit_ids))).all()) if unit_ids else {}
    persons = disclosure.people(db, [o.student_id for o in rows])

    def read(o: Observation) -> ObservationOut:
        path = paths.get(o.unit_id, "")
        note = note_for(principal, o, path, persons.get(o.student_id) if o.student_id is not None else None)
        return shown(o, graded(o, principal, path, checklist, rubric), note=note)

    return read


@router.post("", status_code=201, response_model=FiledOut, responses={200: {"model": FiledOut, "description": "Already filed"}})
def create(body: ObservationIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> FiledOut | JSONResponse:
    """File an observation; the same `client_id` again answers 200 with the first filing's body."""
    observation, created = file_observation(db, ctx.clock, filing_rules(ctx), by=principal, data=body)
    db.commit()
    unit = db.get(OrgUnit, observation.unit_id)
    sop = ctx.settings.sop_dir
    grading = graded(observation, principal, unit.path if unit else "", catalog.load_checklist(sop), catalog.load_rubric(sop))
    reply = filed(observation, grading)
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
    ctx: Ctx,
    principal: CurrentPrincipal,
    level: Annotated[rules.LevelCode | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ObservationOut]:
    """Observations in the caller's scope (and their own), newest first, each as the caller may read it."""
    stmt = visible(principal).order_by(Observation.filed_at.desc(), Observation.id.desc())
    if level is None:
        rows = db.execute(stmt.limit(limit).offset(offset)).scalars().all()
        read = _reader(db, ctx, principal, rows)
        return [read(o) for o in rows]
    # Filtered on the level the caller reads, so the filter cannot tell what the register added.
    rows = db.execute(stmt).scalars().all()
    read = _reader(db, ctx, principal, rows)
    matching = (out for o in rows if (out := read(o)).level == level.value)
    return list(islice(matching, offset, offset + limit))


@router.get("/mine", response_model=list[MyReportOut])
def list_mine(db: Db, ctx: Ctx, principal: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0) -> list[MyReportOut]:
    """The caller's own reports, newest first: the level she may read, her ticks and note, the student by
    name, and how far the escalation has got (status, who acknowledged it and when), never the staff's words."""
    sop = ctx.settings.sop_dir
    return my_reports(db, principal, catalog.load_checklist(sop), catalog.load_rubric(sop), limit=limit, offset=offset)


def get_visible(db: Session, principal: Principal, observation_id: int) -> Observation:
    observation = db.execute(visible(principal).where(Observation.id == observation_id)).scalar_one_or_none()
    if observation is not None:
        return observation
    refusal = phrase("refusal.observation.not_found", id=observation_id)
    raise missing_or_private(db, Observation, observation_id, message=refusal, field="observation_id")


@router.get("/{observation_id}", response_model=ObservationOut, responses=error_responses(404))
def get_observation(observation_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> ObservationOut:
    observation = get_visible(db, principal, observation_id)
    return _reader(db, ctx, principal, [observation])(observation)


@router.get("/{observation_id}/photo", response_class=FileResponse, responses=error_responses(404))
def get_photo(observation_id: PathId, db: Db, principal: CurrentPrincipal) -> FileResponse:
    """The photo filed with an observation (kept private on the server), for whoever may read its words."""
    observation = get_visible(db, principal, observation_id)
    unit = db.get(OrgUnit, observation.unit_id)
    person = disclosure.people(db, [observation.student_id]).get(observation.student_id or 0)
    if not photo_shown(principal, observation, unit.path if unit else "", person) or observation.photo_path is None:
        raise NotFound(phrase("refusal.observation.no_photo", id=observation_id), field="observation_id")
    media = observation.photo_type or "application/octet-stream"
    return FileResponse(observation.photo_path, media_type=media, headers={"Cache-Control": "private, no-store"})


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
    return _reader(db, ctx, principal, [observation])(observation)
