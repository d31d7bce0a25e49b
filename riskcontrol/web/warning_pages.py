"""HTML routes of the warning stage: the phone filing form, the filer's own reports, the live inbox, and the
one-tap acknowledgement link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.errors import Conflict, DomainError, Forbidden
from riskcontrol.core.http import AppContext, Ctx, Db, Offset, record_denial
from riskcontrol.core.i18n import phrase
from riskcontrol.core.images import MAX_PHOTO_BYTES
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service as escalation_service
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.rules import UnitKind
from riskcontrol.observations import catalog
from riskcontrol.observations.reading import my_reports
from riskcontrol.observations.rules import Checklist, TriageRubric
from riskcontrol.observations.schemas import MyReportOut
from riskcontrol.observations.service import MAY_FILE
from riskcontrol.people.models import User
from riskcontrol.people.rules import SEES_RISK
from riskcontrol.web.pages import OptionalPrincipal, shown_at, sign_in_first, unit_name
from riskcontrol.web.templating import page_language, render, translator

router = APIRouter(include_in_schema=False)

# Where a filer most likely stands: their own room first, then their class, then wider units.
_DEFAULT_KIND_ORDER = (UnitKind.DORM, UnitKind.CLASS, UnitKind.BUILDING, UnitKind.COLLEGE, UnitKind.SCHOOL)
# A signed link is a bearer credential; anything longer than this is not one of ours.
_MAX_TOKEN_LENGTH = 512
# The literal route, not the path: the audit log must never hold a working acknowledgement token.
_LINK_ROUTE = "/e/{token}"
MY_REPORTS = "/my-reports"
# How many of her own reports one page of "my reports" shows.
_REPORTS_PER_PAGE = 30


@dataclass(frozen=True)
class CheckItem:
    """One checklist item as the filing form shows it."""

    code: str
    label: str
    hint: str
    danger: bool


@dataclass(frozen=True)
class CheckGroup:
    """A checklist category with its items, in checklist order."""

    code: str
    label: str
    items: list[CheckItem]


@dataclass(frozen=True)
class UnitChoice:
    """A unit the caller may file about, labelled for the picker."""

    id: int
    label: str


def checklist_groups(checklist: Checklist, lang: str) -> list[CheckGroup]:
    """The checklist grouped by category, labelled in `lang`; empty categories are left out."""
    english = lang == "en"
    groups = []
    for category in checklist.categories:
        items = [
            CheckItem(
                code=item.code,
                label=item.en if english else item.zh,
                hint=item.hint.en if english else item.hint.zh,
                danger=item.immediate_danger,
            )
            for item in checklist.items
            if item.category == category.code and item.on_form
        ]
        if items:
            groups.append(CheckGroup(code=category.code, label=category.en if english else category.zh, items=items))
    return groups


def level_texts(rubric: TriageRubric, lang: str, *, filer: bool = False) -> dict[str, dict[str, Any]]:
    """Each triage level's name and what to do, in `lang`, for the scripts that show results: for a
    student who filed (`filer`), what to do now and the numbers to call; for staff, the standing response."""
    english = lang == "en"
    return {
        level.code.value: {
            "name": level.en if english else level.zh,
            "response": text.en if english else text.zh,
            "call": list(level.call) if filer else [],
        }
        for level in rubric.levels
        for text in [level.act_now if filer else level.response]
    }


def unit_choices(db: Session, principal: Principal, lang: str) -> tuple[list[UnitChoice], int | None]:
    """The units in the caller's scope, and the one to preselect: where they hold a filing role, nearest first."""
    t = translator(lang)
    units = grid_service.list_units(db, principal)
    choices = [UnitChoice(id=u.id, label=f"{unit_name(u, lang)} · {t(f'unit_kind.{u.kind}')}") for u in units]
    held = {path for role, path in principal.grants if role in MAY_FILE}
    own = [u for u in units if u.path in held]
    rank = {kind.value: index for index, kind in enumerate(_DEFAULT_KIND_ORDER)}
    own.sort(key=lambda u: rank.get(u.kind, len(rank)))
    default = own[0].id if own else (units[0].id if units else None)
    return choices, default


def script_messages(lang: str, prefix: str | tuple[str, ...]) -> dict[str, str]:
    """The catalog entries under `prefix` (or any of several) that the page's script shows, in `lang`."""
    return {key: text for key, text in i18n.catalog(lang).items() if key.startswith(prefix)}


@router.get("/observe")
def observe_page(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """The phone form for filing an observation; it queues on the phone and sends when online."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    units, default_unit = unit_choices(db, principal, lang)
    rubric = catalog.load_rubric(ctx.settings.sop_dir)
    return render(
        request,
        "observe.html",
        lang=lang,
        user_id=principal.user_id,
        may_file=principal.has_role(*MAY_FILE),
        units=units,
        default_unit=default_unit,
        groups=checklist_groups(catalog.load_checklist(ctx.settings.sop_dir), lang),
        # A student filing reads what to do now; staff read the procedure.
        levels=level_texts(rubric, lang, filer=not principal.has_role(*SEES_RISK)),
        messages=script_messages(lang, "observe."),
        max_photo_bytes=MAX_PHOTO_BYTES,
    )


@dataclass(frozen=True)
class ReportCard:
    """One of the caller's own reports as her "my reports" page shows it, every text in the page language."""

    id: int
    level: str
    level_name: str
    filed_at: str
    about: str
    ticks: str
    note: str | None
    state: str
    states: list[str]


def _report_states(ctx: AppContext, report: MyReportOut, lang: str) -> tuple[str, list[str]]:
    """Where the report has got, as a state code for styling and lines in words: acknowledged by whom and
    when, dealt with (the filer learns that, not the staff's outcome words)."""
    t, progress = translator(lang), report.progress
    if progress is None:
        return "recorded", [t("my_reports.state.recorded")]
    lines = []
    if progress.acknowledged_at is not None:
        when = shown_at(ctx, progress.acknowledged_at, lang)
        name = progress.acknowledged_by_name
        lines.append(
            t("my_reports.state.acknowledged", name=name, time=when) if name else t("my_reports.state.acknowledged_at", time=when)
        )
    if progress.status in (escalation_service.RESOLVED, escalation_service.CLOSED):
        done = t("my_reports.state.done_at", time=shown_at(ctx, progress.resolved_at, lang)) if progress.resolved_at else None
        return "done", [done or t("my_reports.state.done"), *lines]
    if progress.status == escalation_service.ACKNOWLEDGED:
        return "acknowledged", lines
    return "open", [t("my_reports.state.open")]


@router.get(MY_REPORTS)
def my_reports_page(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal, offset: Offset = 0) -> Response:
    """The reports the caller filed herself (and no one else's), newest first, each with where it has got."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    english = lang == "en"
    sop = ctx.settings.sop_dir
    checklist = catalog.load_checklist(sop)
    labels = {item.code: item.en if english else item.zh for item in checklist.items}
    levels = level_texts(catalog.load_rubric(sop), lang)
    found = my_reports(db, principal, checklist, catalog.load_rubric(sop), limit=_REPORTS_PER_PAGE + 1, offset=offset)
    cards = []
    for report in found[:_REPORTS_PER_PAGE]:
        state, states = _report_states(ctx, report, lang)
        unit = report.unit_name_en if english else report.unit_name_zh
        cards.append(
            ReportCard(
                id=report.id,
                level=report.level,
                level_name=levels.get(report.level, {}).get("name", report.level),
                filed_at=shown_at(ctx, report.filed_at, lang),
                about=" · ".join(part for part in (report.student_name, unit) if part),
                ticks=(", " if english else "、").join(labels.get(code, code) for code in report.checklist),
                note=report.note,
                state=state,
                states=states,
            )
        )
    return render(
        request,
        "my_reports.html",
        lang=lang,
        cards=cards,
        may_file=principal.has_role(*MAY_FILE),
        newer=max(0, offset - _REPORTS_PER_PAGE) if offset > 0 else None,
        older=offset + _REPORTS_PER_PAGE if len(found) > _REPORTS_PER_PAGE else None,
        switch_path=MY_REPORTS,
    )


@router.get("/inbox")
def inbox_page(request: Request, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """What waits for me, live: countdowns and one button to acknowledge; the script fills it in."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    rubric = catalog.load_rubric(ctx.settings.sop_dir)
    return render(
        request,
        "inbox.html",
        lang=lang,
        levels=level_texts(rubric, lang),
        messages=script_messages(lang, "inbox."),
    )


def _link_target(db: Session, ctx: AppContext, token: str) -> tuple[Escalation, User]:
    """The escalation and person a link token names; a forged, stale or orphaned token is Forbidden."""
    if len(token) > _MAX_TOKEN_LENGTH:
        raise Forbidden(phrase("refusal.escalation.link_invalid"), field="token")
    escalation_id, user_id = escalation_service.read_ack_token(ctx.secret, token)
    esc, user = db.get(Escalation, escalation_id), db.get(User, user_id)
    if esc is None or user is None or not user.active:
        raise Forbidden(phrase("refusal.escalation.link_orphaned"), field="token")
    return esc, user


def _link_page(
    request: Request, db: Session, ctx: AppContext, lang: str, esc: Escalation, user: User, *, just_acknowledged: bool
) -> Response:
    # The link travels by text message: the page shows what the message may (the disclosure policy).
    words = escalation_service.wordings(db, esc, [user])[user.id]
    acknowledger = db.get(User, esc.acknowledged_by) if esc.acknowledged_by is not None else None
    level_name = level_texts(catalog.load_rubric(ctx.settings.sop_dir), lang).get(esc.level, {}).get("name", esc.level)
    return render(
        request,
        "ack.html",
        lang=lang,
        title=i18n.word(lang, words.sms_title),
        level=esc.level,
        level_name=level_name,
        status=esc.status,
        due_at=shown_at(ctx, esc.step_due_at, lang),
        acknowledged_at=shown_at(ctx, esc.acknowledged_at, lang),
        acknowledged_by=acknowledger.name if acknowledger is not None else None,
        just_acknowledged=just_acknowledged,
        detail_url=f"/escalations/{esc.id}",
    )


def _refused(request: Request, ctx: AppContext, lang: str, method: str, exc: DomainError) -> Response:
    if exc.denial:
        record_denial(ctx, None, f"{method} {_LINK_ROUTE}", str(exc), exc.status_code)
    key = "ack.error.invalid" if isinstance(exc, Forbidden) else "ack.error.unavailable"
    return render(request, "error.html", lang=lang, status_code=exc.status_code, message=translator(lang)(key))


# Design note: the link in the SMS is the credential (signed for one person and one escalation,
# valid for days), so these two routes need no session and no CSRF token: a forger cannot make
# a valid token, and a cross-site form cannot post one it does not know. GET only shows; the
# acknowledgement is a POST so that link scanners and previews that fetch GETs change nothing.
# Tokens do appear in access logs (the path carries them); that is accepted, as the logs are
# as private as the database, and Referrer-Policy keeps the path from leaking to other sites.
@router.get("/e/{token}")
def ack_link_page(request: Request, token: str, db: Db, ctx: Ctx) -> Response:
    """The one-tap link from an SMS: what it is about and one button to acknowledge (nothing changes yet)."""
    lang = page_language(request, ctx.settings.default_language)
    try:
        esc, user = _link_target(db, ctx, token)
    except DomainError as exc:
        return _refused(request, ctx, lang, "GET", exc)
    return _link_page(request, db, ctx, lang, esc, user, just_acknowledged=False)


@router.post("/e/{token}")
def ack_link_submit(request: Request, token: str, db: Db, ctx: Ctx) -> Response:
    """Acknowledge through the signed link: the token names the person, no sign-in needed."""
    lang = page_language(request, ctx.settings.default_language)
    try:
        esc, user = _link_target(db, ctx, token)
        was_open = esc.status == escalation_service.OPEN
        esc = escalation_service.acknowledge(db, ctx.clock, escalation_id=esc.id, user=user, principal=None, via="link")
        db.commit()
    except Conflict:
        # Resolved or closed before anyone acknowledged: nothing waits any more, so say so.
        db.rollback()
        return _link_page(request, db, ctx, lang, esc, user, just_acknowledged=False)
    except DomainError as exc:
        db.rollback()
        return _refused(request, ctx, lang, "POST", exc)
    # A second tap, or someone else first: the page then says when it was acknowledged, and by whom.
    just_acknowledged = was_open and esc.acknowledged_by == user.id
    return _link_page(request, db, ctx, lang, esc, user, just_acknowledged=just_acknowledged)
