"""HTTP API of a student's rights: the export of everything held about them, and correction requests."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import SECURITY_HEADERS, Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.privacy.subject import document, export, service
from riskcontrol.privacy.subject.schemas import CorrectionIn, CorrectionOut, DecisionIn

router = APIRouter(prefix="/api/v1", tags=["privacy"])

ExportFormat = Literal["json", "pdf"]
Lang = Literal["zh", "en"]


@router.get(
    "/students/{student_id}/export",
    responses={**error_responses(403, 404), 200: {"content": {"application/json": {}, "application/pdf": {}}}},
)
def export_student(
    student_id: PathId,
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
    lang: Lang = "zh",
) -> Response:
    """Everything held about one student (PIPL Art. 45), as JSON or a readable PDF; student affairs only, audited."""
    data = export.export(db, ctx.clock, principal, student_id, fmt=fmt)
    db.commit()  # the audit row of the export
    if fmt == "json":
        return JSONResponse(data, headers=dict(SECURITY_HEADERS))
    pdf = document.render_pdf(data, tz=ctx.settings.tz, lang=lang)
    name = f"student-{data['student']['id']}-export.pdf"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/students/{student_id}/corrections", response_model=list[CorrectionOut], responses=error_responses(403, 404))
def list_corrections(student_id: PathId, db: Db, principal: CurrentPrincipal) -> list[CorrectionOut]:
    """The correction requests about one student, oldest first."""
    student = service.subject(db, principal, student_id)
    return [CorrectionOut.model_validate(c) for c in service.corrections(db, student.id)]


@router.post(
    "/students/{student_id}/corrections", status_code=201, response_model=CorrectionOut, responses=error_responses(403, 404)
)
def record_correction(student_id: PathId, body: CorrectionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> CorrectionOut:
    """Record a student's request to correct what is held about them (PIPL Art. 46); audited."""
    request = service.record_correction(db, ctx.clock, principal, student_id, body)
    db.commit()
    return CorrectionOut.model_validate(request)


@router.post(
    "/students/{student_id}/corrections/{correction_id}/decision",
    response_model=CorrectionOut,
    responses=error_responses(403, 404, 409),
)
def decide_correction(
    student_id: PathId, correction_id: PathId, body: DecisionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal
) -> CorrectionOut:
    """Accept or refuse a pending correction request, with the reason; audited."""
    request = service.decide_correction(db, ctx.clock, principal, student_id, correction_id, body)
    db.commit()
    return CorrectionOut.model_validate(request)
