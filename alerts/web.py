"""Dashboard pages for alerts: the inbox, one alert with its evidence, acknowledge, resolve."""

from typing import Annotated, Any

from fastapi import Form, Query, Request
from sqlalchemy import case, select
from sqlmodel import col
from starlette.responses import Response

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from aggregator.principals.deps import SessionDep
from aggregator.principals.models import Principal
from aggregator.web import WebHubUser, WebPageError, page, protected_router, redirect
from alerts import service
from alerts.models import Alert
from alerts.rules import cached_rules

router = protected_router()

STATES = ("open", "acknowledged", "resolved")
_DONE = {
    "acknowledged": "Acknowledged. Escalation has stopped; you are this alert's lead.",
    "resolved": "Resolved. The alert re-opens only if new evidence arrives.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _names(session: SessionDep, alerts: list[Alert]) -> dict[str, str]:
    """The child's name as most recently recorded, for the inbox rows."""
    ids = list({a.child_id for a in alerts})
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(
                col(ChildRecord.child_id), col(ChildRecord.given_name), col(ChildRecord.family_name)
            )
            .where(col(ChildRecord.child_id).in_(ids))
            .order_by(col(ChildRecord.created_at))
        )
    ).all()
    return {str(cid): " ".join(p for p in (g, f) if p) or "unnamed" for cid, g, f in rows}


@router.get("/alerts")
async def inbox(
    request: Request,
    user: WebHubUser,
    session: SessionDep,
    state: Annotated[str, Query(max_length=20)] = "open",
    rule: Annotated[str, Query(max_length=60)] = "",
) -> Response:
    """Open alerts first by severity (red before amber), then oldest first."""
    rules = cached_rules(_settings(request).rules_path)
    if state not in (*STATES, "all"):
        raise WebPageError(422, "Choose a state from the list.")
    if rule and rules.get(rule) is None:
        raise WebPageError(422, "Choose a rule from the list.")
    stmt = select(Alert)
    if state != "all":
        stmt = stmt.where(col(Alert.state) == state)
    if rule:
        stmt = stmt.where(col(Alert.rule_id) == rule)
    red_first = case((col(Alert.severity) == "red", 0), else_=1)
    alerts = list(
        (await session.scalars(stmt.order_by(red_first, col(Alert.opened_at)).limit(200))).all()
    )
    record(
        session,
        user,
        AuditEntry(
            action="alert.list",
            purpose="safeguarding",
            object_type="alert",
            detail={"ids": [a.id for a in alerts], "via": "dashboard"},
        ),
    )
    record_shown(
        session,
        user,
        [a.child_id for a in alerts],
        read="alert.list",
        purpose="safeguarding",
        via="dashboard",
    )
    return page(
        request,
        "alerts/inbox.html",
        {
            "page_title": "Alert inbox",
            "alerts": alerts,
            "names": await _names(session, alerts),
            "now": utcnow(),
            "filters": {"state": state, "rule": rule},
            "states": STATES,
            "rules": [r.id for r in rules.rules],
        },
    )


async def _evidence(session: SessionDep, alert: Alert) -> list[dict[str, Any]]:
    ids = list(alert.evidence.get("concern_ids", []))[:200]
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Concern, col(Principal.name))
            .join(Principal, col(Principal.id) == col(Concern.agency_id))
            .where(col(Concern.id).in_(ids))
            .order_by(col(Concern.observed_at))
        )
    ).all()
    return [
        {
            "date": c.observed_at,
            "agency": agency,
            "category": c.category,
            "severity": c.severity,
            "outcome": c.outcome,
        }
        for c, agency in rows
    ]


@router.get("/alerts/{alert_id}")
async def alert_page(
    request: Request, alert_id: str, user: WebHubUser, session: SessionDep, done: str = ""
) -> Response:
    alert = await session.get(Alert, alert_id)
    record_read(
        session,
        user,
        "alert.read",
        "alert",
        alert_id,
        alert is not None,
        "safeguarding",
        via="dashboard",
    )
    if alert is None:
        raise WebPageError(404, "There is no such alert. Go back to the alert inbox.")
    record_shown(
        session,
        user,
        [alert.child_id],
        read="alert.read",
        purpose="safeguarding",
        of=alert.id,
        via="dashboard",
    )
    return page(
        request,
        "alerts/alert.html",
        {
            "page_title": f"Alert: {alert.rule_id.replace('_', ' ')}",
            "alert": alert,
            "child_name": (await _names(session, [alert])).get(alert.child_id, "the child"),
            "evidence": await _evidence(session, alert),
            "notice": _DONE.get(done),
        },
    )


def _version(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    alert = await _alert(session, alert_id)
    try:
        await service.acknowledge(session, alert, user, utcnow(), _version(version))  # type: ignore[arg-type]
    except service.AlertConflict as exc:
        raise WebPageError(
            409, "Someone changed this alert while you were reading it. Reload it and try again."
        ) from exc
    except service.TransitionError as exc:
        raise WebPageError(409, f"This alert cannot be acknowledged: {exc}.") from exc
    return redirect(f"/alerts/{alert.id}?done=acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    if len(reason.strip()) < 3:
        raise WebPageError(
            422, "Write why the alert is resolved (for example, the outcome of the discussion)."
        )
    alert = await _alert(session, alert_id)
    try:
        await service.resolve(session, alert, user, reason.strip(), utcnow(), _version(version))  # type: ignore[arg-type]
    except service.AlertConflict as exc:
        raise WebPageError(
            409, "Someone changed this alert while you were reading it. Reload it and try again."
        ) from exc
    except service.TransitionError as exc:
        raise WebPageError(409, f"This alert cannot be resolved: {exc}.") from exc
    return redirect(f"/alerts/{alert.id}?done=resolved")


async def _alert(session: SessionDep, alert_id: str) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise WebPageError(404, "There is no such alert. Go back to the alert inbox.")
    return alert
