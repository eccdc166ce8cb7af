"""From alert to action: ownership, triage against the clock, notes, outcomes, and
the feedback the referring agency sees.

Why a module of its own: acknowledge/resolve and the sweeps live in `service`;
this is what people do with an alert once they have it. Every change is a
compare-and-set on the alert's `version` (a stale tab gets 409), is kept in the
alert's `notes` (its history, shown in the child's chronology) and is audited.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import Actor
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.settings import Settings
from aggregator.principals.models import Principal
from alerts import repository as repo
from alerts.models import Alert
from alerts.service import PURPOSE, AlertConflict, TransitionError, cas_update, queue
from alerts.timescales import Rating, Timescales

STAFF_ROLES = ("hub", "lead")


class Outcome(StrEnum):
    """What the hub decided: one controlled vocabulary, published in OpenAPI."""

    NO_FURTHER_ACTION = "no_further_action"
    ADVICE_GIVEN = "advice_given"
    EARLY_HELP = "early_help"
    STRATEGY_DISCUSSION = "strategy_discussion"
    SECTION_47_ENQUIRY = "section_47_enquiry"
    REFERRED_TO_CHILDRENS_SOCIAL_CARE = "referred_to_childrens_social_care"
    OPEN_CASE_ALLOCATED_WORKER_INFORMED = "open_case_allocated_worker_informed"
    MONITOR = "monitor"


OUTCOME_LABELS: dict[str, str] = {
    Outcome.NO_FURTHER_ACTION: "No further action",
    Outcome.ADVICE_GIVEN: "Advice given",
    Outcome.EARLY_HELP: "Early help",
    Outcome.STRATEGY_DISCUSSION: "Strategy discussion",
    Outcome.SECTION_47_ENQUIRY: "Section 47 enquiry",
    Outcome.REFERRED_TO_CHILDRENS_SOCIAL_CARE: "Referred to children's social care",
    Outcome.OPEN_CASE_ALLOCATED_WORKER_INFORMED: "Open case: allocated worker informed",
    Outcome.MONITOR: "Monitor",
}


class CaseworkError(ValueError):
    """A request that cannot be met as asked (422): the message says why."""


def _note(now: datetime, kind: str, text: str, user: Actor, **extra: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "kind": kind, "text": text, "by": user.id, **extra}


def _check(alert: Alert, version: int | None) -> None:
    if version is not None and version != alert.version:
        raise AlertConflict(alert.id)


def _audit(session: AsyncSession, user: Actor, action: str, alert: Alert, **detail: Any) -> None:
    record(
        session,
        user,
        AuditEntry(
            action=action,
            purpose=PURPOSE,
            object_type="alert",
            object_id=alert.id,
            detail={"version": alert.version, **detail},
        ),
    )


async def staff_by_email(session: AsyncSession, email: str) -> Principal:
    """The hub or lead person with this email (people sign in with it as their name)."""
    person = await session.scalar(
        select(Principal).where(
            col(Principal.name) == email.strip(),
            col(Principal.kind) == "person",
            col(Principal.disabled_at).is_(None),
        )
    )
    if person is None or person.role not in STAFF_ROLES:
        raise CaseworkError("the assignee must be an active hub or lead person, by email")
    return person


async def assign(
    session: AsyncSession,
    alert: Alert,
    user: Actor,
    assignee: Principal,
    now: datetime,
    version: int | None = None,
) -> Alert:
    """Give the alert an owner; the owner hears of later updates to it."""
    _check(alert, version)
    if alert.state == "resolved":
        raise TransitionError("alert is resolved; it cannot be assigned")
    text = f"assigned to {assignee.name}"
    if alert.assignee and alert.assignee != assignee.name:
        text += f" (was {alert.assignee})"
    await cas_update(
        session,
        alert,
        owner_id=assignee.id,
        assignee=assignee.name,
        updated_at=now,
        notes=[*alert.notes, _note(now, "assigned", text, user, assignee=assignee.name)],
    )
    _audit(session, user, "alert.assign", alert, assignee=assignee.id)
    return alert


async def triage(
    session: AsyncSession,
    alert: Alert,
    user: Actor,
    rating: Rating,
    rationale: str | None,
    timescales: Timescales,
    now: datetime,
    version: int | None = None,
) -> Alert:
    """Rate red/amber/green; the decision is due within that rating's working-time window,
    counted from when the alert opened (when the contact arrived)."""
    _check(alert, version)
    if alert.state == "resolved":
        raise TransitionError("alert is resolved; it cannot be triaged")
    if alert.rating and alert.rating != rating and not rationale:
        raise CaseworkError(
            f"changing the rating from {alert.rating} to {rating} needs a rationale"
        )
    due = timescales.due(rating, alert.opened_at)
    was = alert.rating
    text = f"rated {rating}" + (f" (was {was})" if was and was != rating else "")
    if rationale:
        text += f": {rationale}"
    await cas_update(
        session,
        alert,
        rating=rating,
        due_at=due,
        updated_at=now,
        notes=[
            *alert.notes,
            _note(
                now,
                "triaged",
                text,
                user,
                rating=rating,
                previous_rating=was,
                due_at=due.isoformat(),
                timescales_version=timescales.version,
            ),
        ],
    )
    _audit(session, user, "alert.triage", alert, rating=rating, previous_rating=was)
    return alert


async def add_note(
    session: AsyncSession,
    alert: Alert,
    user: Actor,
    text: str,
    now: datetime,
    version: int | None = None,
) -> Alert:
    """A case note, kept on the alert with its author and time."""
    _check(alert, version)
    await cas_update(
        session,
        alert,
        updated_at=now,
        notes=[*alert.notes, _note(now, "note", text, user, author=user.name)],
    )
    _audit(session, user, "alert.note", alert)
    return alert


def is_overdue(alert: Alert, now: datetime) -> bool:
    return alert.due_at is not None and alert.state != "resolved" and now > alert.due_at


def fields(alert: Alert, now: datetime) -> dict[str, Any]:
    """The casework fields of an alert's JSON."""
    return {
        "assignee": alert.assignee,
        "rating": alert.rating,
        "due_at": alert.due_at,
        "overdue": is_overdue(alert, now),
        "outcome": alert.outcome,
    }


async def work_of(session: AsyncSession, owner_id: str | None, limit: int = 500) -> list[Alert]:
    """Unresolved alerts of one owner (or of everyone owned, for a lead's team view),
    soonest due first; those without a due time last, oldest first."""
    stmt = select(Alert).where(col(Alert.state) != "resolved")
    stmt = stmt.where(
        col(Alert.owner_id) == owner_id if owner_id else col(Alert.owner_id).is_not(None)
    )
    stmt = stmt.order_by(
        col(Alert.due_at).is_(None), col(Alert.due_at), col(Alert.opened_at), col(Alert.id)
    ).limit(limit)
    return list((await session.scalars(stmt)).all())


def _told_overdue(alert: Alert) -> bool:
    due = alert.due_at.isoformat() if alert.due_at else None
    return any(n.get("kind") == "overdue" and n.get("due_at") == due for n in alert.notes)


async def escalate_overdue(
    session: AsyncSession, settings: Settings, now: datetime, batch: int = 500
) -> int:
    """Tell the escalation level (1) about alerts whose decision is overdue, once per due
    time: a re-triage that sets a new due time can be overdue again. Silences mute it."""
    silences = await repo.active_silences(session, now)
    escalated = 0
    after = ""
    while True:
        page = list(
            (
                await session.scalars(
                    select(Alert)
                    .where(
                        col(Alert.state) != "resolved",
                        col(Alert.due_at) < now,
                        col(Alert.id) > after,
                    )
                    .order_by(col(Alert.id))
                    .limit(batch)
                )
            ).all()
        )
        if not page:
            return escalated
        after = page[-1].id
        for alert in page:
            if _told_overdue(alert) or repo.silenced_by(silences, alert.child_id, alert.rule_id):
                continue
            assert alert.due_at is not None
            level = max(1, alert.escalation_level)
            note = {
                "at": now.isoformat(),
                "kind": "overdue",
                "text": f"decision overdue (was due {alert.due_at.isoformat()}); escalated",
                "due_at": alert.due_at.isoformat(),
            }
            await cas_update(session, alert, notes=[*alert.notes, note])
            sent = await queue(session, settings, alert, "overdue", level=level)
            record(
                session,
                None,
                AuditEntry(
                    action="alert.overdue",
                    purpose=PURPOSE,
                    object_type="alert",
                    object_id=alert.id,
                    detail={"level": level, "notifications": sent, "version": alert.version},
                ),
            )
            escalated += 1


# --- feedback to the referrer ---------------------------------------------------


@dataclass(frozen=True)
class HubResponse:
    status: str  # received | under_review | responded
    outcome: str | None
    at: datetime


def _progressed(a: Alert) -> bool:
    return a.state == "acknowledged" or bool(a.owner_id or a.rating)


async def hub_response_for_concern(session: AsyncSession, concern: Concern) -> HubResponse | None:
    """What the hub has done with the alerts this concern is evidence for: enough to
    close the loop with the referrer, nothing about other agencies or the child."""
    child_id = await session.scalar(
        select(col(ChildRecord.child_id)).where(col(ChildRecord.concern_id) == concern.id)
    )
    if child_id is None:
        return None
    alerts = [
        a
        for a in (await session.scalars(select(Alert).where(col(Alert.child_id) == child_id))).all()
        if concern.id in a.evidence.get("concern_ids", [])
        or concern.id in a.evidence.get("previous_concern_ids", [])
    ]
    if not alerts:
        return None
    unresolved = [a for a in alerts if a.state != "resolved"]
    if not unresolved:
        last = max(alerts, key=lambda a: a.resolved_at or a.updated_at)
        return HubResponse("responded", last.outcome, last.resolved_at or last.updated_at)
    if any(_progressed(a) for a in unresolved):
        return HubResponse(
            "under_review", None, max(a.acknowledged_at or a.updated_at for a in unresolved)
        )
    return HubResponse("received", None, min(a.opened_at for a in unresolved))
