"""The alerts API for hub staff and leads; agencies are refused (403)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import func, select
from sqlmodel import col

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.children.picture import alert_providers
from aggregator.core.inputs import Offset, unprocessable
from aggregator.core.purpose import PurposeHeader, purpose_or
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from aggregator.principals import HubUser, SessionDep
from alerts import casework, outbox, service, webhook
from alerts import repository as repo
from alerts.models import Alert, AlertNotification, AlertSilence, AlertSubscription
from alerts.rules import RuleSet, cached_rules
from alerts.schemas import (
    AcknowledgeIn,
    AlertOut,
    AlertPage,
    Evidence,
    NotificationOut,
    ResolveIn,
    Severity,
    SilenceIn,
    SilenceOut,
    State,
    SubscriptionIn,
    SubscriptionOut,
)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

DELIVERY_FAILED = "delivery failed"

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing, unknown or revoked token"},
    403: {"description": "Only hub staff and leads may see and act on alerts"},
    404: {"description": "No such alert, silence, subscription or notification"},
    409: {"description": "The alert changed meanwhile or is in the wrong state; reload it"},
}

# The picture shows a child's unresolved alerts; registered here so that the
# children package never imports this one.
if service.open_alerts_for_picture not in alert_providers:
    alert_providers.append(service.open_alerts_for_picture)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _rules(request: Request) -> RuleSet:
    return cached_rules(_settings(request).rules_path)


def _known_rule(rules: RuleSet, rule: str, where: str = "query") -> None:
    if rules.get(rule) is None:
        known = ", ".join(r.id for r in rules.rules)
        raise unprocessable((where, "rule"), f"unknown rule; known rules: {known}")


def _out(alert: Alert, settings: Settings, silences: list[AlertSilence]) -> AlertOut:
    ev = alert.evidence
    return AlertOut(
        id=alert.id,
        rule=alert.rule_id,
        child_id=alert.child_id,
        severity=alert.severity,
        state=alert.state,
        version=alert.version,
        text=alert.text,
        rules_version=alert.rules_version,
        evidence=Evidence(
            concern_ids=ev.get("concern_ids", []),
            agency_ids=ev.get("agency_ids", []),
            window_start=ev.get("window_start"),
            window_end=ev.get("window_end"),
            why=ev.get("why", []),
        ),
        notes=alert.notes,
        owner_id=alert.owner_id,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        resolution_reason=alert.resolution_reason,
        escalation_level=alert.escalation_level,
        silenced=repo.silenced_by(silences, alert.child_id, alert.rule_id),
        link=service.link(settings, alert.id),
        **casework.fields(alert, utcnow()),
    )


@router.get("", response_model=AlertPage, responses=_ERRORS)
async def list_alerts(
    request: Request,
    user: HubUser,
    session: SessionDep,
    state: State | None = None,
    rule: str | None = None,
    severity: Severity | None = None,
    child_id: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    purpose: PurposeHeader = None,
) -> AlertPage:
    """Newest change first; filter by state, rule, severity or child."""
    if rule:
        _known_rule(_rules(request), rule)
    stmt = select(Alert)
    for column, value in (
        (Alert.state, state),
        (Alert.rule_id, rule),
        (Alert.severity, severity),
        (Alert.child_id, child_id),
    ):
        if value:
            stmt = stmt.where(col(column) == value)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = (
        await session.scalars(
            stmt.order_by(col(Alert.updated_at).desc(), col(Alert.id)).offset(offset).limit(limit)
        )
    ).all()
    silences = await repo.active_silences(session, utcnow())
    why = purpose_or(purpose, "safeguarding")
    record(
        session,
        user,
        AuditEntry(
            action="alert.list",
            purpose=why,
            object_type="alert",
            detail={"ids": [a.id for a in items], "state": state, "rule": rule},
        ),
    )
    record_shown(session, user, [a.child_id for a in items], read="alert.list", purpose=why)
    settings = _settings(request)
    return AlertPage(
        items=[_out(a, settings, silences) for a in items], total=total, offset=offset, limit=limit
    )


# --- silences ----------------------------------------------------------------


def _silence_out(s: AlertSilence) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        child_id=s.child_id,
        rule=s.rule_id,
        author_id=s.author_id,
        reason=s.reason,
        created_at=s.created_at,
        expires_at=s.expires_at,
        lifted_at=s.lifted_at,
    )


@router.get("/silences", response_model=list[SilenceOut], responses=_ERRORS)
async def list_silences(
    user: HubUser, session: SessionDep, active: bool = True
) -> list[SilenceOut]:
    if active:
        rows = await repo.active_silences(session, utcnow())
    else:
        rows = list(
            (
                await session.scalars(
                    select(AlertSilence).order_by(col(AlertSilence.created_at).desc()).limit(500)
                )
            ).all()
        )
    # A silence names its child and says why in free text: reading them is a read.
    record(
        session,
        user,
        AuditEntry(
            action="alert.silence.list",
            purpose=service.PURPOSE,
            object_type="alert_silence",
            detail={"ids": [s.id for s in rows], "active": active},
        ),
    )
    record_shown(
        session,
        user,
        [s.child_id for s in rows],
        read="alert.silence.list",
        purpose=service.PURPOSE,
    )
    return [_silence_out(s) for s in rows]


@router.post("/silences", response_model=SilenceOut, status_code=201, responses=_ERRORS)
async def add_silence(
    request: Request, body: SilenceIn, user: HubUser, session: SessionDep
) -> SilenceOut:
    """Mute notifications and escalation (never the alert itself) until `expires_at`."""
    now = utcnow()
    if body.expires_at <= now:
        raise unprocessable(("body", "expires_at"), "expires_at must be in the future")
    if body.expires_at > now + timedelta(days=365):
        raise unprocessable(("body", "expires_at"), "a silence may last at most one year")
    rules = _rules(request)
    if body.rule:
        _known_rule(rules, body.rule, "body")
    if service.silence_covers_red(rules, body.rule):
        if user.role != service.RED_SILENCE_ROLE:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "silencing a red rule (or every rule of a child) needs the lead role",
            )
        if body.expires_at > now + service.RED_SILENCE_MAX:
            raise unprocessable(
                ("body", "expires_at"),
                f"a silence of a red rule may last at most {service.RED_SILENCE_MAX.days} days",
            )
    if body.child_id:
        from aggregator.children.models import Child

        if await session.get(Child, body.child_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    silence = await service.add_silence(
        session, user, body.child_id, body.rule, body.reason, body.expires_at
    )
    return _silence_out(silence)


@router.delete("/silences/{silence_id}", response_model=SilenceOut, responses=_ERRORS)
async def lift_silence(silence_id: str, user: HubUser, session: SessionDep) -> SilenceOut:
    silence = await session.get(AlertSilence, silence_id)
    if silence is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such silence")
    if silence.lifted_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "silence already lifted")
    return _silence_out(await service.lift_silence(session, user, silence, utcnow()))


# --- subscriptions -------------------------------------------------------------


def _sub_out(s: AlertSubscription, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        channel=s.channel,
        target=s.target,
        level=s.level,
        created_at=s.created_at,
        disabled_at=s.disabled_at,
        secret=secret,
    )


@router.get("/subscriptions", response_model=list[SubscriptionOut], responses=_ERRORS)
async def my_subscriptions(user: HubUser, session: SessionDep) -> list[SubscriptionOut]:
    """The caller's own subscriptions (secrets are never shown again)."""
    rows = (
        await session.scalars(
            select(AlertSubscription)
            .where(
                col(AlertSubscription.principal_id) == user.id,
                col(AlertSubscription.disabled_at).is_(None),
            )
            .order_by(col(AlertSubscription.created_at))
        )
    ).all()
    record(
        session,
        user,
        AuditEntry(
            action="alert.subscription.list",
            purpose=service.PURPOSE,
            object_type="alert_subscription",
            detail={"ids": [s.id for s in rows]},
        ),
    )
    return [_sub_out(s) for s in rows]


@router.post("/subscriptions", response_model=SubscriptionOut, status_code=201, responses=_ERRORS)
async def subscribe(
    request: Request, body: SubscriptionIn, user: HubUser, session: SessionDep
) -> SubscriptionOut:
    """Hear about alerts by webhook (signed, see `alerts.webhook`) or email."""
    settings = _settings(request)
    secret = None
    if body.channel == "webhook":
        try:
            await webhook.check_target(
                body.target,
                allow_private=settings.webhook_allow_private,
                require_https=settings.environment == "production",
            )
        except webhook.UnsafeTarget as exc:
            raise unprocessable(("body", "target"), str(exc)) from exc
        secret = webhook.new_secret()
    elif not settings.smtp_host:
        raise unprocessable(
            ("body", "channel"),
            "email delivery is not configured on this service (AGGREGATOR_SMTP_HOST)",
        )
    sub = AlertSubscription(
        principal_id=user.id,
        channel=body.channel,
        target=body.target,
        secret=secret,
        level=body.level,
    )
    session.add(sub)
    await session.flush()
    record(
        session,
        user,
        AuditEntry(
            action="alert.subscribe",
            purpose=service.PURPOSE,
            object_type="alert_subscription",
            object_id=sub.id,
            detail={"channel": body.channel, "level": body.level},
        ),
    )
    return _sub_out(sub, secret)


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=_ERRORS)
async def unsubscribe(subscription_id: str, user: HubUser, session: SessionDep) -> Response:
    sub = await session.get(AlertSubscription, subscription_id)
    if sub is None or sub.principal_id != user.id or sub.disabled_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription of yours")
    sub.disabled_at = utcnow()
    record(
        session,
        user,
        AuditEntry(
            action="alert.unsubscribe",
            purpose=service.PURPOSE,
            object_type="alert_subscription",
            object_id=sub.id,
        ),
    )
    return Response(status_code=204)


# --- notifications (the outbox, including dead letters) ------------------------


def _note_out(n: AlertNotification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        alert_id=n.alert_id,
        subscription_id=n.subscription_id,
        event=n.event,
        state=n.state,
        attempts=n.attempts,
        next_attempt_at=n.next_attempt_at,
        # The reason (a host name, an HTTP status) is for the operator's log only.
        last_error=DELIVERY_FAILED if n.last_error else None,
        created_at=n.created_at,
        delivered_at=n.delivered_at,
    )


@router.get("/notifications", response_model=list[NotificationOut], responses=_ERRORS)
async def notifications(
    user: HubUser,
    session: SessionDep,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = "dead",
    alert_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationOut]:
    """Dead letters by default: notifications that failed every attempt."""
    stmt = select(AlertNotification).order_by(col(AlertNotification.created_at).desc()).limit(limit)
    if state:
        stmt = stmt.where(col(AlertNotification.state) == state)
    if alert_id:
        stmt = stmt.where(col(AlertNotification.alert_id) == alert_id)
    rows = (await session.scalars(stmt)).all()
    record(
        session,
        user,
        AuditEntry(
            action="alert.notification.list",
            purpose=service.PURPOSE,
            object_type="alert_notification",
            detail={"ids": [n.id for n in rows], "state": state, "alert_id": alert_id},
        ),
    )
    return [_note_out(n) for n in rows]


@router.post(
    "/notifications/{notification_id}/retry", response_model=NotificationOut, responses=_ERRORS
)
async def retry_notification(
    notification_id: str, user: HubUser, session: SessionDep
) -> NotificationOut:
    """Queue a dead letter again, under the same delivery id."""
    n = await session.get(AlertNotification, notification_id)
    if n is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such notification")
    if n.state != "dead":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"notification is {n.state}; only a dead letter can be retried",
        )
    await outbox.requeue(session, n, utcnow())
    record(
        session,
        user,
        AuditEntry(
            action="alert.notification.retry",
            purpose=service.PURPOSE,
            object_type="alert_notification",
            object_id=n.id,
        ),
    )
    return _note_out(n)


# --- one alert -------------------------------------------------------------------


async def _alert(session: SessionDep, alert_id: str) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert


@router.get("/{alert_id}", response_model=AlertOut, responses=_ERRORS)
async def get_alert(
    request: Request,
    alert_id: str,
    user: HubUser,
    session: SessionDep,
    purpose: PurposeHeader = None,
) -> AlertOut:
    alert = await session.get(Alert, alert_id)
    why = purpose_or(purpose, "safeguarding")
    record_read(session, user, "alert.read", "alert", alert_id, alert is not None, why)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    record_shown(session, user, [alert.child_id], read="alert.read", purpose=why, of=alert.id)
    return _out(alert, _settings(request), await repo.active_silences(session, utcnow()))


def _conflict(alert: Alert, exc: Exception) -> HTTPException:
    if isinstance(exc, service.TransitionError):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(
        status.HTTP_409_CONFLICT,
        "the alert changed while you were looking at it; reload it and try again",
    )


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, responses=_ERRORS)
async def acknowledge(
    request: Request,
    alert_id: str,
    user: HubUser,
    session: SessionDep,
    body: AcknowledgeIn | None = None,
) -> AlertOut:
    """open -> acknowledged: stops escalation; the first to acknowledge becomes its lead."""
    alert = await _alert(session, alert_id)
    try:
        await service.acknowledge(session, alert, user, utcnow(), body.version if body else None)
    except (service.AlertConflict, service.TransitionError) as exc:
        raise _conflict(alert, exc) from exc
    return _out(alert, _settings(request), await repo.active_silences(session, utcnow()))


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=_ERRORS)
async def resolve(
    request: Request, alert_id: str, body: ResolveIn, user: HubUser, session: SessionDep
) -> AlertOut:
    """-> resolved, with a reason; only new evidence re-opens it."""
    alert = await _alert(session, alert_id)
    try:
        await service.resolve(
            session, alert, user, body.reason, utcnow(), body.version, outcome=body.outcome
        )
    except service.ReasonTooThin as exc:
        raise unprocessable(("body", "reason"), str(exc)) from exc
    except (service.AlertConflict, service.TransitionError) as exc:
        raise _conflict(alert, exc) from exc
    return _out(alert, _settings(request), await repo.active_silences(session, utcnow()))
