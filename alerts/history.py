"""What the hub did about a child's alerts, for the child's chronology.

Why here: the alert notes are the alert's history (opened, acknowledged, resolved
with a reason, merged, escalated); the chronology in `aggregator.children` takes
this as one of its sources, wired by the composition root, so neither package
imports the other for it.
"""

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.chronology import HubAction
from aggregator.principals.models import Principal
from aggregator.web.counts import ActionCount
from alerts.models import Alert

_ALERTS_OF_CHILD = (
    select(Alert).where(col(Alert.child_id) == bindparam("child_id")).order_by(col(Alert.opened_at))
)
_LABELS = {
    "opened": "alert opened",
    "acknowledged": "alert acknowledged",
    "resolved": "alert resolved",
    "reopened": "alert reopened",
    "escalated": "alert escalated",
    "merged": "alert merged",
    "updated": "alert updated",
}


async def hub_actions_for_child(session: AsyncSession, child_id: str) -> list[HubAction]:
    """Every recorded step of every alert of this child, resolved ones included."""
    alerts = (await session.scalars(_ALERTS_OF_CHILD, {"child_id": child_id})).all()
    by_ids = {n["by"] for a in alerts for n in a.notes if n.get("by")}
    names: dict[str, str] = {}
    if by_ids:
        rows = await session.execute(
            select(col(Principal.id), col(Principal.name)).where(col(Principal.id).in_(by_ids))
        )
        names = {str(i): str(n) for i, n in rows.all()}
    actions = []
    for a in alerts:
        for n in a.notes:
            kind = str(n.get("kind", "updated"))
            text = str(n.get("text", ""))
            actions.append(
                HubAction(
                    at=datetime.fromisoformat(str(n["at"])),
                    action=_LABELS.get(kind, f"alert {kind}"),
                    text=f"{a.text} ({a.severity}): {text}" if kind == "opened" else text,
                    by=names.get(str(n.get("by"))) if n.get("by") else None,
                )
            )
    return actions


async def action_counts(session: AsyncSession) -> list[ActionCount]:
    """Open red and amber alerts, and those nobody has taken on, for the home page."""
    rows = (
        await session.execute(
            select(col(Alert.severity), func.count(), func.count(col(Alert.owner_id)))
            .where(col(Alert.state) == "open")
            .group_by(col(Alert.severity))
        )
    ).all()
    open_by = {str(sev): int(n) for sev, n, _ in rows}
    unassigned = sum(int(n) - int(owned) for _, n, owned in rows)
    return [
        ActionCount("red alerts open", open_by.get("red", 0), "/alerts?severity=red", "red"),
        ActionCount(
            "amber alerts open", open_by.get("amber", 0), "/alerts?severity=amber", "amber"
        ),
        ActionCount("open alerts nobody has taken on", unassigned, "/alerts?state=open"),
    ]
