"""The FastAPI application and the background work that lives with it."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aggregator import __version__
from aggregator.audit.chain import seal_pending
from aggregator.audit.flood import flush_at_exit, keep_flushing
from aggregator.audit.routes import router as audit_router
from aggregator.children import frequencies, model_store
from aggregator.children.review_view import backlog_counts
from aggregator.children.routes import router as children_router
from aggregator.children.strategy import router as strategy_router
from aggregator.children.strategy import strategy_actions_for_child
from aggregator.children.web import router as children_pages
from aggregator.concerns.routes import router as concerns_router
from aggregator.core import metrics
from aggregator.core.db import Database
from aggregator.core.inputs import refuse_unsafe_input
from aggregator.core.limits import (
    ApiRateLimitMiddleware,
    BodyLimitMiddleware,
    RateLimits,
    validation_error_handler,
)
from aggregator.core.middleware import AccessLogMiddleware
from aggregator.core.settings import Settings, get_settings
from aggregator.core.unavailable import add_unavailable_handlers
from aggregator.web import add_error_pages, mount_static
from aggregator.web import router as web_router
from aggregator.web.docs import ASSETS_PREFIX, install_docs
from aggregator.web.outage import unavailable_page
from alerts import SchedulerRunner, load_rules
from alerts import router as alerts_router
from alerts.casework import hub_response_for_concern
from alerts.casework_routes import router as casework_router
from alerts.casework_web import router as casework_pages
from alerts.history import action_counts, hub_actions_for_child
from alerts.timescales import load_timescales
from alerts.web import router as alert_pages

log = logging.getLogger("aggregator")

# A request allocates thousands of objects that reference counting frees at once;
# at the default gen-0 threshold (700) the cyclic collector still ran several
# times per request over whatever requests held at the time (~9% of the intake's
# CPU in a profile). Cycles are rare here, so it runs less often.
GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Freeze what startup built (the app, the match model, lookup tables: it lives
    as long as the process) out of every later collection, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _seal_forever(db: Database) -> None:
    """Chain audit events shortly after they commit, without blocking writers."""
    while True:
        try:
            await seal_pending(db)
        except Exception:  # keep sealing after a transient database error
            log.exception("audit sealing failed; will retry")
        await asyncio.sleep(db.settings.audit_seal_interval_seconds)


async def _follow_match_model(db: Database) -> None:
    """Every process decides with the same model: the newest one in the database."""
    while True:
        try:
            async with db.session() as session:
                if await model_store.refresh(session):
                    log.info("match model version %s in force", model_store.current_version())
            await frequencies.sync(db)  # term frequencies and population (issue 17)
        except Exception:  # keep the current model through a transient error
            log.exception("could not check for a newer match model; will retry")
        await asyncio.sleep(db.settings.match_model_refresh_seconds)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, background: bool = True
) -> FastAPI:
    """Build the app; tests pass their own database and may turn background work off."""
    settings = settings or (db.settings if db else get_settings())
    db = db or Database(settings)
    rules = load_rules(settings.rules_path)  # a bad rules file stops the start, clearly
    load_timescales(settings.timescales_path)  # so does a bad timescales file

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = (
            [asyncio.create_task(_seal_forever(db)), asyncio.create_task(_follow_match_model(db))]
            if background
            else []
        )
        if background:  # audit events kept through an outage, and flood summaries
            tasks.append(asyncio.create_task(keep_flushing(db)))
        alert_scheduler = SchedulerRunner(db, settings, rules)
        if background and settings.run_scheduler:
            alert_scheduler.start()
        if background:  # a served process, not a test's app
            settle_heap()
        try:
            yield
        finally:
            await alert_scheduler.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await flush_at_exit(db)
            if background:  # seal what this process committed: unsealed for long looks forged
                try:
                    await seal_pending(db)
                except Exception:
                    log.exception("final audit seal failed")
            await db.dispose()

    app = FastAPI(
        title="concern-aggregator",
        version=__version__,
        description=(
            "Agencies share low-level safeguarding concerns; the hub sees them together. "
            "Every share and every read is recorded."
        ),
        lifespan=lifespan,
        # Issue 14: input no database can store is refused once, for every route;
        # the docs are served from the package (web/docs.py), not from a CDN.
        dependencies=[Depends(refuse_unsafe_input)],
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.db = db
    # The chronology's hub actions come from the alerts package: wired here, once.
    app.state.hub_action_sources = [hub_actions_for_child, strategy_actions_for_child]
    # The home page's 'needs action' counts, from alerts and the review queue.
    app.state.action_counts = [action_counts, backlog_counts]
    # A concern's `hub_response` for its referrer, from the alerts it is evidence for.
    app.state.hub_response_source = hub_response_for_concern
    app.include_router(concerns_router)
    app.include_router(children_router)
    app.include_router(strategy_router)
    app.include_router(children_pages)
    app.include_router(audit_router)
    app.include_router(alerts_router)
    app.include_router(casework_router)
    app.include_router(alert_pages)
    app.include_router(casework_pages)
    app.include_router(web_router)
    mount_static(app)
    add_error_pages(app)
    add_unavailable_handlers(app, db, unavailable_page)
    # Limits (issue 14): body size, rate limits, 422s that do not echo the input.
    app.state.rate_limits = RateLimits(settings)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(ApiRateLimitMiddleware, limits=app.state.rate_limits)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    metrics.install(app)  # /metrics and request counts, refused requests included (issue 15)
    # Outermost, so refused requests (413, 429) are logged like any other.
    app.add_middleware(AccessLogMiddleware, cacheable_prefixes=("/static/", ASSETS_PREFIX))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged by core.middleware (type and frames only, with the request id):
        # exception text can carry submitted values.
        return JSONResponse({"detail": "internal error; nothing was stored"}, status_code=500)

    return app
