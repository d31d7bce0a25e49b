"""HTTP API for admins to import units, students and staff from a CSV request body, all or nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from riskcontrol.core.errors import Conflict, TooLarge, UnsupportedMediaType, error_responses
from riskcontrol.core.http import Ctx, CurrentPrincipal, Db
from riskcontrol.core.security import Principal, require_role
from riskcontrol.people import importer, rules

router = APIRouter(prefix="/api/v1/admin/import", tags=["import"])

MAX_BYTES = 10 * 1024 * 1024
# Browsers and scripts label CSV files in several ways; anything else is most likely a form or JSON.
CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream"})


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
    media_type = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if media_type not in CSV_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"send the CSV file itself as the request body with Content-Type: text/csv, not {media_type}", field="file"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise TooLarge("the file is larger than 10 MB; split it into several imports", field="file")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise TooLarge("the file is larger than 10 MB; split it into several imports", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{kind}",
    response_model=ImportCountsOut,
    responses=error_responses(409, 413, 415),
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def import_file(
    kind: importer.ImportKind,
    by: Annotated[Principal, Depends(admin)],
    data: Annotated[bytes, Depends(csv_body)],
    db: Db,
    ctx: Ctx,
) -> ImportCountsOut | JSONResponse:
    """Import a CSV file of `kind`: every row is stored, or (when any row is bad) none is and each bad row is listed."""
    try:
        report = importer.import_csv(db, ctx.clock, kind=kind, data=data, by=by)
        if not report.errors:
            db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise Conflict("another change to the same records was saved meanwhile; import the file again", field="file") from exc
    if report.errors:
        first = report.errors[0]
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid",
                "message": f"{len(report.errors)} problem(s), nothing was imported; "
                f"first: line {first.line}, column {first.column}: {first.reason}",
                "field": "file",
                "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in report.errors],
            },
        )
    return ImportCountsOut(**report.counts())
