"""HTML routes of the web shell: sign in, sign out, and the home page of the signed-in user."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from riskcontrol.core import metrics
from riskcontrol.core.clock import local_text
from riskcontrol.core.errors import Locked
from riskcontrol.core.http import NO_NUL, SESSION_COOKIE, AppContext, Ctx, Db, optional_principal, record_denial, request_token
from riskcontrol.core.ratelimit import client_address
from riskcontrol.core.security import Principal, csrf_token, new_token
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind, path_ids
from riskcontrol.kpi import home as home_figures
from riskcontrol.kpi.home import Tile
from riskcontrol.observations.service import MAY_FILE
from riskcontrol.people import auth
from riskcontrol.people.rules import STUDENT_ROLES, Role
from riskcontrol.web.templating import page_language, redirect, render, translator

router = APIRouter(include_in_schema=False)

OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
ICON_FILE = Path(__file__).resolve().parent / "static" / "img" / "shield.svg"
# The sign-in form's CSRF token is bound to a random value in this cookie (there is no session yet).
LOGIN_COOKIE = "rc_login"
_ROLE_ORDER = {role.value: index for index, role in enumerate(Role)}
# Whom the home page offers the incident board (anyone signed in may open it, read-only).
_BOARD_ROLES = (Role.RESPONSE_TEAM, Role.STUDENT_AFFAIRS, Role.LEADER, Role.ADMIN)
# Whom it offers the prevention page: those who oversee prevention, and those who own its rounds.
_PREVENTION_ROLES = frozenset(Role) - {Role.RESPONSE_TEAM}
# Who may report a hazard from the phone (随手拍): everyone on the grid, students' roles included; not the administrator.
REPORTERS = frozenset(Role) - {Role.ADMIN}


@dataclass(frozen=True)
class RoleLine:
    """One role the user holds, with the unit it is held at and where that unit sits, ready to show."""

    role: str
    unit: str
    place: str


@dataclass(frozen=True)
class TileCount:
    """A home tile's figure in words, and whether it is nought (shown quieter)."""

    text: str
    zero: bool


def _lang(request: Request, ctx: AppContext) -> str:
    return page_language(request, ctx.settings.default_language)


def outage_page(request: Request, trouble: str, retry_after: int) -> Response:
    """The 503 page when the database is busy or cannot be reached: nothing was saved, try again soon."""
    lang = _lang(request, request.app.state.ctx)
    message = translator(lang)(f"error.database_{trouble}", seconds=retry_after)
    return render(request, "error.html", lang=lang, status_code=503, message=message)


def unit_name(unit: OrgUnit, lang: str) -> str:
    """The unit's name in the page language."""
    return unit.name_en if lang == "en" else unit.name_zh


def shown_at(ctx: AppContext, at: datetime | None, lang: str, *, whole_day: bool = False, empty: str = "") -> str:
    """An instant as a page shows it: on the school's clock, in the page language, its date left out
    today (`09:29`, `12月6日 09:29`), or with `whole_day` the date alone; `empty` when there is none."""
    return local_text(at, lang, ctx.settings.tz, now=ctx.clock.now(), whole_day=whole_day, empty=empty)


def _set_session_cookie(response: Response, ctx: AppContext, token: str | None) -> None:
    """Set (or, with no token, clear) the session cookie with the same attributes both ways."""
    secure = bool(ctx.settings.secure_cookies)
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        return
    max_age = int(ctx.settings.session_ttl.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def csrf_refused(
    request: Request, ctx: AppContext, principal: Principal, token: str, csrf: str, lang: str, *, what: str, back: str
) -> Response | None:
    """None when a form's `csrf` is the token bound to this session; otherwise the refusal is audited (`what`
    names the route) and the 403 page is the answer, with its language links to `back`."""
    if hmac.compare_digest(csrf.encode("utf-8"), csrf_token(ctx.secret, token).encode("utf-8")):
        return None
    record_denial(ctx, principal, what, "csrf token missing or wrong", 403)
    return render(request, "error.html", lang=lang, status_code=403, switch_path=back, message=translator(lang)("error.csrf"))


def sign_in_first(request: Request, ctx: AppContext, lang: str, *, back_to: str | None = None) -> Response:
    """A redirect to the sign-in form for a page that needs a session; a stale session cookie is cleared.
    With `back_to` (a path of ours) the form leads there once signed in, not home: a page reached from a
    text message (an escalation's, say) opens after signing in."""
    response = redirect(request, "/login" + (f"?next={quote(back_to, safe='/')}" if back_to else ""), lang=lang)
    if SESSION_COOKIE in request.cookies:
        _set_session_cookie(response, ctx, None)
    return response


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The site's icon where browsers look for it unasked (phones that do not take the SVG link)."""
    return FileResponse(ICON_FILE, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


def _login_nonce(request: Request) -> str | None:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if 16 <= len(nonce) <= 64 else None


def login_form(
    request: Request, ctx: AppContext, lang: str, *, status_code: int = 200, username: str = "", error: str | None = None
) -> Response:
    """The sign-in form, its token bound to a random value in a cookie of its own: another site cannot
    post the form (and so sign this browser in to an account of its choosing) without knowing both."""
    nonce = _login_nonce(request) or new_token()
    csrf = csrf_token(ctx.secret, "login:" + nonce)
    shown = {"username": username, "error": error, "csrf": csrf, "next": _next_of(request)}
    reply = render(request, "login.html", lang=lang, status_code=status_code, **shown)
    secure = bool(ctx.settings.secure_cookies)
    reply.set_cookie(LOGIN_COOKIE, nonce, path="/login", secure=secure, httponly=True, samesite="lax")
    return reply


def _next_of(request: Request) -> str:
    """Where the sign-in form leads once signed in: the `?next=` path when it is one of ours (never another
    site, `//host` or a scheme), else home."""
    wanted = request.query_params.get("next") or "/"
    parts = urlsplit(wanted)
    # A browser reads `/\host` and `/<tab>/host` as another site: no backslash, space or control character.
    plain = len(wanted) <= 512 and not any(ch == "\\" or ch.isspace() or ord(ch) < 0x20 for ch in wanted)
    ours = wanted.startswith("/") and not wanted.startswith("//") and not parts.scheme and not parts.netloc
    return wanted if ours and plain else "/"


def _login_csrf_holds(request: Request, ctx: AppContext, csrf: str) -> bool:
    nonce = _login_nonce(request)
    expected = csrf_token(ctx.secret, "login:" + nonce) if nonce else ""
    return bool(nonce) and hmac.compare_digest(csrf.encode("utf-8"), expected.encode("utf-8"))


@router.get("/login")
def login_page(request: Request, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """The sign-in form; someone already signed in goes straight home."""
    lang = _lang(request, ctx)
    if principal is not None:
        return redirect(request, _next_of(request), lang=lang)
    return login_form(request, ctx, lang)


@router.post("/login")
def login_submit(
    request: Request,
    db: Db,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=150, pattern=NO_NUL)] = "",
    password: Annotated[str, Form(max_length=1024, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=256, pattern=NO_NUL)] = "",
) -> Response:
    """Check the form's token and the password; on success start a web session in an HttpOnly cookie and go home."""
    lang = _lang(request, ctx)
    t = translator(lang)
    source = client_address(request)
    username = username.strip()

    def too_many(exc: Locked, key: str) -> Response:
        minutes = max(1, math.ceil(exc.retry_after / 60))
        reply = login_form(request, ctx, lang, status_code=429, username=username, error=t(key, minutes=minutes))
        reply.headers["Retry-After"] = str(exc.retry_after)
        return reply

    try:
        ctx.rates.check_login(source, username)
    except Locked as exc:
        return too_many(exc, "login.error.too_many")
    if not _login_csrf_holds(request, ctx, csrf):
        metrics.refused("login_csrf")
        return login_form(request, ctx, lang, status_code=403, username=username, error=t("login.error.expired"))
    policy = auth.LoginPolicy.from_settings(ctx.settings)
    outcome = auth.attempt_login(db, ctx.clock, policy, username=username, password=password, kind="web", source=source)
    db.commit()
    if outcome.error is not None or outcome.token is None:
        if isinstance(outcome.error, Locked):
            return too_many(outcome.error, "login.error.locked")
        return login_form(request, ctx, lang, status_code=401, username=username, error=t("login.error.bad_credentials"))
    response = redirect(request, _next_of(request), lang=lang)
    _set_session_cookie(response, ctx, outcome.token)
    return response


@router.post("/logout")
def logout(
    request: Request,
    db: Db,
    ctx: Ctx,
    principal: OptionalPrincipal,
    csrf: Annotated[str, Form(max_length=256, pattern=NO_NUL)] = "",
) -> Response:
    """End the web session; the form must carry the CSRF token bound to that session."""
    lang = _lang(request, ctx)
    token = request_token(request)
    if principal is None or token is None:
        response = redirect(request, "/login", lang=lang)
        _set_session_cookie(response, ctx, None)
        return response
    if (refused := csrf_refused(request, ctx, principal, token, csrf, lang, what="POST /logout", back="/")) is not None:
        return refused
    auth.logout(db, ctx.clock, principal)
    db.commit()
    response = redirect(request, "/login", lang=lang)
    _set_session_cookie(response, ctx, None)
    return response


def role_lines(db: Session, principal: Principal, lang: str) -> list[RoleLine]:
    """The caller's roles with the units they are held at, in role order, named in `lang`: each unit with the
    unit it sits under (a dorm head's room with its class), the school's as the whole school."""
    t = translator(lang)
    held = grid_service.held_units(db, principal)
    lines = []
    for role, path in sorted(principal.grants, key=lambda g: (_ROLE_ORDER.get(g[0], len(_ROLE_ORDER)), g[1])):
        ids = path_ids(path)
        if not ids or ids[-1] not in held:
            continue
        unit, above = held[ids[-1]]
        kind = t(f"unit_kind.{unit.kind}")
        if unit.kind == UnitKind.SCHOOL:
            place = t("home.post.whole_school")
        elif above is not None:
            place = t("home.post.under", kind=kind, parent=unit_name(above, lang))
        else:
            place = kind
        lines.append(RoleLine(role=t(f"role.{role}"), unit=unit_name(unit, lang), place=place))
    return lines


def _tiles(principal: Principal) -> dict[Tile, bool]:
    """Which tiles with a figure the home page shows this person (the map's figure is the staff's)."""
    staff = not principal.roles <= STUDENT_ROLES
    return {
        Tile.INBOX: True,
        Tile.MY_REPORTS: principal.has_role(*MAY_FILE),
        Tile.HAZARD_REPORT: principal.has_role(*REPORTERS),
        Tile.BOARD: principal.has_role(*_BOARD_ROLES),
        Tile.PREVENTION: principal.has_role(*_PREVENTION_ROLES),
        Tile.INSPECTIONS: principal.has_role(Role.SAFETY_OFFICER, Role.ADMIN),
        Tile.REVIEWS: principal.has_role(*_BOARD_ROLES),
        Tile.RISK_MAP: staff,
    }


@router.get("/")
def home(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """The signed-in user's home: who they are, a tile per page with the figure that matters to them there,
    and their roles with the units they are held at."""
    lang = _lang(request, ctx)
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    t = translator(lang)
    shown = _tiles(principal)
    counts = {
        tile.value: TileCount(text=t(f"home.count.{tile}", count=figure), zero=figure == 0)
        for tile, figure in home_figures.figures(db, ctx, principal, [tile for tile, on in shown.items() if on]).items()
    }
    staff = shown[Tile.RISK_MAP]
    return render(
        request,
        "home.html",
        lang=lang,
        display_name=principal.display_name,
        username=principal.username,
        roles=role_lines(db, principal, lang),
        counts=counts,
        show_board=shown[Tile.BOARD],
        show_prevention=shown[Tile.PREVENTION],
        show_inspections=shown[Tile.INSPECTIONS],
        show_my_reports=shown[Tile.MY_REPORTS],
        show_hazard_report=shown[Tile.HAZARD_REPORT],
        show_staff_map=staff,
        show_cases=staff,
        csrf=csrf_token(ctx.secret, token),
    )
