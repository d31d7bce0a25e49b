"""HTML route of one incident's command page: the shell; its script runs it through the incident API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from riskcontrol.core.http import Ctx, PathId
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, IcsRole, Level
from riskcontrol.web.pages import OptionalPrincipal, sign_in_first
from riskcontrol.web.templating import page_language, render
from riskcontrol.web.warning_pages import script_messages

router = APIRouter(include_in_schema=False)


@router.get("/incidents/{incident_id}")
def incident_page(incident_id: PathId, request: Request, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """One incident for the response team: SOP progress, the buttons the SOP allows now, tasks with
    their deadlines, roles, notes and the timeline, updated live. Leaders see it without buttons
    (the API decides who may act; the page only shows what it is told)."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    levels = {
        level.name: f"{level.numeral} {LEVEL_NAMES[level].zh if lang == 'zh-CN' else LEVEL_NAMES[level].en}" for level in Level
    }
    return render(
        request,
        "incident.html",
        lang=lang,
        incident_id=incident_id,
        messages=script_messages(lang, ("incident.js.", "incident.role.", "incident.involvement.")),
        levels=levels,
        roles=[role.value for role in IcsRole],
        api_url=request.app.url_path_for("get_incident", incident_id=str(incident_id)),
        socket_url=request.app.url_path_for("board_socket"),
    )
