"""Appending audit events inside the caller's transaction."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit.models import AuditEvent
from aggregator.core.deferred import defer, discard
from aggregator.core.rows import new_row

# Events recorded in a request that then fails are rolled back with it; the
# session dependency writes them again (see `events_to_replay`) so that a refused
# or failed attempt is on the record too.
_REPLAY_KEY = "audit_replay"


class Actor(Protocol):
    id: str
    name: str


@dataclass(frozen=True)
class AuditEntry:
    action: str
    purpose: str
    outcome: str = "ok"
    object_type: str | None = None
    object_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def record(session: AsyncSession, actor: Actor | None, entry: AuditEntry) -> AuditEvent:
    """Add an event to the current unit of work; it commits or rolls back with it.

    `detail` must never hold personal data: ids, counts and codes only.
    """
    row = new_row(
        AuditEvent,
        principal_id=actor.id if actor else None,
        principal_name=actor.name if actor else None,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        purpose=entry.purpose,
        outcome=entry.outcome,
        detail=entry.detail,
    )
    defer(session, [row])  # written with the transaction's other rows, before commit
    session.info.setdefault(_REPLAY_KEY, []).append(row)
    return row


def events_to_replay(session: AsyncSession, failure: str) -> list[AuditEvent]:
    """Copies of this unit of work's events for a fresh transaction after a rollback.

    An event that claimed success is re-marked with the failure: the attempt
    happened, its effect did not.
    """
    replay: list[AuditEvent] = session.info.pop(_REPLAY_KEY, [])
    discard(session)
    return [
        AuditEvent(
            occurred_at=e.occurred_at,
            principal_id=e.principal_id,
            principal_name=e.principal_name,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            purpose=e.purpose,
            outcome=failure if e.outcome == "ok" else e.outcome,
            detail=dict(e.detail),
        )
        for e in replay
    ]


def forget_recorded(session: AsyncSession) -> None:
    """Called after a successful commit so the session can be reused."""
    session.info.pop(_REPLAY_KEY, None)
    discard(session)


def denied_entry(path: str, method: str, **detail: Any) -> AuditEntry:
    """The event of a refused attempt: who tried to open what (the path, never its query)."""
    return AuditEntry(
        action="access.denied",
        purpose="authorisation",
        outcome="denied",
        detail={"path": path, "method": method, **detail},
    )


def record_denied(session: AsyncSession, actor: Actor, path: str, method: str) -> None:
    """A refused attempt is evidence too (who tried to open what)."""
    record(session, actor, denied_entry(path, method))


SHOWN = "child.shown"


def record_shown(
    session: AsyncSession,
    actor: Actor,
    child_ids: Iterable[str | None],
    *,
    read: str,
    purpose: str,
    exclude: Collection[str] = (),
    **detail: Any,
) -> list[str]:
    """One `child.shown` event for each child whose identity a read displayed.

    A read's own event names what was asked for (one child's picture, a page of a
    list); the trail is searched by `object_id`, so a sibling in another child's
    picture, each row of the children list, both sides of a review item are found
    only by events of their own. `read` is the read's action and `detail` says
    where (`of` the object read, `via` the dashboard). Children in `exclude` are
    the read's own object. Returns the children recorded, in order.
    """
    shown: list[str] = []
    seen = set(exclude)
    for child_id in child_ids:
        if child_id and child_id not in seen:
            seen.add(child_id)
            shown.append(child_id)
    for child_id in shown:
        record(
            session,
            actor,
            AuditEntry(
                action=SHOWN,
                purpose=purpose,
                object_type="child",
                object_id=child_id[:64],
                detail={"read": read, **detail},
            ),
        )
    return shown


def record_read(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    found: bool,
    purpose: str,
    **detail: Any,
) -> None:
    """A read of one object, found or not: the attempt is evidence either way."""
    record(
        session,
        actor,
        AuditEntry(
            action=action,
            purpose=purpose,
            object_type=object_type,
            object_id=object_id[:64],
            outcome="ok" if found else "not_found",
            detail=detail,
        ),
    )
