"""HTML route of the leaders' reading (/reviews): the review meetings in scope by date, type and level, each with
its report (HTML and PDF), and every open improvement action, overdue first. Server-rendered, no script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from riskcontrol.core.clock import local_text
from riskcontrol.core.http import Ctx, Db
from riskcontrol.incidents import reading
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level
from riskcontrol.people.models import User
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.reviews import actions as review_actions
from riskcontrol.reviews import revisions
from riskcontrol.reviews import service as reviews
from riskcontrol.reviews.revisions import PROPOSED
from riskcontrol.web.pages import OptionalPrincipal, sign_in_first
from riskcontrol.web.templating import page_language, render

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
    tz = ctx.settings.tz
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
                closed=local_text(meeting.closed_at, tz, "%Y-%m-%d"),
                due=local_text(meeting.due_at, tz, "%Y-%m-%d"),
                status=meeting.status,
                held=local_text(meeting.held_at, tz, "%Y-%m-%d"),
            )
        )
    actions = [
        ActionRow(
            id=a.id,
            incident_id=a.incident_id,
            title=a.title,
            type=a.type,
            owner=owners.get(a.owner_user_id, ""),
            due=local_text(a.due_at, tz, "%Y-%m-%d"),
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
