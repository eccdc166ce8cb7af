"""Prometheus metrics: the families, the HTTP middleware, and the `/metrics` endpoint.

Labels carry route templates, status codes, outcomes, channels, rules and
severities only: never a child id, a name or any other personal data, so the
scrape can go to an ordinary monitoring system.

Counters and histograms live in the process that counts (each uvicorn worker,
the `aggregator scheduler` process). With several workers or a separate
scheduler on the same host, set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory shared by all of them before they start (prometheus-client's
multiprocess mode): `/metrics` then adds up every process's files. Figures read
from the database (alerts open, outbox pending, the audit seal) are computed at
scrape time with one small query each, so they are the same from any process.
"""

import hmac
import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.core.db import Database
from aggregator.core.types import utcnow

log = logging.getLogger("aggregator")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

HTTP_REQUESTS = Counter(
    "aggregator_http_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "aggregator_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
SUBMISSION_OUTCOMES = ("created", "replayed", "conflict", "invalid", "refused", "error")
SUBMISSIONS = Counter(
    "aggregator_submissions_total",
    "Concern submissions by outcome (refused: not authorised or rate limited)",
    ["outcome"],
)
LINK_OUTCOMES = Counter(
    "aggregator_link_outcomes_total",
    "Identity-resolution decisions by outcome (linked, new, review, merged)",
    ["outcome"],
)
OUTBOX_DELIVERED = Counter(
    "aggregator_outbox_delivered_total", "Notifications delivered, by channel", ["channel"]
)
OUTBOX_DEAD_LETTERED = Counter(
    "aggregator_outbox_dead_lettered_total",
    "Notifications given up on (dead letters), by channel",
    ["channel"],
)
DELIVERY_ATTEMPTS = Counter(
    "aggregator_delivery_attempts_total",
    "Delivery attempts by channel and result (sent, failed)",
    ["channel", "result"],
)
DELIVERY_LATENCY = Histogram(
    "aggregator_delivery_latency_seconds",
    "From the alert change (outbox row written) to its delivery, by channel",
    ["channel"],
    buckets=_DELIVERY_BUCKETS,
)

for _outcome in SUBMISSION_OUTCOMES:
    SUBMISSIONS.labels(_outcome)
for _outcome in ("linked", "new", "review", "merged"):
    LINK_OUTCOMES.labels(_outcome)
for _channel in ("webhook", "email"):
    OUTBOX_DELIVERED.labels(_channel)
    OUTBOX_DEAD_LETTERED.labels(_channel)
    DELIVERY_LATENCY.labels(_channel)

SUBMIT_ROUTE = ("POST", "/api/v1/concerns")


def submission_outcome(status: int) -> str:
    if status == 201:
        return "created"
    if status == 200:
        return "replayed"
    if status == 409:
        return "conflict"
    if status in (400, 413, 415, 422):
        return "invalid"
    if status >= 500:
        return "error"
    return "refused"


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (not its path, which
    holds ids). Pure ASGI, so it adds no task or body copy to the busy intake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)
            if (method, template) == SUBMIT_ROUTE:
                SUBMISSIONS.labels(submission_outcome(status)).inc()


class _Snapshot:
    """Families read from the database for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


async def database_families(db: Database) -> list[Metric]:
    """One grouped or indexed query per family; cheap enough to run at every scrape."""
    from aggregator.audit.models import AuditEvent
    from alerts.models import Alert, AlertNotification

    up = GaugeMetricFamily(
        "aggregator_metrics_database_up", "1 if the database figures below could be read"
    )
    try:
        async with db.session() as session:
            alert_rows = (
                await session.execute(
                    select(col(Alert.rule_id), col(Alert.severity), col(Alert.state), func.count())
                    .where(col(Alert.state).in_(("open", "acknowledged")))
                    .group_by(col(Alert.rule_id), col(Alert.severity), col(Alert.state))
                )
            ).all()
            pending, oldest = (
                await session.execute(
                    select(func.count(), func.min(col(AlertNotification.created_at))).where(
                        col(AlertNotification.state) == "pending"
                    )
                )
            ).one()
            unsealed, first = (
                await session.execute(
                    select(func.count(), func.min(col(AuditEvent.occurred_at))).where(
                        col(AuditEvent.seq).is_(None)
                    )
                )
            ).one()
    except Exception as exc:  # a scrape must not fail because the database did
        log.error("metrics: database figures unavailable: %s", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    now = utcnow()
    up.add_metric([], 1)
    open_alerts = GaugeMetricFamily(
        "aggregator_alerts_open",
        "Alerts not yet resolved, by rule, severity and state",
        labels=["rule", "severity", "state"],
    )
    for rule, severity, state, count in alert_rows:
        open_alerts.add_metric([rule, severity, state], count)
    families: list[Metric] = [up, open_alerts]
    for name, doc, value in (
        ("aggregator_outbox_pending", "Notifications waiting to be delivered", pending),
        (
            "aggregator_outbox_oldest_pending_seconds",
            "Age of the oldest notification still waiting",
            _age(now, _aware(oldest)),
        ),
        ("aggregator_audit_unsealed_events", "Audit events not yet chained", unsealed),
        (
            "aggregator_audit_seal_lag_seconds",
            "Age of the oldest audit event not yet chained (0 when all are sealed)",
            _age(now, _aware(first)),
        ),
    ):
        g = GaugeMetricFamily(name, doc)
        g.add_metric([], float(value or 0))
        families.append(g)
    return families


def _aware(value: Any) -> datetime | None:
    """`min()` keeps the column's type, but be sure it is an aware datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _authorised(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format, for a scraper holding `AGGREGATOR_METRICS_TOKEN`.

    Not set: 404, as if there were no endpoint. Any other credential: 401.
    """
    settings = request.app.state.settings
    if settings.metrics_token is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if not _authorised(request, settings.metrics_token.get_secret_value()):
        return JSONResponse(
            {"detail": "a valid bearer token is required for /metrics"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(await database_families(request.app.state.db)))
    body = generate_latest(process_registry()) + generate_latest(snapshot)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """The middleware and the endpoint, in one call from `create_app`."""
    app.add_middleware(MetricsMiddleware)
    app.include_router(router)
