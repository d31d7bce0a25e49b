"""Rendering pages: the Jinja2 environment, the page language, and the headers every page carries."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import escape

from riskcontrol.core import i18n
from riskcontrol.core.http import SECURITY_HEADERS, SESSION_COOKIE
from riskcontrol.core.security import csrf_token
from riskcontrol.web import frame

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"

# Pages load nothing from other origins and run no inline script, so a strict policy costs nothing.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS: Final[Mapping[str, str]] = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, **SECURITY_HEADERS}
LANG_COOKIE_MAX_AGE: Final = 365 * 24 * 3600
_BODY: Final = re.compile(r"<body(?P<attrs>(?:\s[^>]*)?)>", re.IGNORECASE)
_CLASS: Final = re.compile(r"""\sclass=["'](?P<names>)""", re.IGNORECASE)
# What a document made elsewhere loads to wear the frame's header (base.html loads the same).
FRAME_HEAD: Final = '<link rel="stylesheet" href="/static/css/frame.css"><script type="module" src="/static/js/page.js"></script>'

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page_language(request: Request, default: str) -> str:
    """The language of this request's page: ?lang=, then the lang cookie, then Accept-Language, then `default`."""
    return i18n.language_of(request, default)


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **params)` bound to one language, for templates and handlers."""
    return partial(i18n.translate, lang)


def session_csrf(request: Request) -> str:
    """The CSRF token of the session cookie this page is sent to ("" signed out): page scripts read it
    from the page's `csrf-token` meta tag and send it back in the X-CSRF-Token header."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf_token(request.app.state.ctx.secret, session) if session else ""


def csrf_meta(request: Request) -> str:
    """The meta tag carrying `session_csrf`, for documents not made from our templates (the risk map)."""
    return f'<meta name="csrf-token" content="{escape(session_csrf(request))}">'


def _finish(request: Request, response: Response, lang: str) -> Response:
    """Add the page headers and remember an explicit ?lang= choice in the lang cookie."""
    response.headers.update(PAGE_HEADERS)
    if i18n.normalize(request.query_params.get(i18n.LANG_QUERY)) is not None:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, samesite="lax", path="/")
    return response


def render(
    request: Request, name: str, *, lang: str, status_code: int = 200, switch_path: str | None = None, **context: Any
) -> Response:
    """The template `name` rendered in `lang` with the page headers; language links go to `switch_path`."""
    html = environment.get_template(name).render(**_frame_context(request, lang, switch_path), **context)
    return _finish(request, HTMLResponse(html, status_code=status_code), lang)


def _frame_context(request: Request, lang: str, switch_path: str | None) -> dict[str, Any]:
    """What the page frame (base.html, _frame_header.html) needs: the words, the language links, the
    session's CSRF token, and the header's back link."""
    t = translator(lang)
    return {
        "lang": lang,
        "t": t,
        "languages": i18n.LANGUAGES,
        "path": switch_path or request.url.path,
        "page_csrf": session_csrf(request),
        "frame_back": frame.back_link(request, t),
    }


def document(request: Request, html: str, *, lang: str, policy: str) -> Response:
    """A whole HTML document made elsewhere (the risk map) in the page frame (the same header as every
    page), with the page headers and its own Content-Security-Policy (which allows exactly its inline scripts)."""
    header = environment.get_template("_frame_header.html").render(**_frame_context(request, lang, None))
    html = html.replace("</head>", csrf_meta(request) + FRAME_HEAD + "</head>", 1)
    html = _BODY.sub(lambda tag: _framed_body(tag) + header, html, count=1)
    response = _finish(request, HTMLResponse(html), lang)
    response.headers["Content-Security-Policy"] = policy
    return response


def _framed_body(tag: re.Match[str]) -> str:
    """A document's <body> tag with the frame's class added to its own."""
    attrs = tag.group("attrs")
    if (found := _CLASS.search(attrs)) is not None:
        at = found.start("names")
        return f"<body{attrs[:at]}frame-document {attrs[at:]}>"
    return f'<body{attrs} class="frame-document">'


def redirect(request: Request, url: str, *, lang: str) -> Response:
    """A 303 See Other to `url` with the page headers."""
    return _finish(request, RedirectResponse(url, status_code=303), lang)
