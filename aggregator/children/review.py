"""People's decisions: review items, splits and merges. A person always wins."""

from collections.abc import Sequence

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import Actor
from aggregator.children import repository as repo
from aggregator.children.linking import merge_children
from aggregator.children.models import Child, ReviewItem
from aggregator.concerns.models import ChildRecord
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal

# Split records get a `different_children` ruling against the records that stay,
# so no later bridge re-merges them; bounded to keep one request bounded.
MAX_SPLIT_PAIRS = 2500


async def _child_of_record(session: AsyncSession, record_id: str) -> Child:
    rec = await session.get(ChildRecord, record_id)
    child = await repo.get_child(session, rec.child_id) if rec and rec.child_id else None
    if child is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "record is not attached to a child")
    return child


async def _settle(session: AsyncSession, child: Child) -> None:
    """A provisional child stops being provisional once nothing about it is open."""
    if child.provisional:
        ids = await repo.record_ids_of(session, child.id)
        if await repo.open_items_for_records(session, ids) == 0:
            child.provisional = False


async def merge_by_person(
    session: AsyncSession, a: Child, b: Child, person: Actor, note: str | None, why: str
) -> Child:
    """Merge two children on a person's word, overriding earlier contrary rulings."""
    left = await repo.record_ids_of(session, a.id)
    right = await repo.record_ids_of(session, b.id)
    dropped = await repo.drop_decisions_between(session, left, right, "different_children")
    survivor, absorbed = sorted((a, b), key=lambda c: c.created_at)
    if left and right:
        await repo.set_pair_decision(session, left[0], right[0], "same_child", person.id, note)
    await merge_children(
        session,
        survivor,
        absorbed,
        person,
        reason=why,
        detail={"overrode_rulings": dropped},
    )
    survivor.provisional = False
    return survivor


class ItemAlreadyDecided(Exception):
    """Someone else ruled on this item first: a reversal is an explicit split or merge."""

    def __init__(self, item: ReviewItem, decided_by: str) -> None:
        when = item.decided_at.strftime("%Y-%m-%d %H:%M UTC") if item.decided_at else "earlier"
        ruled = (item.decision or item.state).replace("_", " ")
        super().__init__(
            f"this review item was already decided ({ruled}) by {decided_by} at {when}; "
            "to reverse it, split or merge the children on the child's page"
        )
        self.decided_by = decided_by
        self.decided_at = item.decided_at


async def decide(
    session: AsyncSession, item: ReviewItem, decision: str, note: str | None, person: Actor
) -> Child:
    """Apply a person's ruling on a review item; returns the new record's child.

    Only an open item is decided; repeating the ruling in force is harmless (a double
    click), a different one on a closed item raises `ItemAlreadyDecided`."""
    if item.state == "decided" and item.decision == decision:
        return await _child_of_record(session, item.record_id)
    if item.state != "open":
        by = await session.get(Principal, item.decided_by) if item.decided_by else None
        raise ItemAlreadyDecided(item, by.name if by else "the matcher")
    new_child = await _child_of_record(session, item.record_id)
    cand_child = await _child_of_record(session, item.candidate_record_id)
    if decision == "same_child":
        result = new_child
        if new_child.id != cand_child.id:
            result = await merge_by_person(
                session, new_child, cand_child, person, note, why="review: same child"
            )
        await repo.set_pair_decision(
            session, item.record_id, item.candidate_record_id, "same_child", person.id, note
        )
    else:
        await repo.set_pair_decision(
            session, item.record_id, item.candidate_record_id, "different_children", person.id, note
        )
        result = new_child
        if new_child.id == cand_child.id:
            result = await split(session, new_child, [item.record_id], person, note)
    item.state, item.decision, item.note = "decided", decision, note
    item.decided_by, item.decided_at = person.id, utcnow()
    await session.flush()
    await _settle(session, result)
    if cand_child.id != result.id and cand_child.merged_into is None:
        await _settle(session, cand_child)
    await repo.touch(session, [result.id, cand_child.id])
    record(
        session,
        person,
        AuditEntry(
            action="review.decide",
            purpose="identity_resolution",
            object_type="review_item",
            object_id=item.id,
            detail={"decision": decision, "child_id": result.id},
        ),
    )
    return result


async def split(
    session: AsyncSession,
    child: Child,
    record_ids: Sequence[str],
    person: Actor,
    note: str | None,
) -> Child:
    """Move the named records (and their concerns) to a new child."""
    current = await repo.record_ids_of(session, child.id)
    leaving = sorted(set(record_ids))
    unknown = set(leaving) - set(current)
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"record_ids: {len(unknown)} of the named records do not belong to this child",
        )
    staying = [r for r in current if r not in set(leaving)]
    if not staying:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "record_ids: a split must leave at least one record with the child",
        )
    if len(leaving) * len(staying) > MAX_SPLIT_PAIRS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "record_ids: split too large to record; split in smaller steps",
        )
    new_child = Child()
    session.add(new_child)
    await session.flush()
    await repo.move_records(session, leaving, child.id, new_child.id)
    for a in leaving:
        for b in staying:
            await repo.set_pair_decision(session, a, b, "different_children", person.id, note)
    await repo.touch(session, [child.id, new_child.id])
    record(
        session,
        person,
        AuditEntry(
            action="child.split",
            purpose="identity_resolution",
            object_type="child",
            object_id=child.id,
            detail={"new_child": new_child.id, "records": leaving},
        ),
    )
    return new_child
