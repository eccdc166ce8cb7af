"""Showing a review item: both records side by side and the score explained."""

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.models import ReviewItem
from aggregator.children.schemas import AgencyRef, RecordSide, ReviewItemOut
from aggregator.concerns.models import ChildRecord, Concern, RelatedPerson
from aggregator.principals.models import Principal
from aggregator.web.counts import ActionCount
from matching.model import probability_from_bits


async def _side(session: AsyncSession, record_id: str) -> RecordSide:
    rec = await session.get(ChildRecord, record_id)
    assert rec is not None
    agency = await session.get(Principal, rec.agency_id)
    return RecordSide(
        record_id=rec.id,
        child_id=rec.child_id,
        agency=AgencyRef(
            id=rec.agency_id,
            name=agency.name if agency else "unknown",
            type=agency.agency_type if agency else None,
        ),
        received_at=rec.created_at,
        given_name=rec.given_name,
        family_name=rec.family_name,
        other_names=list(rec.other_names or []),
        date_of_birth=rec.date_of_birth,
        sex=rec.sex,
        nhs_number=rec.nhs_number,
        upn=rec.upn,
        address_line1=rec.address_line1,
        town=rec.town,
        postcode=rec.postcode,
    )


def explanation(item: ReviewItem) -> list[str]:
    """The stored per-field contributions as sentences, ending in the total."""
    lines = [
        f"{c['field'].replace('_', ' ')}: {c['label']}, {c['bits']:+.1f}"
        for c in item.contributions
    ]
    lines.append(
        f"total: {item.weight:+.1f} bits, probability {probability_from_bits(item.weight):.3f}"
    )
    return lines


async def review_item_view(session: AsyncSession, item: ReviewItem) -> ReviewItemOut:
    return ReviewItemOut(
        id=item.id,
        state=item.state,
        created_at=item.created_at,
        probability=item.probability,
        weight=item.weight,
        explanation=explanation(item),
        contributions=item.contributions,
        record=await _side(session, item.record_id),
        candidate=await _side(session, item.candidate_record_id),
        decision=item.decision,
        note=item.note,
    )


def sides_shown(views: list[ReviewItemOut]) -> list[str | None]:
    """The children of both records of each item: each is shown side by side."""
    return [child for v in views for child in (v.record.child_id, v.candidate.child_id)]


ReviewSort = Literal["age", "probability", "agency"]
REVIEW_SORTS: tuple[str, ...] = ("age", "probability", "agency")


async def review_count(session: AsyncSession, state: str) -> int:
    """How many review items are in this state (the backlog, for pagers and the home page)."""
    stmt = select(func.count()).select_from(ReviewItem).where(col(ReviewItem.state) == state)
    return int(await session.scalar(stmt) or 0)


async def review_page(
    session: AsyncSession, state: str, sort: ReviewSort, offset: int, limit: int
) -> list[ReviewItem]:
    """One page of review items.

    age: oldest first (the default: nobody waits longest); probability: the likeliest
    first (quick wins); agency: by the agency of the new record, then oldest."""
    stmt = select(ReviewItem).where(col(ReviewItem.state) == state)
    if sort == "probability":
        stmt = stmt.order_by(col(ReviewItem.probability).desc(), col(ReviewItem.created_at))
    elif sort == "agency":
        stmt = (
            stmt.join(ChildRecord, col(ChildRecord.id) == col(ReviewItem.record_id))
            .join(Principal, col(Principal.id) == col(ChildRecord.agency_id))
            .order_by(col(Principal.name), col(ReviewItem.created_at))
        )
    else:
        stmt = stmt.order_by(col(ReviewItem.created_at), col(ReviewItem.probability).desc())
    items = (
        await session.scalars(stmt.order_by(col(ReviewItem.id)).offset(offset).limit(limit))
    ).all()
    return list(items)


@dataclass(frozen=True)
class SideContext:
    """What separates twins and siblings: who cares for each, what was raised about each."""

    carers: list[str]
    categories: list[str]


async def side_contexts(session: AsyncSession, record_ids: list[str]) -> dict[str, SideContext]:
    """Per record: its named parents or carers, and the concern categories of its child."""
    if not record_ids:
        return {}
    people = (
        (
            await session.execute(
                select(RelatedPerson)
                .where(col(RelatedPerson.child_record_id).in_(record_ids))
                .order_by(col(RelatedPerson.position))
            )
        )
        .scalars()
        .all()
    )
    carers: dict[str, list[str]] = {r: [] for r in record_ids}
    for p in people:
        name = " ".join(x for x in (p.given_name, p.family_name) if x) or "unnamed"
        carers[p.child_record_id].append(f"{name} ({p.relationship.replace('_', ' ')})")
    child_of = dict(
        (
            await session.execute(
                select(col(ChildRecord.id), col(ChildRecord.child_id)).where(
                    col(ChildRecord.id).in_(record_ids)
                )
            )
        ).all()
    )
    children = [c for c in child_of.values() if c]
    cats: dict[str, set[str]] = {}
    if children:
        rows = (
            await session.execute(
                select(col(ChildRecord.child_id), col(Concern.category))
                .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
                .where(col(ChildRecord.child_id).in_(children))
                .distinct()
            )
        ).all()
        for cid, category in rows:
            cats.setdefault(str(cid), set()).add(str(category))
    return {
        r: SideContext(
            carers=carers[r],
            categories=sorted(c.replace("_", " ") for c in cats.get(str(child_of.get(r)), set())),
        )
        for r in record_ids
    }


async def backlog_counts(session: AsyncSession) -> list[ActionCount]:
    """The review backlog, for the home page."""
    return [
        ActionCount("possible matches to review", await review_count(session, "open"), "/review")
    ]
