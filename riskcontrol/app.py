"""The composition root: builds the FastAPI application from settings."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from riskcontrol import __version__
from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.errors import error_responses
from riskcontrol.core.health import router as health_router
from riskcontrol.core.http import AppContext, install_error_handlers
from riskcontrol.core.worker import Worker
from riskcontrol.grid.api import router as grid_router
from riskcontrol.people import auth
from riskcontrol.people.api import router as people_router
from riskcontrol.people.import_api import router as import_router
from riskcontrol.settings import Settings
from riskcontrol.web.pages import router as pages_router

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


def build_worker(ctx: AppContext) -> Worker:
    """The worker with every domain's jobs (the sweeper and dispatcher arrive with escalations)."""
    return Worker(sessions=ctx.sessions, clock=ctx.clock, jobs=[])


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """An application wired from `settings`; tests pass their own settings and a manual clock."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        clock=clock or SystemClock(),
        secret=settings.resolve_secret(),
        principal_loader=auth.load_principal,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.run_worker_in_process:
            worker = build_worker(ctx)
            thread = threading.Thread(
                target=worker.run_forever, args=(stop, settings.worker_interval), daemon=True, name="riskcontrol-worker"
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
            engine.dispose()

    app = FastAPI(
        title="riskcontrol",
        version=__version__,
        lifespan=lifespan,
        responses=error_responses(400, 401, 403, 404, 422),
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(people_router)
    app.include_router(import_router)
    app.include_router(grid_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
