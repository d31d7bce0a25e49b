"""The page frame: where each page's back link leads, declared once for every page of the product."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from fastapi import Request


@dataclass(frozen=True)
class Up:
    """The page a page sits under: its path (its `{name}`s filled from the page's own path parameters)
    and the catalogue key of its title."""

    path: str
    title: str


@dataclass(frozen=True)
class BackLink:
    """The header's back link of one page, ready to show."""

    href: str
    title: str
    label: str


HOME: Final = Up("/", "home.title")
# Every page route (its path as declared) and the page above it in the product's structure: the header's back
# link leads there, not to wherever the browser came from, because people also arrive from an SMS link or a
# bookmark. None: the page has no back link (home, and the sign-in form). A page not named here goes home.
UP: Final[Mapping[str, Up | None]] = {
    "/": None,
    "/login": None,
    "/observe": HOME,
    "/my-reports": HOME,
    "/inbox": HOME,
    "/e/{token}": Up("/inbox", "inbox.title"),
    "/escalations/{escalation_id}": Up("/inbox", "inbox.title"),
    "/board": HOME,
    "/incidents/{incident_id}": Up("/board", "board.title"),
    "/incidents/{incident_id}/aftercare": Up("/incidents/{incident_id}", "incident.title"),
    "/prevention": HOME,
    "/inspections": HOME,
    "/inspections/{round_id}": Up("/inspections", "inspection.title"),
    "/hazards/report": HOME,
    "/hazards/mine": Up("/hazards/report", "hazard_report.home_action"),
    "/risk-map": HOME,
    "/reviews": HOME,
    "/incidents/{incident_id}/review-report": Up("/reviews", "reviews.title"),
    "/playbook-revisions": Up("/reviews", "reviews.title"),
    "/playbook-revisions/{revision_id}": Up("/playbook-revisions", "revisions.title"),
    "/cases": HOME,
    "/cases/{case_id}": Up("/cases", "cases.title"),
}


def up_of(request: Request) -> Up | None:
    """The page above the one this request is for (home when its route is not declared)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return UP.get(path, HOME) if isinstance(path, str) else HOME


def back_link(request: Request, t: Callable[..., str]) -> BackLink | None:
    """The back link of this request's page in the words of `t`, or None for a page without one."""
    up = up_of(request)
    if up is None:
        return None
    params = {name: quote(str(value), safe="") for name, value in request.path_params.items()}
    title = t(up.title)
    return BackLink(href=up.path.format_map(params), title=title, label=t("frame.back", page=title))
