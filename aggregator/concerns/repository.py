"""Every query on concerns and their parts, so handlers never write SQL."""

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.concerns.models import (
    ChildRecord,
    Concern,
    RelatedPerson,
    SharingDecision,
    SharingRecord,
)


async def concern_by_ref(
    session: AsyncSession, agency_id: str, external_ref: str
) -> Concern | None:
    return (
        await session.scalars(
            select(Concern).where(
                col(Concern.agency_id) == agency_id, col(Concern.external_ref) == external_ref
            )
        )
    ).first()


async def decision_by_ref(
    session: AsyncSession, agency_id: str, external_ref: str
) -> SharingDecision | None:
    return (
        await session.scalars(
            select(SharingDecision).where(
                col(SharingDecision.agency_id) == agency_id,
                col(SharingDecision.external_ref) == external_ref,
            )
        )
    ).first()


async def concern_visible_to(
    session: AsyncSession, concern_id: str, agency_id: str | None
) -> Concern | None:
    """`agency_id=None` means the caller may see every agency's concerns."""
    stmt = select(Concern).where(col(Concern.id) == concern_id)
    if agency_id is not None:
        stmt = stmt.where(col(Concern.agency_id) == agency_id)
    return (await session.scalars(stmt)).first()


async def page_of_concerns(
    session: AsyncSession, agency_id: str | None, offset: int, limit: int
) -> tuple[list[Concern], int]:
    base = select(Concern)
    count = select(func.count()).select_from(Concern)
    if agency_id is not None:
        base = base.where(col(Concern.agency_id) == agency_id)
        count = count.where(col(Concern.agency_id) == agency_id)
    rows = (
        await session.scalars(
            base.order_by(col(Concern.received_at).desc(), col(Concern.id))
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return list(rows), int(await session.scalar(count) or 0)


class ConcernParts:
    """The child record, related people and sharing record of several concerns at once."""

    def __init__(
        self,
        children: dict[str, ChildRecord],
        related: dict[str, list[RelatedPerson]],
        sharing: dict[str, SharingRecord],
    ) -> None:
        self.children, self.related, self.sharing = children, related, sharing


async def load_parts(session: AsyncSession, concern_ids: Sequence[str]) -> ConcernParts:
    if not concern_ids:
        return ConcernParts({}, {}, {})
    children = {
        c.concern_id: c
        for c in (
            await session.scalars(
                select(ChildRecord).where(col(ChildRecord.concern_id).in_(concern_ids))
            )
        ).all()
    }
    by_record = {c.id: c.concern_id for c in children.values()}
    related: dict[str, list[RelatedPerson]] = defaultdict(list)
    if by_record:
        for person in (
            await session.scalars(
                select(RelatedPerson)
                .where(col(RelatedPerson.child_record_id).in_(list(by_record)))
                .order_by(col(RelatedPerson.position))
            )
        ).all():
            related[by_record[person.child_record_id]].append(person)
    sharing = {
        s.concern_id: s
        for s in (
            await session.scalars(
                select(SharingRecord).where(col(SharingRecord.concern_id).in_(concern_ids))
            )
        ).all()
    }
    return ConcernParts(children, dict(related), sharing)
