"""The composition root: builds the FastAPI application from settings."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol import __version__
from riskcontrol.core import audit, audit_anchors, deadlines, logredact, metrics
from riskcontrol.core.bus import make_bus
from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.db_metrics import DatabaseCollector
from riskcontrol.core.dispatcher import Dispatcher
from riskcontrol.core.errors import error_responses
from riskcontrol.core.health import router as health_router
from riskcontrol.core.http import SESSION_COOKIE, AppContext, NoSniff, install_error_handlers
from riskcontrol.core.principals import PrincipalCache
from riskcontrol.core.ratelimit import AnonymousLimit, RateLimits
from riskcontrol.core.security import use_password_hashing
from riskcontrol.core.worker import Worker
from riskcontrol.escalation import concern_watch
from riskcontrol.escalation import service as escalation_service
from riskcontrol.escalation.api import router as escalation_router
from riskcontrol.escalation.policy import load_calendar
from riskcontrol.escalation.service import EscalationConfig
from riskcontrol.grid.api import router as grid_router
from riskcontrol.hazards import followup as hazard_followup
from riskcontrol.hazards import inspections
from riskcontrol.hazards.api import router as hazards_router
from riskcontrol.hazards.inspection_api import router as inspections_router
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.incidents import prevention, roster
from riskcontrol.incidents import wiring as incident_wiring
from riskcontrol.incidents.api import board_fanout
from riskcontrol.incidents.api import router as incidents_router
from riskcontrol.incidents.api import sockets as incident_sockets
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.prevention_api import router as prevention_router
from riskcontrol.incidents.prevention_rules import Calendar
from riskcontrol.incidents.roster_api import router as roster_router
from riskcontrol.notify import service as notify_service
from riskcontrol.notify.api import TWILIO_STATUS_PATH, inbox_fanouts
from riskcontrol.notify.api import router as notify_router
from riskcontrol.notify.senders import InAppSender, SmsSender
from riskcontrol.notify.sms import SmsChannel, channel_from_settings
from riskcontrol.observations import opinion_service
from riskcontrol.observations.api import router as observations_router
from riskcontrol.observations.catalog import load_checklist
from riskcontrol.observations.opinion_api import router as opinion_router
from riskcontrol.people import auth
from riskcontrol.people.api import router as people_router
from riskcontrol.people.concern_api import REASON_CODES
from riskcontrol.people.concern_api import router as concern_router
from riskcontrol.people.cover_api import router as cover_router
from riskcontrol.people.factor_api import router as factor_router
from riskcontrol.people.import_api import router as import_router
from riskcontrol.privacy import retention as privacy_retention
from riskcontrol.privacy.api import router as privacy_router
from riskcontrol.privacy.subject.api import router as subject_router
from riskcontrol.reviews import actions as review_actions
from riskcontrol.reviews import recovery as review_recovery
from riskcontrol.reviews import service as review_service
from riskcontrol.reviews.api import router as reviews_router
from riskcontrol.reviews.report_api import router as review_report_router
from riskcontrol.reviews.revision_api import router as revisions_router
from riskcontrol.reviews.service import ReviewConfig
from riskcontrol.settings import Settings
from riskcontrol.web.aftercare_pages import router as aftercare_pages_router
from riskcontrol.web.board_pages import router as board_pages_router
from riskcontrol.web.case_pages import router as case_pages_router
from riskcontrol.web.escalation_pages import router as escalation_pages_router
from riskcontrol.web.hazard_pages import router as hazard_pages_router
from riskcontrol.web.incident_pages import router as incident_pages_router
from riskcontrol.web.inspection_pages import router as inspection_pages_router
from riskcontrol.web.pages import outage_page
from riskcontrol.web.pages import router as pages_router
from riskcontrol.web.prevention_pages import router as prevention_pages_router
from riskcontrol.web.review_pages import router as review_pages_router
from riskcontrol.web.revision_pages import router as revision_pages_router
from riskcontrol.web.riskmap_pages import router as riskmap_pages_router
from riskcontrol.web.warning_pages import router as warning_pages_router

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


def build_context(settings: Settings, *, clock: Clock | None = None, sms: SmsChannel | None = None) -> AppContext:
    """Database, clock, bus and every domain's wiring: channels, deadline handlers, event subscribers."""
    trail = settings.audit_config()
    engine = make_engine(settings.database_url)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=audit.keyed(make_sessionmaker(engine), trail.key),
        clock=clock or SystemClock(),
        secret=settings.resolve_secret(),
        principals=PrincipalCache(
            auth.load_principal,
            ttl_seconds=settings.principal_cache_seconds,
            watched_tables=auth.PRINCIPAL_TABLES,
        ),
        bus=make_bus(settings.redis_url, heartbeat_seconds=settings.bus_retry_seconds),
    )
    ctx.rates = RateLimits.per_minute(
        ctx.clock,
        anonymous=settings.rate_limit_anonymous_per_minute,
        login=settings.rate_limit_login_per_minute,
        user=settings.rate_limit_user_per_minute,
    )
    use_password_hashing(settings.resolve_argon2_profile())
    on_failure = notify_service.outbox_failure_hook(ctx.events)
    callback = settings.public_url(TWILIO_STATUS_PATH) if settings.sms_backend == "twilio" else None
    ctx.channels.register(notify_service.IN_APP, InAppSender(ctx.bus), on_failure, instant=True)
    texts = SmsSender(sms or channel_from_settings(settings), callback)
    ctx.channels.register(notify_service.SMS, texts, on_failure, reconcile=texts.reconcile)
    cfg = EscalationConfig(
        tz=settings.tz,
        public_base_url=settings.public_base_url,
        secret=ctx.secret,
        events=ctx.events,
        sms_daily_cap=settings.sms_daily_cap or None,
        calendar=load_calendar(settings.sop_dir),
    )
    escalation_service.register(cfg, ctx.deadline_handlers)
    ctx.channels.relevance.append(notify_service.relevance({"escalation": escalation_service.still_worth_sending}))
    concern_watch.register(ctx.deadline_handlers, ctx.events, tz=settings.tz, sop_dir=settings.sop_dir)
    ctx.extras["escalation"] = cfg
    # Key-concern reasons are codes of the checklist, the one catalogue risk factors count as too.
    ctx.extras[REASON_CODES] = frozenset(item.code for item in load_checklist(settings.sop_dir).items)
    opinion_service.register(ctx.deadline_handlers, ctx.events, opinion_service.OpinionConfig.from_settings(settings))
    hazards = HazardConfig(
        sop_dir=settings.sop_dir,
        photo_dir=settings.var_dir / "hazard_photos",
        tz=settings.tz,
        events=ctx.events,
        sms_daily_cap=settings.sms_daily_cap or None,
    )
    hazard_followup.register(hazards, ctx.deadline_handlers)
    ctx.extras["hazards"] = hazards
    checks = inspections.InspectionConfig.of(hazards, settings.risk_map_dir)
    inspections.register(checks, ctx.deadline_handlers)
    ctx.extras["inspections"] = checks
    incidents = IncidentConfig(
        sop_dir=settings.sop_dir,
        playbook_dir=settings.playbook_dir,
        tz=settings.tz,
        events=ctx.events,
        bus=ctx.bus,
        sms_daily_cap=settings.sms_daily_cap or None,
        public_base_url=settings.public_base_url,
    )
    incident_wiring.register(incidents, ctx.deadline_handlers)
    ctx.extras["incidents"] = incidents
    reviews = ReviewConfig(sop_dir=settings.sop_dir, tz=settings.tz, incidents=incidents, events=ctx.events)
    review_service.register(reviews, ctx.deadline_handlers, ctx.events)
    review_actions.register(reviews, ctx.deadline_handlers)
    review_recovery.register(reviews, ctx.deadline_handlers, ctx.events)
    ctx.extras["reviews"] = reviews
    duty = roster.RosterConfig(tz=settings.tz, events=ctx.events, sms_daily_cap=settings.sms_daily_cap or None)
    roster.register(duty, ctx.deadline_handlers)
    ctx.extras["roster"] = duty
    measures = prevention.PreventionConfig(calendar=Calendar(settings.tz), library=incidents.library, events=ctx.events)
    prevention.register(measures, ctx.deadline_handlers)
    ctx.extras["prevention"] = measures
    audit_anchors.register(trail, ctx.deadline_handlers)
    ctx.extras["audit"] = trail
    retention = privacy_retention.RetentionConfig(sop_dir=settings.sop_dir, tz=settings.tz)
    privacy_retention.register(retention, ctx.deadline_handlers)
    ctx.extras["retention"] = retention
    return ctx


def database_metrics(ctx: AppContext) -> DatabaseCollector:
    """The figures /metrics reads from the database at each scrape, every channel shown."""
    return DatabaseCollector(ctx.sessions, ctx.clock, channels=ctx.channels.senders)


def build_worker(ctx: AppContext) -> Worker:
    """The worker: the deadline sweeper, then the outbox dispatcher, each round. Sends run in the
    dispatcher's pools: looping (`run_forever`), its own thread claims and sends apart from the rounds;
    a single round (`run_once`, tests) sends and waits for the sends."""
    worker = Worker(sessions=ctx.sessions, clock=ctx.clock)
    sender = Dispatcher(ctx.sessions, ctx.clock, ctx.channels, name=f"{worker.name}:outbox")
    worker.closers.append(sender.close)
    worker.loops.append(lambda stop: sender.run_forever(stop, behind=worker.behind))

    # Looping, one sweep gives way after a second so the heartbeat and the other jobs keep their pace.
    # While red reports keep coming, work that can wait (opening incidents) gets a share of each round.
    looping = deadlines.SweepPolicy(max_seconds=1.0, slow_yields=True)

    def sweep_deadlines(sessions: sessionmaker[Session], clock: Clock) -> object:
        policy = looping if worker.running else None
        return deadlines.sweep(sessions, clock, ctx.deadline_handlers, worker=worker.name, policy=policy)

    def dispatch_outbox(sessions: sessionmaker[Session], clock: Clock) -> object:
        # Looping, the dispatcher runs in a thread of its own (worker.loops); a single round sends here.
        return None if worker.running else sender.run(wait_for_sends=True)

    # The roster's daily gap check is created here, by the first round, when none is pending.
    keep_gap_check = roster.gap_check_job(ctx.extras["roster"]).keeper()
    # Likewise the daily opening of prevention rounds.
    keep_opening = prevention.opening_job(ctx.extras["prevention"]).keeper()
    # And of inspection rounds.
    keep_inspections = inspections.opening_job(ctx.extras["inspections"]).keeper()
    # And of the audit chain's hourly anchor and daily report.
    keep_anchor = audit_anchors.anchor_job().keeper()
    keep_audit_report = audit_anchors.report_job(ctx.extras["audit"]).keeper()
    # And the daily retention run (PIPL): what is past its period is deleted or anonymised.
    keep_retention = ctx.extras["retention"].job().keeper()
    worker.jobs = [
        ("roster", keep_gap_check),
        ("prevention", keep_opening),
        ("inspections", keep_inspections),
        ("audit-anchor", keep_anchor),
        ("audit-report", keep_audit_report),
        ("retention", keep_retention),
        ("deadlines", sweep_deadlines),
        ("outbox", dispatch_outbox),
        ("audit", audit.seal_all),
    ]
    return worker


def create_app(settings: Settings | None = None, *, clock: Clock | None = None, sms: SmsChannel | None = None) -> FastAPI:
    """An application wired from `settings`; tests pass their own settings, a manual clock, a fake SMS."""
    settings = settings or Settings()
    logredact.install()  # no token in a URL reaches the access log
    ctx = build_context(settings, clock=clock, sms=sms)
    engine = ctx.engine

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
            await board_fanout(ctx).close()
            await inbox_fanouts(ctx).close()
            if thread is not None:
                thread.join(timeout=10)
            ctx.bus.close()
            engine.dispose()
            metrics.process_ended()

    app = FastAPI(
        title="riskcontrol",
        version=__version__,
        lifespan=lifespan,
        responses=error_responses(400, 401, 403, 404, 422, 429, 503),
    )
    app.state.ctx = ctx
    install_error_handlers(app, outage_page=outage_page)
    app.include_router(health_router)
    if settings.metrics_enabled:
        metrics.install(app, database_metrics(ctx))
    # Static files, health and metrics are not counted; Twilio's signed status callbacks come in bursts.
    unlimited = ("/static/", "/healthz", "/readyz", "/metrics", "/favicon.ico", TWILIO_STATUS_PATH)
    app.add_middleware(AnonymousLimit, limits=ctx.rates, session_cookie=SESSION_COOKIE, exempt=unlimited)
    app.add_middleware(NoSniff)
    app.include_router(people_router)
    app.include_router(concern_router)
    app.include_router(import_router)
    app.include_router(factor_router)
    app.include_router(cover_router)
    app.include_router(subject_router)
    app.include_router(grid_router)
    app.include_router(notify_router)
    app.include_router(escalation_router)
    app.include_router(observations_router)
    app.include_router(opinion_router)
    app.include_router(hazards_router)
    app.include_router(inspections_router)
    app.include_router(incidents_router)
    app.include_router(reviews_router)
    app.include_router(review_report_router)
    app.include_router(revisions_router)
    app.include_router(incident_sockets)
    app.include_router(roster_router)
    app.include_router(prevention_router)
    app.include_router(privacy_router)
    app.include_router(pages_router)
    app.include_router(warning_pages_router)
    app.include_router(escalation_pages_router)
    app.include_router(incident_pages_router)
    app.include_router(board_pages_router)
    app.include_router(prevention_pages_router)
    app.include_router(riskmap_pages_router)
    app.include_router(review_pages_router)
    app.include_router(revision_pages_router)
    app.include_router(aftercare_pages_router)
    app.include_router(case_pages_router)
    app.include_router(inspection_pages_router)
    app.include_router(hazard_pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def settle_for_serving() -> None:
    """Before a long-running server starts: collect once, then leave everything built so far (the
    app, its caches, the loaded rules) out of later collections. With hundreds of live screens a
    full collection otherwise walks every object each time and stalls the event loop for 100 ms
    or more; the benchmark in bench/board.py shows it in the tail."""
    gc.collect()
    gc.freeze()
    # Young collections far less often: a request's garbage is mostly freed by reference counting,
    # and each collection pass over hundreds of live sockets' objects is a pause for every screen.
    gc.set_threshold(50_000, 50, 100)


def create_served_app() -> FastAPI:
    """`uvicorn --factory riskcontrol.app:create_served_app`: the app from the environment's settings,
    settled for serving."""
    app = create_app()
    settle_for_serving()
    return app
