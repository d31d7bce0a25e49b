"""HTML routes of the leaders' reading: /reviews, the review meetings in scope by date, type and level, each with
its report, and every open improvement action, overdue first (server-rendered, no script); and each incident's
review report as a page, the very document of its PDF, with a way back, a print button and the PDF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from riskcontrol.core.errors import DomainError
from riskcontrol.core.http import Ctx, Db, PathId
from riskcontrol.incidents import reading
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level
from riskcontrol.people.models import User
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.reviews import actions as review_actions
from riskcontrol.reviews import report, revisions
from riskcontrol.reviews import service as reviews
from riskcontrol.reviews.revisions import PROPOSED
from riskcontrol.web.pages import OptionalPrincipal, shown_at, sign_in_first
from riskcontrol.web.templating import CONTENT_SECURITY_POLICY, document, page_language, render, translator

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class ReviewRow:
    id: int
    incident_id: int
    title: str
    type_label: str
    level: str
    level_class: str
    drill: bool
    closed: str
    due: str
    status: str
    held: str


@dataclass(frozen=True)
class ActionRow:
    id: int
    incident_id: int
    title: str
    type: str
    owner: str
    due: str
    overdue: bool


# A filter left at 全部 arrives empty (a form sends every field), which means no filter.
TypeFilter = Annotated[str | None, Query(alias="type", max_length=40, pattern=r"^(?:[a-z][a-z0-9_]*)?$")]


def level_label(level: int, lang: str) -> str:
    """An incident level as its numeral and name in the page language, e.g. "Ⅱ 重大"."""
    numeral = Level(level)
    name = LEVEL_NAMES[numeral]
    return f"{numeral.numeral} {name.zh if lang == 'zh-CN' else name.en}"


@router.get("/reviews")
def reviews_page(
    request: Request,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    type_: TypeFilter = None,
    level: Annotated[str | None, Query(max_length=1, pattern=r"^[1-4]?$")] = None,
) -> Response:
    """Reviews and open improvement actions for leaders and student affairs (in their scope)."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    if principal.roles <= STUDENT_ROLES:
        meetings, open_actions = [], []
    else:
        meetings = reviews.list_meetings(db, principal)
        open_actions = review_actions.open_actions(db, principal)
    ids = {m.incident_id for m in meetings} | {a.incident_id for a in open_actions}
    incidents = {i.id: i for i in db.execute(select(Incident).where(Incident.id.in_(ids))).scalars()} if ids else {}
    owners = {
        u.id: u.name for u in db.execute(select(User).where(User.id.in_({a.owner_user_id for a in open_actions}))).scalars()
    }
    chosen_level = int(level) if level else 0
    pending = 0 if principal.roles <= STUDENT_ROLES else len(revisions.list_revisions(db, principal, status=PROPOSED))
    rows = []
    for meeting in sorted(meetings, key=lambda m: m.closed_at, reverse=True):
        incident = incidents[meeting.incident_id]
        if (type_ and incident.type != type_) or (chosen_level and meeting.level != chosen_level):
            continue
        rows.append(
            ReviewRow(
                id=meeting.id,
                incident_id=incident.id,
                title=reading.reader_view(db, principal, incident).title(incident.title),
                type_label=str(incident.playbook.get("label", {}).get("zh" if lang == "zh-CN" else "en", incident.type)),
                level=level_label(meeting.level, lang),
                level_class=Level(meeting.level).colour,
                drill=meeting.drill,
                closed=shown_at(ctx, meeting.closed_at, lang, whole_day=True, empty="—"),
                due=shown_at(ctx, meeting.due_at, lang, whole_day=True, empty="—"),
                status=meeting.status,
                held=shown_at(ctx, meeting.held_at, lang, whole_day=True, empty="—"),
            )
        )
    actions = [
        ActionRow(
            id=a.id,
            incident_id=a.incident_id,
            title=a.title,
            type=a.type,
            owner=owners.get(a.owner_user_id, ""),
            due=shown_at(ctx, a.due_at, lang, whole_day=True, empty="—"),
            overdue=a.overdue,
        )
        for a in open_actions
    ]
    types = sorted({(i.type, str(i.playbook.get("label", {}).get("zh", i.type))) for i in incidents.values()})
    return render(
        request,
        "reviews.html",
        lang=lang,
        rows=rows,
        actions=actions,
        types=types,
        chosen_type=type_ or "",
        chosen_level=chosen_level,
        pending_revisions=pending,
    )


@router.get("/incidents/{incident_id}/review-report")
def review_report_page(incident_id: PathId, request: Request, ctx: Ctx, db: Db, principal: OptionalPrincipal) -> Response:
    """The incident's review report to read on screen and print: the same document as the PDF, marked internal, in
    the page frame (its way back leads to 复盘与整改), with a print button and the PDF. Staff in scope only."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    cfg: IncidentConfig = ctx.extras["incidents"]
    missing = render(request, "error.html", lang=lang, status_code=404, message=translator(lang)("aftercare.missing"))
    if principal.roles <= STUDENT_ROLES:
        return missing
    try:
        context = report.build(db, ctx.clock, principal, incident_id, tz=cfg.tz, lang=lang)
    except DomainError:
        db.rollback()
        return missing
    db.commit()  # the audited read of the people's names
    pdf_url = f"/api/v1/incidents/{incident_id}/review-report.pdf?lang={'en' if lang == 'en' else 'zh'}"
    html = report.render_html(context, page=True, pdf_url=pdf_url)
    # The document's own styles are inline: exactly those are allowed, nothing else changes from a page's policy.
    policy = CONTENT_SECURITY_POLICY.replace("style-src 'self'", f"style-src 'self' {report.style_hashes(html)}", 1)
    return document(request, html, lang=lang, policy=policy)
