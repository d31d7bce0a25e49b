"""HTTP API of review meetings (复盘会): list and read in scope, schedule, record as held."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import NO_NUL, AppContext, ClockDep, Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.core.security import Principal
from riskcontrol.incidents import reading
from riskcontrol.incidents.models import Incident
from riskcontrol.reviews import actions, cases, recovery, rules, service
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, RecoveryItem, ReviewMeeting
from riskcontrol.reviews.schemas import (
    ActionDoneIn,
    ActionIn,
    ActionOut,
    HeldIn,
    MeetingOut,
    RecoveryDoneIn,
    RecoveryItemOut,
    ScheduleIn,
)
from riskcontrol.reviews.service import ReviewConfig

router = APIRouter(prefix="/api/v1", tags=["reviews"])

Status = Literal["due", "scheduled", "held", "overdue", "cancelled"]


def _cfg(ctx: AppContext) -> ReviewConfig:
    cfg: ReviewConfig = ctx.extras["reviews"]
    return cfg


def meeting_out(db: Session, principal: Principal, meeting: ReviewMeeting) -> MeetingOut:
    """A review meeting as the reader may read it: its minutes and conclusions with the incident's people as
    the disclosure policy shows them to this reader."""
    incident = db.get(Incident, meeting.incident_id)
    view = reading.reader_view(db, principal, incident) if incident is not None else None

    def words(text: str) -> str:
        return view.text(text) if view is not None else ""

    return MeetingOut(
        id=meeting.id,
        incident_id=meeting.incident_id,
        level=meeting.level,
        drill=meeting.drill,
        closed_at=meeting.closed_at,
        due_at=meeting.due_at,
        status=meeting.status,
        scheduled_for=meeting.scheduled_for,
        place=meeting.place,
        held_at=meeting.held_at,
        days_late=rules.days_late(meeting.due_at, meeting.held_at) if meeting.held_at is not None else 0,
        attendees=meeting.attendees,
        minutes=words(meeting.minutes),
        conclusions=[words(c) for c in meeting.conclusions],
        recorded_by=meeting.recorded_by,
        escalated_at=meeting.escalated_at,
    )


@router.get("/reviews")
def list_reviews(db: Db, principal: CurrentPrincipal, status: Status | None = None) -> list[MeetingOut]:
    """Review meetings of incidents in your scope, soonest due first."""
    return [meeting_out(db, principal, m) for m in service.list_meetings(db, principal, status=status)]


@router.get("/reviews/{review_id}", responses=error_responses(404))
def get_review(review_id: PathId, db: Db, principal: CurrentPrincipal) -> MeetingOut:
    return meeting_out(db, principal, service.get(db, principal, review_id))


@router.put("/reviews/{review_id}/schedule", responses=error_responses(403, 404, 409, 422))
def schedule_review(review_id: PathId, body: ScheduleIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> MeetingOut:
    """Set (or move) when and where the meeting is held."""
    meeting = service.schedule(db, ctx.clock, _cfg(ctx), principal, review_id, body)
    out = meeting_out(db, principal, meeting)
    db.commit()
    return out


@router.post("/reviews/{review_id}/held", responses=error_responses(403, 404, 409, 422))
def record_held(review_id: PathId, body: HeldIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> MeetingOut:
    """Record the meeting as held: when, who came, the minutes and the conclusions (late when after its due time)."""
    meeting = service.record_held(db, ctx.clock, _cfg(ctx), principal, review_id, body)
    out = meeting_out(db, principal, meeting)
    db.commit()
    return out


def action_out(action: ImprovementAction) -> ActionOut:
    return ActionOut(
        id=action.id,
        incident_id=action.incident_id,
        review_id=action.review_id,
        title=action.title,
        detail=action.detail,
        type=action.type,
        owner_user_id=action.owner_user_id,
        due_at=action.due_at,
        status=action.status,
        overdue=action.overdue,
        hazard_id=action.hazard_id,
        evidence=action.evidence,
        done_at=action.done_at,
        done_by=action.done_by,
    )


@router.post("/incidents/{incident_id}/actions", status_code=201, responses=error_responses(403, 404, 409, 422))
def add_action(incident_id: PathId, body: ActionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> ActionOut:
    """Record an improvement action from the incident's review (rule, process, facility or training)."""
    action = actions.create(db, ctx.clock, _cfg(ctx), ctx.extras["hazards"], principal, incident_id, body)
    out = action_out(action)
    db.commit()
    return out


@router.get("/incidents/{incident_id}/actions", responses=error_responses(404))
def incident_actions(incident_id: PathId, db: Db, principal: CurrentPrincipal) -> list[ActionOut]:
    incident = reading.get(db, principal, incident_id)
    return [action_out(a) for a in actions.of_incident(db, incident.id)]


@router.get("/actions")
def open_actions(db: Db, principal: CurrentPrincipal) -> list[ActionOut]:
    """Every open improvement action across the incidents in your scope, overdue first (the leaders' list)."""
    return [action_out(a) for a in actions.open_actions(db, principal)]


@router.post("/actions/{action_id}/done", responses=error_responses(403, 404, 409, 422))
def close_action(action_id: PathId, body: ActionDoneIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> ActionOut:
    """Close an action with its evidence; one that puts a hazard right waits until the hazard is struck off."""
    action = actions.complete(db, ctx.clock, _cfg(ctx), principal, action_id, body)
    out = action_out(action)
    db.commit()
    return out


def recovery_out(item: RecoveryItem, reads_notes: bool) -> RecoveryItemOut:
    return RecoveryItemOut(
        id=item.id,
        incident_id=item.incident_id,
        person_id=item.person_id,
        code=item.code,
        label_zh=item.label_zh,
        label_en=item.label_en,
        owner_role=item.owner_role,
        owner_user_id=item.owner_user_id,
        due_at=item.due_at,
        status=item.status,
        overdue=item.overdue,
        done_at=item.done_at,
        done_by=item.done_by,
        has_note=bool(item.note),
        note=item.note if reads_notes else None,
    )


@router.get("/incidents/{incident_id}/recovery", responses=error_responses(404))
def recovery_plan(incident_id: PathId, db: Db, clock: ClockDep, principal: CurrentPrincipal) -> list[RecoveryItemOut]:
    """The incident's recovery tasks; session notes only for the psychological centre (audited)."""
    items, reads = recovery.plan_of(db, clock, principal, incident_id)
    out = [recovery_out(item, reads) for item in items]
    db.commit()  # the audited read of the notes
    return out


@router.post("/recovery/{item_id}/done", responses=error_responses(403, 404, 409, 422))
def recovery_done(item_id: PathId, body: RecoveryDoneIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> RecoveryItemOut:
    """Mark a recovery task done (a session held, a follow-up made), with its note."""
    item = recovery.complete(db, ctx.clock, _cfg(ctx), principal, item_id, body.note)
    out = recovery_out(item, principal.has_role(*recovery.READS_NOTES))
    db.commit()
    return out


def case_out(case: CaseStudy) -> dict[str, Any]:
    return {"id": case.id, "title": case.title, "type": case.type, "level": case.level, "period": case.period, **case.body}


@router.post("/incidents/{incident_id}/case", status_code=201, responses=error_responses(403, 404, 409))
def make_case(incident_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> dict[str, Any]:
    """Put the anonymised case of a closed, reviewed incident into the training library."""
    case = cases.make(db, ctx.clock, principal, incident_id, tz=ctx.settings.tz)
    out = case_out(case)
    db.commit()
    return out


@router.get("/cases")
def list_cases(
    db: Db,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=40, pattern=r"^[a-z][a-z0-9_]*$")] = None,
) -> list[dict[str, Any]]:
    """The case library, newest first; `q` searches the whole text, `type` the incident type."""
    return [
        {"id": c.id, "title": c.title, "type": c.type, "level": c.level, "period": c.period}
        for c in cases.search(db, principal, query=q, type_=type_)
    ]


@router.get("/cases/{case_id}", responses=error_responses(403, 404))
def get_case(case_id: PathId, db: Db, principal: CurrentPrincipal) -> dict[str, Any]:
    return case_out(cases.get(db, principal, case_id))


@router.get("/cases/{case_id}/export.md", responses={200: {"content": {"text/markdown": {}}}, **error_responses(403, 404)})
def export_case(case_id: PathId, db: Db, principal: CurrentPrincipal, lang: Literal["zh", "en"] = "zh") -> Response:
    """The case as Markdown, for training material (`?lang=en`: its headings and statuses in English)."""
    case = cases.get(db, principal, case_id)
    return Response(
        cases.markdown(case, "en" if lang == "en" else i18n.DEFAULT_LANGUAGE),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="case-{case.id}.md"'},
    )
