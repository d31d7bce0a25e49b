"""HTTP API of opinion (舆情) reports: file once per client id, list and read in scope, acknowledge, close, weekly review."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import InvalidInput, error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import opinion_rules as rules
from riskcontrol.observations import opinion_service as service
from riskcontrol.observations.opinion_models import OpinionReport
from riskcontrol.observations.opinion_schemas import (
    FiledOut,
    OpinionReportIn,
    OpinionReportOut,
    OutcomeIn,
    ReasonOut,
    WeeklyEntryOut,
    WeeklyOut,
)

router = APIRouter(prefix="/api/v1/opinion", tags=["opinion"])
ALREADY_FILED: dict[int | str, dict[str, Any]] = {200: {"model": FiledOut, "description": "Already filed"}}
Week = Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W48")]


def filed(r: OpinionReport) -> FiledOut:
    due = r.first_report_due_at
    return FiledOut(
        id=r.id,
        grade=r.grade,
        major=r.major,
        score=r.score,
        reasons=[ReasonOut(**reason) for reason in r.reasons],
        first_report_due_at=due,
        overdue_when_filed=due is not None and due < r.filed_at,
    )


def shown(r: OpinionReport, clock: Clock) -> OpinionReportOut:
    waiting = r.first_report_due_at is not None and r.reported_at is None and r.status == service.OPEN
    return OpinionReportOut(
        id=r.id,
        client_id=r.client_id,
        filed_by=r.filed_by,
        unit_id=r.unit_id,
        title=r.title,
        platforms=r.platforms,
        url=r.url,
        summary=r.summary,
        reposts=r.facts["reposts"],
        views=r.facts["views"],
        media=r.facts["media"],
        attention=r.facts["attention"],
        topics=r.facts["topics"],
        trend=r.trend,
        discovered_at=r.discovered_at,
        filed_at=r.filed_at,
        grade=r.grade,
        major=r.major,
        score=r.score,
        reasons=[ReasonOut(**reason) for reason in r.reasons],
        status=r.status,
        first_report_due_at=r.first_report_due_at,
        seconds_left=int((r.first_report_due_at - clock.now()).total_seconds()) if waiting and r.first_report_due_at else None,
        reported_at=r.reported_at,
        reported_by=r.reported_by,
        breached=r.breached,
        breached_at=r.breached_at,
        late_seconds=r.late_seconds,
        closed_at=r.closed_at,
        outcome=r.outcome,
        escalation_id=r.escalation_id,
    )


def visible(principal: Principal) -> Select[OpinionReport]:
    """Reports about units in the caller's scope, and those the caller filed."""
    in_scope = grid_service.scope_clause(principal, OrgUnit.path)
    stmt = select(OpinionReport).join(OrgUnit, OrgUnit.id == OpinionReport.unit_id)
    return stmt.where(or_(in_scope, OpinionReport.filed_by == principal.user_id))


def get_visible(db: Session, principal: Principal, report_id: int) -> OpinionReport:
    report = db.execute(visible(principal).where(OpinionReport.id == report_id)).scalar_one_or_none()
    if report is not None:
        return report
    refusal = phrase("refusal.opinion.not_found", id=report_id)
    raise missing_or_private(db, OpinionReport, report_id, message=refusal, field="report_id")


def week_bounds(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 local of ISO week 'YYYY-Www' and of the week after, as aware UTC; a 422 if there is no such week."""
    year, _, number = week.partition("-W")
    try:
        monday = date.fromisocalendar(int(year), int(number), 1)
        start, end = (datetime.combine(monday + timedelta(days=d), time(0), tzinfo=tz) for d in (0, 7))
        return start.astimezone(UTC), end.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(phrase("refusal.opinion.week", week=week), field="week") from exc


@router.post("/reports", status_code=201, response_model=FiledOut, responses=ALREADY_FILED)
def create(body: OpinionReportIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> FiledOut | JSONResponse:
    """File an item; the same `client_id` again answers 200 with the first filing's body."""
    cfg = service.OpinionConfig.from_settings(ctx.settings)
    report, created = service.file_report(db, ctx.clock, ctx.events, cfg, by=principal, data=body)
    db.commit()
    reply = filed(report)
    return reply if created else JSONResponse(status_code=200, content=reply.model_dump(mode="json"))


@router.get("/reports", response_model=list[OpinionReportOut])
def list_reports(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    status: Literal["open", "reported", "closed"] | None = None,
    major: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[OpinionReportOut]:
    """Items about units in my scope (and those I filed), the most recently discovered first."""
    stmt = visible(principal)
    if status is not None:
        stmt = stmt.where(OpinionReport.status == status)
    if major is not None:
        stmt = stmt.where(OpinionReport.major.is_(major))
    stmt = stmt.order_by(OpinionReport.discovered_at.desc(), OpinionReport.id.desc()).limit(limit).offset(offset)
    return [shown(r, ctx.clock) for r in db.execute(stmt).scalars()]


@router.get("/reports/{report_id}", response_model=OpinionReportOut, responses=error_responses(404))
def get_report(report_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> OpinionReportOut:
    return shown(get_visible(db, principal, report_id), ctx.clock)


@router.post("/reports/{report_id}/ack", response_model=OpinionReportOut, responses=error_responses(403, 404))
def acknowledge(report_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> OpinionReportOut:
    """The school's opinion officer (or student affairs) has the item: stops the first-report clock."""
    report = get_visible(db, principal, report_id)
    service.acknowledge(db, ctx.clock, ctx.events, service.OpinionConfig.from_settings(ctx.settings), report=report, by=principal)
    db.commit()
    return shown(report, ctx.clock)


@router.post("/reports/{report_id}/close", response_model=OpinionReportOut, responses=error_responses(403, 404, 409))
def close(report_id: PathId, body: OutcomeIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> OpinionReportOut:
    """Close an item with how it was handled (acknowledging it first if nobody had)."""
    report = get_visible(db, principal, report_id)
    cfg = service.OpinionConfig.from_settings(ctx.settings)
    service.close(db, ctx.clock, ctx.events, cfg, report=report, by=principal, outcome=body.outcome)
    db.commit()
    return shown(report, ctx.clock)


@router.get("/weekly", response_model=WeeklyOut, responses=error_responses(422))
def weekly(db: Db, ctx: Ctx, principal: CurrentPrincipal, week: Week = None) -> WeeklyOut:
    """The weekly review: items out during the week in my scope, highest risk first (default: this week, school time)."""
    tz: ZoneInfo = ctx.settings.tz
    if week is None:
        year, number, _ = ctx.clock.now().astimezone(tz).isocalendar()
        week = f"{year:04d}-W{number:02d}"
    start, end = week_bounds(week, tz)
    # Out during the week: discovered before it ended and not closed before it began.
    stmt = visible(principal).where(
        OpinionReport.discovered_at < end, or_(OpinionReport.closed_at.is_(None), OpinionReport.closed_at >= start)
    )
    reports = {r.id: r for r in db.execute(stmt).scalars()}
    items = [
        rules.WeeklyItem(r.id, r.grade, r.trend, active=r.closed_at is None or r.closed_at >= end, discovered_at=r.discovered_at)
        for r in reports.values()
    ]
    ranked = rules.weekly_risk(service.load_policy(ctx.settings.sop_dir), items)
    entries = [
        WeeklyEntryOut(
            rank=i,
            risk_score=risk.score,
            band=risk.band.code,
            band_zh=risk.band.label.zh,
            band_en=risk.band.label.en,
            colour=risk.band.colour,
            active=risk.item.active,
            report=shown(reports[risk.item.id], ctx.clock),
        )
        for i, risk in enumerate(ranked, start=1)
    ]
    return WeeklyOut(week=week, starts_at=start, ends_at=end, items=entries)
