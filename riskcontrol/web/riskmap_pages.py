"""HTML route of the risk map (/risk-map): the staff's map of hazards, zones, open incidents and the heat of
past warnings in their scope, editable by the safety office; students see the public map."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from riskcontrol.core.http import AppContext, Ctx, Db
from riskcontrol.hazards.service import MANAGERS, cfg_of
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.riskmap import maps
from riskcontrol.riskmap.maps import MapSettings
from riskcontrol.riskmap.render import TileSource
from riskcontrol.riskmap.rules import Lang
from riskcontrol.web.pages import OptionalPrincipal, sign_in_first
from riskcontrol.web.templating import CONTENT_SECURITY_POLICY, document, page_language
from riskcontrol.web.warning_pages import script_messages

router = APIRouter(include_in_schema=False)

PAGE_SCRIPT = "/static/js/riskmap.js"


def map_settings(ctx: AppContext) -> MapSettings:
    settings = ctx.settings
    tiles = (
        TileSource(url_template=settings.map_tiles_url, attribution=settings.map_tiles_attribution, crs=settings.map_tiles_crs)
        if settings.map_tiles_url
        else None
    )
    return MapSettings(directory=settings.risk_map_dir, tz=settings.tz, tiles=tiles)


ICON = '<link rel="icon" href="/static/img/shield.svg">'


def _with_icon(html: str) -> str:
    """The site's icon, so that the browser does not ask for a /favicon.ico that is not there."""
    return html.replace("</head>", ICON + "</head>", 1)


def _policy(base: str, tile_origin: str | None) -> str:
    if tile_origin is None:
        return base
    return base.replace("img-src 'self'", f"img-src 'self' {tile_origin}", 1)


@router.get("/risk-map")
def risk_map_page(request: Request, ctx: Ctx, db: Db, principal: OptionalPrincipal) -> Response:
    """The risk map: drawn on the server with folium from the campus geometry, with every script served here."""
    lang: Lang = "en" if page_language(request, ctx.settings.default_language) == "en" else "zh-CN"
    if principal is None:
        return sign_in_first(request, ctx, lang)
    cfg = map_settings(ctx)
    if principal.roles <= STUDENT_ROLES:  # students see the public map (zones that may be shown to them, tips)
        html = maps.public_map(db, cfg, lang)
        return document(
            request, html, lang=lang, policy=_policy(maps.public_policy(html, CONTENT_SECURITY_POLICY), cfg.tile_origin())
        )
    editable = principal.has_role(*MANAGERS)
    matrix = cfg_of(ctx).matrix()
    page_data: dict[str, object] = {
        "lang": lang,
        "editable": editable,
        "messages": script_messages(lang, "riskmap.js."),
        "categories": [{"code": c.code, "label": c.zh if lang == "zh-CN" else c.en} for c in matrix.categories],
        "levels": [{"code": b.code, "label": b.label.zh if lang == "zh-CN" else b.label.en} for b in matrix.bands],
        "home_unit_id": _home_unit_id(principal.scope_paths),
        "api": {"hazards": "/api/v1/hazards", "zones": "/api/v1/zones"},
    }
    made = maps.staff_map(
        db,
        ctx.clock,
        principal,
        cfg,
        matrix=matrix,
        lang=lang,
        editable=editable,
        page_data=page_data,
        page_scripts=(PAGE_SCRIPT,),
    )
    policy = _policy(made.rendered.content_security_policy(CONTENT_SECURITY_POLICY), cfg.tile_origin())
    return document(request, _with_icon(made.rendered.html), lang=lang, policy=policy)


def _home_unit_id(paths: tuple[str, ...]) -> int | None:
    for path in paths:
        parts = [p for p in path.strip("/").split("/") if p]
        if parts:
            return int(parts[-1])
    return None
