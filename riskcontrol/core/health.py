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


@router.get("/readyz", responses={503: {"description": "Database unreachable, not migrated, or deadlines not swept"}})
def readyz(ctx: Ctx) -> JSONResponse:
    """Ready when the database answers, its schema is at the newest migration, and some process has
    swept the deadlines within `ready_sweep_within` (else nothing climbs: not ready, whatever else works)."""
    body: dict[str, Any] = {"database": "ok", "migrations": "current"}
    status = 200
    try:
        with ctx.sessions() as db:
            db.execute(text("SELECT 1"))
            beat = latest_heartbeat(db)
        body["worker_heartbeat_at"] = beat.isoformat() if beat else None
        age = None if beat is None else (ctx.clock.now() - beat).total_seconds()
        body["sweep_age_seconds"] = None if age is None else round(age, 1)
        limit = ctx.settings.ready_sweep_within.total_seconds()
        body["sweep"] = "ok" if age is not None and age <= limit else "never" if age is None else f"none for {int(age)}s"
        if body["sweep"] != "ok":
            status = 503
        current, head = migrations.current_revision(ctx.engine), migrations.head_revision()
        if current != head:
            body["migrations"] = f"database at {current}, code expects {head}"
            status = 503
    except Exception as exc:  # a readiness probe reports any failure instead of raising it
        body["database"] = f"unreachable: {type(exc).__name__}"
        status = 503
    body["status"] = "ready" if status == 200 else "not ready"
    return JSONResponse(status_code=status, content=body)
