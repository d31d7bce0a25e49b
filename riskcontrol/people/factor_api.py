"""HTTP API of student risk factors: import a student-affairs export, read a student's factors (audited)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from riskcontrol.core import audit
from riskcontrol.core.errors import Forbidden, error_responses
from riskcontrol.core.http import (
    CSV_MEDIA_TYPES,
    TABLE_UPLOAD_OPENAPI,
    XLSX_MEDIA_TYPE,
    Ctx,
    CurrentPrincipal,
    Db,
    PathId,
    committed_import,
    import_refused,
    upload_body,
)
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.people import factor_import, rules
from riskcontrol.people import service as people_service
from riskcontrol.people.concern_api import register_config

router = APIRouter(prefix="/api/v1", tags=["risk factors"])


class FactorImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    not_flagged: int
    interviews: int
    no_counselor: list[str]


class FactorOut(BaseModel):
    id: int
    code: str
    zh: str
    en: str
    source: str
    dated: date
    expires_on: date
    detail: dict[str, Any]
    imported_at: datetime


def importer(principal: CurrentPrincipal) -> Principal:
    """The caller, refused before the upload is read unless they import risk factors."""
    if not principal.has_role(*factor_import.IMPORTS):
        raise Forbidden(phrase("refusal.factors.import_forbidden"), field="file")
    return principal


async def table_body(request: Request) -> bytes:
    return await upload_body(request, CSV_MEDIA_TYPES | {XLSX_MEDIA_TYPE}, what=phrase("refusal.upload.csv_or_xlsx"))


@router.post(
    "/imports/factors/{source}",
    response_model=FactorImportOut,
    responses=error_responses(403, 409, 413, 415),
    openapi_extra=TABLE_UPLOAD_OPENAPI,
)
def import_factors(
    request: Request,
    source: factor_import.FactorSource,
    by: Annotated[Principal, Depends(importer)],
    data: Annotated[bytes, Depends(table_body)],
    db: Db,
    ctx: Ctx,
) -> FactorImportOut | JSONResponse:
    """Import one source's export (layouts in docs/risk-factors.md): every row is stored, or (when any
    row is bad) none is and each problem is listed by line and column."""
    catalogue = factor_import.load_catalogue(ctx.settings.sop_dir)
    register = register_config(ctx)
    report = committed_import(
        db, lambda: factor_import.import_factors(db, ctx.clock, catalogue, register, source=source, data=data, by=by)
    )
    if report.errors:
        return import_refused(request, report.errors)
    return FactorImportOut(**report.counts())


@router.get("/students/{student_id}/factors", responses=error_responses(403, 404))
def student_factors(student_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> list[FactorOut]:
    """A student's risk factors that still count: for staff who may see a student's known risk, within
    their grid scope; every read is audited."""
    if not principal.has_role(*rules.SEES_RISK):
        raise Forbidden(phrase("refusal.factors.read_forbidden"))
    student = people_service.get_student(db, principal.narrowed_to(*rules.SEES_RISK), student_id)
    catalogue = factor_import.load_catalogue(ctx.settings.sop_dir)
    today = ctx.clock.now().astimezone(ctx.settings.tz).date()
    found = factor_import.active_factors(db, student.id, today)
    audit.record(
        db,
        ctx.clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="student.factors.read",
        subject_type="student",
        subject_id=student.id,
        detail={"factors": len(found)},
    )
    db.commit()
    out = []
    for f in found:
        entry = catalogue.get(f.code)
        zh, en = (entry.zh, entry.en) if entry is not None else (f.code, f.code)
        out.append(
            FactorOut(
                id=f.id,
                code=f.code,
                zh=zh,
                en=en,
                source=f.source,
                dated=f.dated,
                expires_on=f.expires_on,
                detail=f.detail,
                imported_at=f.imported_at,
            )
        )
    return out
