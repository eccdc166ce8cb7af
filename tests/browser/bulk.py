"""Many open alerts and review items written straight to the database, so the browser
tests meet lists that need pages. Each belongs to its own child, newer than the demo's."""

from aggregator.children.models import ReviewItem
from alerts.models import Alert
from tests.alerts.helpers import World

# Mostly amber and newer than the demo's, so the demo's own alerts still lead the inbox.
RED_EVERY = 40


async def _one_record(world: World, agency: str, kind: str = "school") -> tuple[str, str]:
    """A child with one concern; returns (child id, concern id)."""
    child_id = await world.child()
    return child_id, await world.concern(child_id, agency, kind=kind)


async def add_alerts(world: World, n: int) -> None:
    db = world.db
    for i in range(n):
        child_id, concern_id = await _one_record(world, "Bulk Primary School")
        severity, rule = (
            ("red", "non_mobile_infant_injury") if i % RED_EVERY == 0 else ("amber", "accumulation")
        )
        async with db.session() as s:
            s.add(
                Alert(
                    rule_id=rule,
                    child_id=child_id,
                    severity=severity,
                    text=f"bulk alert {i}",
                    rules_version="bulk",
                    evidence={"concern_ids": [concern_id]},
                )
            )


async def add_review_items(world: World, n: int) -> None:
    from sqlalchemy import select

    from aggregator.concerns.models import ChildRecord

    db = world.db
    for _ in range(n):
        _, a = await _one_record(world, "Bulk Primary School")
        _, b = await _one_record(world, "Bulk Health Centre", kind="health")
        async with db.session() as s:
            found = (
                await s.execute(
                    select(ChildRecord.concern_id, ChildRecord.id).where(
                        ChildRecord.concern_id.in_([a, b])  # type: ignore[attr-defined]
                    )
                )
            ).all()
            by_concern = dict(found)
            rec_a, rec_b = by_concern[a], by_concern[b]
            s.add(
                ReviewItem(record_id=rec_a, candidate_record_id=rec_b, probability=0.6, weight=1.0)
            )
