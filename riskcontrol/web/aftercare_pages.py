"""HTML routes of one incident's recovery stage (/incidents/{id}/aftercare, 善后与复盘): the recovery plan by person
with the form to record a task done, the review meeting with the forms to schedule it and record it held, the
improvement actions with their playbook revisions and the forms to add and close them, and the training case.

Server-rendered, no script. Every form carries the session's CSRF token and writes through the reviews services
in a route of its own: done, it goes back to the page with a word of confirmation; refused, the page comes back
with the refusal and its status, and nothing is half-saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from riskcontrol.core.errors import DomainError
from riskcontrol.core.http import NO_NUL, AppContext, Ctx, Db, PathId, record_denial, request_token
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, csrf_token
from riskcontrol.incidents import config, reading
from riskcontrol.incidents.playbook_rules import Level
from riskcontrol.people.models import User
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.reviews import actions, cases, recovery
from riskcontrol.reviews import service as reviews
from riskcontrol.reviews.models import CaseStudy, ReviewMeeting
from riskcontrol.reviews.schemas import ActionDoneIn, ActionIn, HeldIn, ScheduleIn
from riskcontrol.reviews.service import ReviewConfig
from riskcontrol.web.aftercare_forms import FormError, attendees, build, explain, local_time, required, some_lines
from riskcontrol.web.aftercare_views import action_row, meeting_view, plan_view
from riskcontrol.web.pages import OptionalPrincipal, csrf_refused, sign_in_first
from riskcontrol.web.review_pages import level_label
from riskcontrol.web.templating import page_language, redirect, render, translator

router = APIRouter(include_in_schema=False)

PAGE: Final = "/incidents/{incident_id}/aftercare"
Done = Literal["recovery", "schedule", "held", "action", "closed"]


def _cfg(ctx: AppContext) -> ReviewConfig:
    cfg: ReviewConfig = ctx.extras["reviews"]
    return cfg


def _path(incident_id: int) -> str:
    return PAGE.format(incident_id=incident_id)


def _missing(request: Request, lang: str) -> Response:
    return render(request, "error.html", lang=lang, status_code=404, message=translator(lang)("aftercare.missing"))


def _page(
    request: Request,
    ctx: AppContext,
    db: Db,
    principal: Principal,
    lang: str,
    incident_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    flash: str | None = None,
    kept: dict[str, str] | None = None,
) -> Response:
    if principal.roles <= STUDENT_ROLES:
        return _missing(request, lang)
    try:
        incident = reading.get(db, principal, incident_id)
    except DomainError as exc:
        _undo_and_audit(request, ctx, db, principal, exc)
        return _missing(request, lang)

    def names(ids: list[int | None]) -> dict[int, str]:
        return reading.names(db, ids)

    plan = plan_view(db, ctx, principal, incident, lang, names)
    found = actions.of_incident(db, incident.id)
    who = names([a.owner_user_id for a in found])
    action_rows = [action_row(db, ctx, principal, a, who, lang) for a in found]
    meeting = meeting_view(db, ctx, principal, incident, lang, names)
    held = db.execute(
        select(ReviewMeeting.id).where(ReviewMeeting.incident_id == incident.id, ReviewMeeting.status == reviews.HELD).limit(1)
    ).first()
    case_id = db.execute(select(CaseStudy.id).where(CaseStudy.incident_id == incident.id)).scalar_one_or_none()
    state = next((s.label for s in config.machine_of(incident).sop.states if s.code == incident.state), None)
    token = request_token(request) or ""
    db.commit()  # the audited read of the session notes
    return render(
        request,
        "aftercare.html",
        lang=lang,
        status_code=status_code,
        switch_path=_path(incident.id),
        incident=incident,
        level=level_label(incident.level, lang),
        level_class=Level(incident.level).colour,
        state=(state.en if lang == "en" else state.zh) if state is not None else incident.state,
        report_lang="en" if lang == "en" else "zh",
        plan=plan,
        meeting=meeting,
        actions=action_rows,
        may_add=principal.has_role(*reviews.RECORDERS),
        case_id=case_id,
        may_make_case=case_id is None and not incident.is_open and held is not None and principal.has_role(*cases.MAKERS),
        csrf=csrf_token(ctx.secret, token),
        error=error,
        flash=flash,
        kept=kept or {},
    )


@router.get(PAGE)
def aftercare_page(
    request: Request,
    incident_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    done: Annotated[Done | None, Query()] = None,
) -> Response:
    """The recovery stage of one incident: plan, review meeting, improvement actions, training case."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    flash = translator(lang)(f"aftercare.flash.{done}") if done else None
    return _page(request, ctx, db, principal, lang, incident_id, flash=flash)


# --- the forms -------------------------------------------------------------------------------------


def _guard(
    request: Request, ctx: AppContext, principal: Principal | None, csrf: str, lang: str, what: str, incident_id: int
) -> Principal | Response:
    """The caller of a form, or the answer instead: sign in first, the 403 of a forged form, a student's 404."""
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    refused = csrf_refused(request, ctx, principal, token, csrf, lang, what=f"POST {PAGE}/{what}", back=_path(incident_id))
    if refused is not None:
        return refused
    if principal.roles <= STUDENT_ROLES:
        return _missing(request, lang)
    return principal


def _undo_and_audit(request: Request, ctx: AppContext, db: Db, principal: Principal, exc: DomainError) -> None:
    """Roll back the refused request's transaction; a refusal that is a denial then goes to the audit log as the
    API's error handler writes it (in a transaction of its own, and SQLite has one writer at a time)."""
    db.rollback()
    if exc.denial:
        record_denial(ctx, principal, f"{request.method} {request.url.path}", str(exc), exc.status_code)


def _apply(
    request: Request,
    ctx: AppContext,
    db: Db,
    principal: Principal,
    lang: str,
    incident_id: int,
    write: Callable[[], str],
    kept: dict[str, str] | None = None,
) -> Response:
    """Run one write (it answers where to go next) and commit it; refused, roll back and show the page again."""
    try:
        target = write()
        db.commit()
    except DomainError as exc:
        _undo_and_audit(request, ctx, db, principal, exc)
        return _page(
            request, ctx, db, principal, lang, incident_id, status_code=exc.status_code, error=explain(exc, lang), kept=kept
        )
    return redirect(request, target, lang=lang)


Csrf = Annotated[str, Form(max_length=256, pattern=NO_NUL)]


@router.post(PAGE + "/recovery/{item_id}/done")
def recovery_done_submit(
    request: Request,
    incident_id: PathId,
    item_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    csrf: Csrf = "",
    note: Annotated[str, Form(max_length=20_000, pattern=NO_NUL)] = "",
) -> Response:
    """Record a recovery task done, with its note for the psychological centre."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "recovery/{item_id}/done", incident_id), Response):
        return caller

    def write() -> str:
        item = recovery.complete(db, ctx.clock, _cfg(ctx), caller, item_id, note)
        return f"{_path(item.incident_id)}?done=recovery"

    return _apply(request, ctx, db, caller, lang, incident_id, write)


@router.post(PAGE + "/reviews/{review_id}/schedule")
def schedule_submit(
    request: Request,
    incident_id: PathId,
    review_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    csrf: Csrf = "",
    scheduled_for: Annotated[str, Form(max_length=32, pattern=NO_NUL)] = "",
    place: Annotated[str, Form(max_length=200, pattern=NO_NUL)] = "",
) -> Response:
    """Set (or move) when and where the review meeting is held."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "reviews/{review_id}/schedule", incident_id), Response):
        return caller

    def write() -> str:
        data = build(
            ScheduleIn,
            lang,
            scheduled_for=local_time(scheduled_for, "scheduled_for", lang, ctx.settings.tz),
            place=required(place, "place", lang),
        )
        meeting = reviews.schedule(db, ctx.clock, _cfg(ctx), caller, review_id, data)
        return f"{_path(meeting.incident_id)}?done=schedule"

    kept = {"scheduled_for": scheduled_for, "place": place}
    return _apply(request, ctx, db, caller, lang, incident_id, write, kept)


@router.post(PAGE + "/reviews/{review_id}/held")
def held_submit(
    request: Request,
    incident_id: PathId,
    review_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    csrf: Csrf = "",
    held_at: Annotated[str, Form(max_length=32, pattern=NO_NUL)] = "",
    attendee_lines: Annotated[str, Form(alias="attendees", max_length=20_000, pattern=NO_NUL)] = "",
    minutes: Annotated[str, Form(max_length=50_000, pattern=NO_NUL)] = "",
    conclusions: Annotated[str, Form(max_length=100_000, pattern=NO_NUL)] = "",
) -> Response:
    """Record the review meeting as held: when, who came (one a line), the minutes and the conclusions (one a line)."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "reviews/{review_id}/held", incident_id), Response):
        return caller

    def write() -> str:
        data = build(
            HeldIn,
            lang,
            held_at=local_time(held_at, "held_at", lang, ctx.settings.tz),
            attendees=attendees(attendee_lines, lang),
            minutes=required(minutes, "minutes", lang),
            conclusions=some_lines(conclusions, "conclusions", lang),
        )
        meeting = reviews.record_held(db, ctx.clock, _cfg(ctx), caller, review_id, data)
        return f"{_path(meeting.incident_id)}?done=held"

    kept = {"held_at": held_at, "attendees": attendee_lines, "minutes": minutes, "conclusions": conclusions}
    return _apply(request, ctx, db, caller, lang, incident_id, write, kept)


@router.post(PAGE + "/actions")
def add_action_submit(
    request: Request,
    incident_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    type_: Annotated[Literal["rule", "process", "facility", "training"], Form(alias="type")],
    csrf: Csrf = "",
    title: Annotated[str, Form(max_length=200, pattern=NO_NUL)] = "",
    detail: Annotated[str, Form(max_length=8000, pattern=NO_NUL)] = "",
    owner: Annotated[str, Form(max_length=150, pattern=NO_NUL)] = "",
    due: Annotated[str, Form(max_length=32, pattern=NO_NUL)] = "",
) -> Response:
    """Add an improvement action from the review of the (closed) incident; its owner is named by username."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "actions", incident_id), Response):
        return caller

    def write() -> str:
        username = required(owner, "owner_user_id", lang)
        user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise FormError(phrase("aftercare.error.owner", username=username), field="owner_user_id")
        data = build(
            ActionIn,
            lang,
            title=required(title, "title", lang),
            detail=detail.strip(),
            type=type_,
            owner_user_id=user.id,
            due_at=local_time(due, "due_at", lang, ctx.settings.tz, whole_day=True),
        )
        action = actions.create(db, ctx.clock, _cfg(ctx), ctx.extras["hazards"], caller, incident_id, data)
        return f"{_path(action.incident_id)}?done=action"

    kept = {"title": title, "detail": detail, "type": type_, "owner": owner, "due": due}
    return _apply(request, ctx, db, caller, lang, incident_id, write, kept)


@router.post(PAGE + "/actions/{action_id}/done")
def close_action_submit(
    request: Request,
    incident_id: PathId,
    action_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    csrf: Csrf = "",
    evidence: Annotated[str, Form(max_length=8000, pattern=NO_NUL)] = "",
) -> Response:
    """Close an improvement action with its evidence (its owner, or those who record reviews)."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "actions/{action_id}/done", incident_id), Response):
        return caller

    def write() -> str:
        data = build(ActionDoneIn, lang, evidence=required(evidence, "evidence", lang))
        action = actions.complete(db, ctx.clock, _cfg(ctx), caller, action_id, data)
        return f"{_path(action.incident_id)}?done=closed"

    return _apply(request, ctx, db, caller, lang, incident_id, write, {f"evidence_{action_id}": evidence})


@router.post(PAGE + "/case")
def make_case_submit(
    request: Request, incident_id: PathId, ctx: Ctx, db: Db, principal: OptionalPrincipal, csrf: Csrf = ""
) -> Response:
    """Put the anonymised case of the closed, reviewed incident into the training library, and open it."""
    lang = page_language(request, ctx.settings.default_language)
    if isinstance(caller := _guard(request, ctx, principal, csrf, lang, "case", incident_id), Response):
        return caller

    def write() -> str:
        return f"/cases/{cases.make(db, ctx.clock, caller, incident_id, tz=ctx.settings.tz).id}"

    return _apply(request, ctx, db, caller, lang, incident_id, write)
