"""HTML route of the live incident board: the page shell; its script fills it from the board API and socket."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from riskcontrol.core.http import Ctx
from riskcontrol.web.pages import OptionalPrincipal, sign_in_first
from riskcontrol.web.templating import page_language, render
from riskcontrol.web.warning_pages import script_messages

router = APIRouter(include_in_schema=False)


# Read-only for everyone in this version: the page has no action buttons at all, so a leader
# watching it on the wall and the on-duty team see the same thing; incidents are moved through
# the incident API (and its detail page, later). What each person sees is their grid scope,
# which the board API and socket apply, so every signed-in user may open the page.
@router.get("/board")
def board_page(request: Request, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """The 7×24 team's live board of open incidents: levels, SOP progress, deadlines, who is on duty."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    return render(
        request,
        "board.html",
        lang=lang,
        messages=script_messages(lang, "board.js."),
        # Found by route name, so the page follows the incident API wherever it is mounted.
        snapshot_url=request.app.url_path_for("get_board"),
        socket_url=request.app.url_path_for("board_socket"),
    )
