"""HTML routes of the case library (/cases) for counsellors' training: the anonymised cases, searched by a word
and filtered by type, and each case in full with its Markdown export. Server-rendered, no script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from riskcontrol.core.errors import NotFound
from riskcontrol.core.http import NO_NUL, AppContext, Ctx, Db, PathId
from riskcontrol.core.security import Principal
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.playbook_rules import Level
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.reviews import cases
from riskcontrol.reviews.models import CaseStudy
from riskcontrol.web.pages import OptionalPrincipal, sign_in_first
from riskcontrol.web.review_pages import TypeFilter, level_label
from riskcontrol.web.templating import page_language, render, translator

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class CaseRow:
    """One case of the list, ready to show."""

    id: int
    title: str
    type_label: str
    level: str
    level_class: str
    drill: bool
    period: str


@dataclass(frozen=True)
class CaseView:
    """A whole case as its body holds it; a key the body lacks reads as empty."""

    row: CaseRow
    place: str
    summary: str
    timeline: list[tuple[str, str]]
    steps_total: int
    steps_on_time: int
    late: list[str]
    conclusions: list[str]
    minutes: str
    actions: list[dict[str, str]]


def _type_labels(ctx: AppContext, lang: str) -> dict[str, str]:
    """Every incident type the playbooks know, named in the page language."""
    cfg: IncidentConfig = ctx.extras["incidents"]
    return {
        code: playbook.label.zh if lang == "zh-CN" else playbook.label.en
        for code, playbook in sorted(cfg.library().playbooks.items())
    }


def _row(case: CaseStudy, labels: dict[str, str], lang: str) -> CaseRow:
    return CaseRow(
        id=case.id,
        title=case.title,
        type_label=labels.get(case.type, str(case.body.get("type_label", case.type))),
        level=level_label(case.level, lang),
        level_class=Level(case.level).colour,
        drill=bool(case.body.get("drill")),
        period=case.period,
    )


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _view(case: CaseStudy, labels: dict[str, str], lang: str) -> CaseView:
    body = case.body
    steps = body.get("steps") or {}
    return CaseView(
        row=_row(case, labels, lang),
        place=str(body.get("place") or ""),
        summary=str(body.get("summary") or ""),
        timeline=[(str(line.get("when", "")), str(line.get("what", ""))) for line in body.get("timeline") or []],
        steps_total=int(steps.get("total", 0)),
        steps_on_time=int(steps.get("on_time", 0)),
        late=_strings(steps.get("late")),
        conclusions=_strings(body.get("conclusions")),
        minutes=str(body.get("minutes") or ""),
        actions=[
            {"type": str(a.get("type", "")), "title": str(a.get("title", "")), "status": str(a.get("status", ""))}
            for a in body.get("actions") or []
        ],
    )


def _reads_cases(principal: Principal) -> bool:
    """The library's own rule (reviews.cases): every staff member, no student."""
    return not principal.roles <= STUDENT_ROLES


def _readable(db: Session, principal: Principal, case_id: int) -> CaseStudy | None:
    """The case if it exists and the caller may read it; a student is told no more than that it is not there."""
    if not _reads_cases(principal):
        return None
    try:
        return cases.get(db, principal, case_id)
    except NotFound:
        return None


@router.get("/cases")
def cases_page(
    request: Request,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    type_: TypeFilter = None,
) -> Response:
    """The case library, newest first, searched by a word of the case and filtered by incident type."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    query = (q or "").strip()
    found = cases.search(db, principal, query=query or None, type_=type_ or None) if _reads_cases(principal) else []
    labels = _type_labels(ctx, lang)
    return render(
        request,
        "cases.html",
        lang=lang,
        rows=[_row(case, labels, lang) for case in found],
        types=list(labels.items()),
        chosen_type=type_ or "",
        query=query,
        filtered=bool(query or type_),
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, ctx: Ctx, db: Db, principal: OptionalPrincipal, case_id: PathId) -> Response:
    """One case in full: summary, timeline in relative time, steps, conclusions, actions; a link to its Markdown."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    case = _readable(db, principal, case_id)
    if case is None:
        return render(request, "error.html", lang=lang, status_code=404, message=translator(lang)("cases.missing"))
    return render(request, "case.html", lang=lang, case=_view(case, _type_labels(ctx, lang), lang))
