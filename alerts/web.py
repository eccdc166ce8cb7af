"""Dashboard pages for alerts: the inbox, one alert with its evidence, acknowledge, resolve."""

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any

from fastapi import Form, Query, Request
from sqlalchemy import case, func, select
from sqlmodel import col
from starlette.responses import Response

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.children.display import display_identities, display_names
from aggregator.children.listing import children_named
from aggregator.concerns.models import Concern, SharingRecord
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from aggregator.principals.deps import SessionDep
from aggregator.principals.models import Principal
from aggregator.web import WebHubUser, WebPageError, WebUser, page, protected_router, redirect
from aggregator.web.formatting import age_on
from aggregator.web.paging import PageParam, Pager, pager
from alerts import casework, service
from alerts.casework import OUTCOME_LABELS
from alerts.models import Alert
from alerts.rules import cached_rules

router = protected_router()

STATES = ("open", "acknowledged", "resolved")
_DONE = {
    "acknowledged": "Acknowledged. Escalation has stopped; you are this alert's lead.",
    "resolved": "Resolved. The alert re-opens only if new evidence arrives.",
    "assigned": "Assigned. They will hear of new evidence on this alert.",
    "triaged": "Triaged. The decision is due by the time shown.",
    "noted": "Note added to the alert's history.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _names(session: SessionDep, alerts: list[Alert]) -> dict[str, str]:
    """The child's best-known name, the same on every page."""
    return await display_names(session, [a.child_id for a in alerts])


SEVERITIES = ("red", "amber")


@router.get("/alerts")
async def inbox(
    request: Request,
    user: WebHubUser,
    session: SessionDep,
    state: Annotated[str, Query(max_length=20)] = "open",
    rule: Annotated[str, Query(max_length=60)] = "",
    severity: Annotated[str, Query(max_length=10)] = "",
    child: Annotated[str, Query(max_length=100)] = "",
    view: Annotated[str, Query(max_length=10)] = "alerts",
    page_number: Annotated[PageParam, Query(alias="page")] = 1,
) -> Response:
    """Open alerts first by severity (red before amber), then oldest first; every one
    reachable through pages, or grouped by child."""
    rules = cached_rules(_settings(request).rules_path)
    if state not in (*STATES, "all"):
        raise WebPageError(422, "Choose a state from the list.")
    if rule and rules.get(rule) is None:
        raise WebPageError(422, "Choose a rule from the list.")
    if severity and severity not in SEVERITIES:
        raise WebPageError(422, "Choose a severity from the list.")
    if view not in ("alerts", "child"):
        raise WebPageError(422, "Choose to list alerts one by one or by child.")
    where = []
    if state != "all":
        where.append(col(Alert.state) == state)
    if rule:
        where.append(col(Alert.rule_id) == rule)
    if severity:
        where.append(col(Alert.severity) == severity)
    if child.strip():
        where.append(col(Alert.child_id).in_(children_named(child)))
    red_first = case((col(Alert.severity) == "red", 0), else_=1)
    if view == "child":
        alerts, pages = await _by_child(session, request, where, red_first, page_number)
    else:
        total = int(
            await session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
        )
        pages = pager(request, page_number, total)
        alerts = list(
            (
                await session.scalars(
                    select(Alert)
                    .where(*where)
                    .order_by(red_first, col(Alert.opened_at), col(Alert.id))
                    .offset(pages.offset)
                    .limit(pages.per_page)
                )
            ).all()
        )
    names = await _names(session, alerts)
    record(
        session,
        user,
        AuditEntry(
            action="alert.list",
            purpose="safeguarding",
            object_type="alert",
            detail={
                "ids": [a.id for a in alerts],
                "child_ids": sorted(names),
                "via": "dashboard",
            },
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
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        groups.setdefault(a.child_id, []).append(a)
    return page(
        request,
        "alerts/inbox.html",
        {
            "page_title": "Alert inbox",
            "alerts": alerts,
            "groups": groups,
            "names": names,
            "now": utcnow(),
            "filters": {
                "state": state,
                "rule": rule,
                "severity": severity,
                "child": child,
                "view": view,
            },
            "states": STATES,
            "severities": SEVERITIES,
            "rules": [r.id for r in rules.rules],
            "pager": pages,
        },
    )


async def _by_child(
    session: SessionDep,
    request: Request,
    where: list[Any],
    red_first: Any,
    page_number: int,
) -> tuple[list[Alert], Pager]:
    """A page of children (those with a red alert first, then the longest waiting) and
    all their matching alerts: one child's alerts are read together."""
    worst = func.min(red_first).label("worst")
    oldest = func.min(col(Alert.opened_at)).label("oldest")
    per_child = (
        select(col(Alert.child_id), worst, oldest)
        .where(*where)
        .group_by(col(Alert.child_id))
        .subquery()
    )
    total = int(await session.scalar(select(func.count()).select_from(per_child)) or 0)
    pages = pager(request, page_number, total)
    child_ids = list(
        (
            await session.scalars(
                select(per_child.c.child_id)
                .order_by(per_child.c.worst, per_child.c.oldest, per_child.c.child_id)
                .offset(pages.offset)
                .limit(pages.per_page)
            )
        ).all()
    )
    if not child_ids:
        return [], pages
    rows = (
        await session.scalars(
            select(Alert)
            .where(*where, col(Alert.child_id).in_(child_ids))
            .order_by(red_first, col(Alert.opened_at))
        )
    ).all()
    rank = {cid: i for i, cid in enumerate(child_ids)}
    return sorted(rows, key=lambda a: rank[a.child_id]), pages


async def _evidence(session: SessionDep, alert: Alert) -> list[dict[str, Any]]:
    """What was seen and who to call, for each concern that fired the alert; a reporter
    protected by their agency is not named (as on the child's page)."""
    ids = list(alert.evidence.get("concern_ids", []))[:200]
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Concern, col(Principal.name), col(SharingRecord.protect_reporter_identity))
            .join(Principal, col(Principal.id) == col(Concern.agency_id))
            .outerjoin(SharingRecord, col(SharingRecord.concern_id) == col(Concern.id))
            .where(col(Concern.id).in_(ids))
            .order_by(col(Concern.observed_at))
        )
    ).all()
    out = []
    for c, agency, protected in rows:
        contact = {
            "name": c.practitioner_name,
            "role": c.practitioner_role,
            "email": c.practitioner_email,
            "phone": c.practitioner_phone,
        }
        out.append(
            {
                "id": c.id,
                "date": c.observed_at,
                "agency": agency,
                "category": c.category,
                "severity": c.severity,
                "outcome": c.outcome,
                "summary": c.summary,
                "practitioner": None if protected else contact,
            }
        )
    return out


async def _alert_context(session: SessionDep, alert: Alert, user: WebUser) -> dict[str, Any]:
    """Everything a person needs on one page to act on an alert; the child it shows is
    recorded as shown (golden rule 7), however the page came to be rendered."""
    record_shown(
        session,
        user,
        [alert.child_id],
        read="alert.read",
        purpose="safeguarding",
        of=alert.id,
        via="dashboard",
    )
    identity = (await display_identities(session, [alert.child_id])).get(alert.child_id)
    return {
        "page_title": f"Alert: {alert.rule_id.replace('_', ' ')}",
        "alert": alert,
        "child_name": identity.name if identity else "the child",
        "child_born": identity.date_of_birth if identity else None,
        "child_age": age_on(identity.date_of_birth if identity else None, date.today()),
        "evidence": await _evidence(session, alert),
        "outcomes": OUTCOME_LABELS,
        "overdue": alert.due_at is not None
        and alert.state != "resolved"
        and utcnow() > alert.due_at,
    }


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
        child_ids=[alert.child_id] if alert else [],
    )
    if alert is None:
        raise WebPageError(404, "There is no such alert. Go back to the alert inbox.")
    return page(
        request,
        "alerts/alert.html",
        {**await _alert_context(session, alert, user), "notice": _DONE.get(done)},
    )


_STALE = "Someone changed this alert while you were reading it. Reload it and try again."


async def _act(alert: Alert, what: str, action: Awaitable[object]) -> Response:
    try:
        await action
    except casework.CaseworkError as exc:
        raise WebPageError(422, f"{exc}.") from exc
    except service.AlertConflict as exc:
        raise WebPageError(409, _STALE) from exc
    except service.TransitionError as exc:
        raise WebPageError(409, f"This alert cannot be {what}: {exc}.") from exc
    return redirect(f"/alerts/{alert.id}?done={what}")


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
    return await _act(
        alert,
        "acknowledged",
        service.acknowledge(session, alert, user, utcnow(), _version(version)),  # type: ignore[arg-type]
    )


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    request: Request,
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    outcome: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    alert = await _alert(session, alert_id)

    async def again(error: str) -> Response:
        """The page comes back with what was typed, so a person does not lose it."""
        context = await _alert_context(session, alert, user)
        return page(
            request,
            "alerts/alert.html",
            {**context, "error": error, "reason": reason, "chosen_outcome": outcome},
            status_code=422,
        )

    if outcome not in OUTCOME_LABELS:
        return await again("Write why the alert is resolved and choose its outcome.")
    if len(reason.strip()) < 3:
        return await again(
            "Write why the alert is resolved (for example, the outcome of the discussion)."
        )
    try:
        await service.resolve(
            session,
            alert,
            user,  # type: ignore[arg-type]
            reason.strip(),
            utcnow(),
            _version(version),
            outcome=outcome,
        )
    except service.ReasonTooThin as exc:
        return await again(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    except service.AlertConflict as exc:
        raise WebPageError(409, _STALE) from exc
    except service.TransitionError as exc:
        raise WebPageError(409, f"This alert cannot be resolved: {exc}.") from exc
    return redirect(f"/alerts/{alert.id}?done=resolved")


async def _alert(session: SessionDep, alert_id: str) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise WebPageError(404, "There is no such alert. Go back to the alert inbox.")
    return alert
