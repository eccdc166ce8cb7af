"""Delivering the outbox at least once, with backoff, jitter and a dead letter.

Rows are claimed (compare-and-set on `claimed_until`) and committed before any
network call, sent with no transaction open, then settled in a second
transaction. A crash between sending and settling means the message is sent
again later under the same delivery id, which receivers deduplicate on.
"""

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.audit import AuditEntry, record
from aggregator.core.db import Database
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from alerts import email, webhook
from alerts.models import AlertNotification, AlertSubscription
from alerts.service import PURPOSE

log = logging.getLogger("aggregator.alerts")
Fence = Callable[[AsyncSession], object]


@dataclass
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def backoff(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Exponential with 'equal jitter': between half and all of base * 2^(attempts-1)."""
    ceiling = min(
        settings.delivery_backoff_max_seconds,
        settings.delivery_backoff_seconds * 2 ** max(attempts - 1, 0),
    )
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


async def _claim(
    session: AsyncSession, settings: Settings, now: datetime, limit: int
) -> list[tuple[AlertNotification, AlertSubscription]]:
    rows = (
        await session.execute(
            select(AlertNotification, AlertSubscription)
            .join(
                AlertSubscription,
                col(AlertSubscription.id) == col(AlertNotification.subscription_id),
            )
            .where(
                col(AlertNotification.state) == "pending",
                col(AlertNotification.next_attempt_at) <= now,
                or_(
                    col(AlertNotification.claimed_until).is_(None),
                    col(AlertNotification.claimed_until) < now,
                ),
            )
            .order_by(col(AlertNotification.next_attempt_at))
            .limit(limit)
        )
    ).all()
    claim_until = now + timedelta(seconds=settings.webhook_timeout_seconds * 3 + 30)
    claimed = []
    for n, sub in rows:
        result = await session.execute(
            update(AlertNotification)
            .where(
                col(AlertNotification.id) == n.id,
                col(AlertNotification.state) == "pending",
                or_(
                    col(AlertNotification.claimed_until).is_(None),
                    col(AlertNotification.claimed_until) < now,
                ),
            )
            .values(claimed_until=claim_until)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append((n, sub))
    return claimed


async def _send(
    client: httpx.AsyncClient, settings: Settings, n: AlertNotification, sub: AlertSubscription
) -> str | None:
    """None on success, else a short reason without personal data."""
    try:
        if sub.disabled_at is not None:
            return "subscription disabled"
        if sub.channel == "webhook":
            target = await webhook.check_target(
                sub.target,
                allow_private=settings.webhook_allow_private,
                require_https=settings.environment == "production",
            )
            await webhook.post(
                client,
                target,
                sub.secret or "",
                n.id,
                str(n.payload.get("event", n.event)),
                n.payload,
                settings.webhook_timeout_seconds,
            )
        else:
            await email.send(settings, sub.target, n.payload)
    except (webhook.DeliveryFailed, webhook.UnsafeTarget) as exc:
        return str(exc)[:200]
    return None


async def deliver_due(
    db: Database,
    settings: Settings,
    *,
    fence: Fence | None = None,
    now: Callable[[], datetime] = utcnow,
    limit: int = 50,
    client: httpx.AsyncClient | None = None,
) -> DeliveryStats:
    """One round of delivery; a job calls it every few seconds."""
    stats = DeliveryStats()
    async with db.session() as session:
        if fence:
            await fence(session)  # type: ignore[misc]
        claimed = await _claim(session, settings, now(), limit)
    if not claimed:
        return stats
    own_client = client is None
    client = client or httpx.AsyncClient()
    try:
        errors = await asyncio.gather(*(_send(client, settings, n, sub) for n, sub in claimed))
    finally:
        if own_client:
            await client.aclose()
    async with db.session() as session:
        at = now()
        for (n, sub), error in zip(claimed, errors, strict=True):
            attempts = n.attempts + 1
            values: dict[str, object] = {"attempts": attempts, "claimed_until": None}
            if error is None:
                values.update(state="delivered", delivered_at=at, last_error=None)
                stats.delivered += 1
            elif attempts >= settings.delivery_max_attempts or sub.disabled_at is not None:
                values.update(state="dead", last_error=error)
                stats.dead += 1
                log.warning("notification %s dead after %d attempt(s): %s", n.id, attempts, error)
            else:
                log.warning("notification %s attempt %d failed: %s", n.id, attempts, error)
                values.update(
                    last_error=error,
                    next_attempt_at=at + timedelta(seconds=backoff(settings, attempts)),
                )
                stats.retried += 1
            await session.execute(
                update(AlertNotification)
                .where(col(AlertNotification.id) == n.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if error is None or values.get("state") == "dead":
                record(
                    session,
                    None,
                    AuditEntry(
                        action=f"alert.notification.{values['state']}",
                        purpose=PURPOSE,
                        outcome="ok" if error is None else "failed",
                        object_type="alert_notification",
                        object_id=n.id,
                        detail={
                            "alert_id": n.alert_id,
                            "channel": sub.channel,
                            "event": n.event,
                            "attempts": attempts,
                        },
                    ),
                )
    return stats


async def requeue(session: AsyncSession, n: AlertNotification, now: datetime) -> None:
    """Send a dead letter again (after the receiver is fixed), keeping its delivery id."""
    n.state = "pending"
    n.attempts = 0
    n.next_attempt_at = now
    n.claimed_until = None
    await session.flush()
