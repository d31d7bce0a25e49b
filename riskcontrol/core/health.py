"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from riskcontrol.core import migrations
from riskcontrol.core.http import Ctx
from riskcontrol.core.worker import latest_heartbeat

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable or not migrated"}})
def readyz(ctx: Ctx) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    body: dict[str, Any] = {"database": "ok", "migrations": "current"}
    status = 200
    try:
        with ctx.sessions() as db:
            db.execute(text("SELECT 1"))
            beat = latest_heartbeat(db)
        body["worker_heartbeat_at"] = beat.isoformat() if beat else None
        current, head = migrations.current_revision(ctx.engine), migrations.head_revision()
        if current != head:
            body["migrations"] = f"database at {current}, code expects {head}"
            status = 503
    except Exception as exc:  # a readiness probe reports any failure instead of raising it
        body["database"] = f"unreachable: {type(exc).__name__}"
        status = 503
    body["status"] = "ready" if status == 200 else "not ready"
    return JSONResponse(status_code=status, content=body)
