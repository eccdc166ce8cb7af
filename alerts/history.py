"""What the hub did about a child's alerts, for the child's chronology.

Why here: the alert notes are the alert's history (opened, acknowledged, resolved
with a reason, merged, escalated); the chronology in `aggregator.children` takes
this as one of its sources, wired by the composition root, so neither package
imports the other for it.
"""

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.chronology import HubAction
from aggregator.principals.models import Principal
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
