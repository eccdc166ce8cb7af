"""Showing a review item: both records side by side and the score explained."""

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.children.models import ReviewItem
from aggregator.children.schemas import AgencyRef, RecordSide, ReviewItemOut
from aggregator.concerns.models import ChildRecord
from aggregator.principals.models import Principal
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
