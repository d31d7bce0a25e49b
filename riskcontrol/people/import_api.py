"""HTTP API for admins to import units, students and staff from a CSV request body, all or nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import CSV_MEDIA_TYPES, Ctx, CurrentPrincipal, Db, committed_import, import_refused, upload_body
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, require_role
from riskcontrol.people import importer, rules

router = APIRouter(prefix="/api/v1/admin/import", tags=["import"])


class ImportCountsOut(BaseModel):
    """What a successful import did."""

    created: int
    updated: int
    unchanged: int


def admin(principal: CurrentPrincipal) -> Principal:
    """The caller, refused before the upload is read unless they manage the directory."""
    require_role(principal, *rules.MANAGES_DIRECTORY)
    return principal


async def csv_body(request: Request) -> bytes:
    """The raw request body, refused when it is not CSV or larger than 10 MB (checked while it streams in)."""
    return await upload_body(request, CSV_MEDIA_TYPES, what=phrase("refusal.upload.csv"))


@router.post(
    "/{kind}",
    response_model=ImportCountsOut,
    responses=error_responses(409, 413, 415),
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def import_file(
    request: Request,
    kind: importer.ImportKind,
    by: Annotated[Principal, Depends(admin)],
    data: Annotated[bytes, Depends(csv_body)],
    db: Db,
    ctx: Ctx,
) -> ImportCountsOut | JSONResponse:
    """Import a CSV file of `kind`: every row is stored, or (when any row is bad) none is and each bad row is listed."""
    report = committed_import(db, lambda: importer.import_csv(db, ctx.clock, kind=kind, data=data, by=by))
    if report.errors:
        return import_refused(request, report.errors)
    return ImportCountsOut(**report.counts())
