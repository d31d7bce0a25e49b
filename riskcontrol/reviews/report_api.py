"""HTTP API of the review report (复盘报告) of one incident, as an HTML page or a PDF."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import SECURITY_HEADERS, Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.reviews import report

router = APIRouter(prefix="/api/v1", tags=["reviews"])

Lang = Literal["zh", "en"]


# The report is one self-contained document: its CSS and chart inline, no script, nothing fetched.
REPORT_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    **SECURITY_HEADERS,
}


def _page(db: Db, ctx: Ctx, principal: CurrentPrincipal, incident_id: int, lang: Lang, *, screen: bool = True) -> str:
    cfg: IncidentConfig = ctx.extras["incidents"]
    page = report.render_html(report.build(db, ctx.clock, principal, incident_id, tz=cfg.tz, lang=lang), screen=screen)
    db.commit()  # the audited read of the people's names
    return page


@router.get(
    "/incidents/{incident_id}/review-report.html", responses={**error_responses(404), 200: {"content": {"text/html": {}}}}
)
def review_report_html(incident_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: Lang = "zh") -> HTMLResponse:
    """The incident's review report as a page; names of the people only for roles that reach families."""
    return HTMLResponse(_page(db, ctx, principal, incident_id, lang), headers=REPORT_HEADERS)


@router.get(
    "/incidents/{incident_id}/review-report.pdf",
    responses={**error_responses(404), 200: {"content": {"application/pdf": {}}}},
)
def review_report_pdf(incident_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: Lang = "zh") -> Response:
    """The incident's review report as a PDF (CJK font embedded)."""
    data = report.render_pdf(_page(db, ctx, principal, incident_id, lang, screen=False))
    name = f"review-report-{incident_id}.pdf"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})
