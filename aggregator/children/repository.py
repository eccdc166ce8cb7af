"""Every query of identity resolution and the picture."""

import zlib
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlmodel import col

from aggregator.children.identity import to_match_record
from aggregator.children.models import BlockingKey, Child, HouseholdKey, PairDecision, ReviewItem
from aggregator.concerns.models import ChildRecord, Concern, RelatedPerson
from aggregator.core.types import utcnow
from matching import ChildRecord as MatchRecord

# A key shared by more records than this says little (a common name in a big
# city); capping keeps a submission's work bounded whatever the data.
CANDIDATE_CAP = 400
# Keys shared by more records than this are skipped when fetching candidates.
MAX_BLOCK = 300
# A household key shared by more children than this joins strangers, not siblings.
HOUSEHOLD_MAX_CHILDREN = 8


async def lock_keys(session: AsyncSession, keys: Iterable[str]) -> None:
    """Serialise concurrent submissions that could be about the same child.

    Without this two first-ever concerns about one child, sent at the same moment,
    would each find nothing and create two children. Locks are taken in sorted
    order so two submissions never deadlock; SQLite already serialises writers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({zlib.crc32(key.encode()) for key in keys})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ids AS bigint[])) AS k"),
        {"ids": ids},
    )


async def candidate_records(
    session: AsyncSession, keys: Sequence[str], exclude: str
) -> list[tuple[str, MatchRecord]]:
    """(child id, record) of every record sharing an uncrowded blocking key.

    A key shared by more than MAX_BLOCK records ("George Smith", a big estate's
    postcode) says little and would crowd out the keys that do; it is skipped, as
    Splink-style blocking does, so one submission's work stays bounded.
    """
    if not keys:
        return []
    uncrowded = (
        select(col(BlockingKey.key))
        .where(col(BlockingKey.key).in_(list(keys)))
        .group_by(col(BlockingKey.key))
        .having(func.count() <= MAX_BLOCK)
    )
    ids = (
        select(col(BlockingKey.child_record_id))
        .where(col(BlockingKey.key).in_(uncrowded.scalar_subquery()))
        .where(col(BlockingKey.child_record_id) != exclude)
        .distinct()
        .limit(CANDIDATE_CAP)
    )
    r = ChildRecord
    rows = (
        await session.execute(
            select(
                col(r.id),
                col(r.child_id),
                col(r.given_name),
                col(r.family_name),
                col(r.other_names),
                col(r.date_of_birth),
                col(r.sex),
                col(r.nhs_number),
                col(r.upn),
                col(r.postcode),
                col(r.address_line1),
                col(r.town),
            )
            .where(col(r.id).in_(ids.scalar_subquery()))
            .where(col(r.child_id).is_not(None))
        )
    ).all()
    return [(row.child_id, to_match_record(row)) for row in rows]


async def records_of(session: AsyncSession, child_ids: Sequence[str]) -> list[ChildRecord]:
    return list(
        (
            await session.scalars(
                select(ChildRecord)
                .where(col(ChildRecord.child_id).in_(list(child_ids)))
                .order_by(col(ChildRecord.created_at))
            )
        ).all()
    )


async def record_ids_of(session: AsyncSession, child_id: str) -> list[str]:
    return list(
        (
            await session.scalars(
                select(col(ChildRecord.id)).where(col(ChildRecord.child_id) == child_id)
            )
        ).all()
    )


async def get_child(session: AsyncSession, child_id: str) -> Child | None:
    """The child, following merges so an old id still finds its child."""
    child = await session.get(Child, child_id)
    for _ in range(10):
        if child is None or child.merged_into is None:
            return child
        child = await session.get(Child, child.merged_into)
    return child


def _across(
    a: SQLCoreOperations[str], b: SQLCoreOperations[str], left: Sequence[str], right: Sequence[str]
) -> ColumnElement[bool]:
    """Pairs with one record on each side, in either order."""
    return or_(
        and_(a.in_(list(left)), b.in_(list(right))),
        and_(a.in_(list(right)), b.in_(list(left))),
    )


async def decisions_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str], decision: str
) -> list[PairDecision]:
    if not left or not right:
        return []
    return list(
        (
            await session.scalars(
                select(PairDecision).where(
                    col(PairDecision.decision) == decision,
                    _across(col(PairDecision.record_a), col(PairDecision.record_b), left, right),
                )
            )
        ).all()
    )


async def move_records(
    session: AsyncSession, record_ids: Sequence[str] | None, from_child: str, to_child: str
) -> None:
    stmt = update(ChildRecord).where(col(ChildRecord.child_id) == from_child)
    if record_ids is not None:
        stmt = stmt.where(col(ChildRecord.id).in_(list(record_ids)))
    await session.execute(stmt.values(child_id=to_child))


async def repoint_merged(session: AsyncSession, old: str, new: str) -> None:
    await session.execute(
        update(Child).where(col(Child.merged_into) == old).values(merged_into=new)
    )


async def set_link(
    session: AsyncSession, record_id: str, child_id: str, outcome: str, probability: float | None
) -> None:
    await session.execute(
        update(ChildRecord)
        .where(col(ChildRecord.id) == record_id)
        .values(child_id=child_id, link_outcome=outcome, link_probability=probability)
    )


async def touch(session: AsyncSession, child_ids: Iterable[str]) -> None:
    ids = list(set(child_ids))
    if ids:
        await session.execute(
            update(Child).where(col(Child.id).in_(ids)).values(touched_at=utcnow())
        )


async def open_items_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str]
) -> list[ReviewItem]:
    if not left or not right:
        return []
    return list(
        (
            await session.scalars(
                select(ReviewItem).where(
                    col(ReviewItem.state) == "open",
                    _across(
                        col(ReviewItem.record_id), col(ReviewItem.candidate_record_id), left, right
                    ),
                )
            )
        ).all()
    )


async def open_items_for_records(session: AsyncSession, record_ids: Sequence[str]) -> int:
    rows = (
        await session.scalars(
            select(col(ReviewItem.id)).where(
                col(ReviewItem.state) == "open",
                or_(
                    col(ReviewItem.record_id).in_(list(record_ids)),
                    col(ReviewItem.candidate_record_id).in_(list(record_ids)),
                ),
            )
        )
    ).all()
    return len(rows)


async def set_pair_decision(
    session: AsyncSession, a: str, b: str, decision: str, decided_by: str, note: str | None
) -> None:
    """One ruling per pair; a later ruling replaces it (the audit trail keeps both)."""
    first, second = sorted((a, b))
    await session.execute(
        delete(PairDecision).where(
            col(PairDecision.record_a) == first, col(PairDecision.record_b) == second
        )
    )
    session.add(
        PairDecision(
            record_a=first, record_b=second, decision=decision, decided_by=decided_by, note=note
        )
    )


async def drop_decisions_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str], decision: str
) -> int:
    found = await decisions_between(session, left, right, decision)
    for d in found:
        await session.delete(d)
    return len(found)


async def household_keys_of(session: AsyncSession, record_ids: Sequence[str]) -> list[HouseholdKey]:
    if not record_ids:
        return []
    return list(
        (
            await session.scalars(
                select(HouseholdKey).where(col(HouseholdKey.child_record_id).in_(list(record_ids)))
            )
        ).all()
    )


async def records_sharing(
    session: AsyncSession, keys: Sequence[str], exclude_child: str, limit: int = 200
) -> list[tuple[HouseholdKey, ChildRecord]]:
    """Other children's records sharing an address or adult key with this child.

    A key shared by more than HOUSEHOLD_MAX_CHILDREN children is no household (a
    block of flats with one line1, a very common name): it is left out.
    """
    if not keys:
        return []
    small = (
        select(col(HouseholdKey.key))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .where(col(HouseholdKey.key).in_(list(keys)))
        .group_by(col(HouseholdKey.key))
        .having(func.count(func.distinct(col(ChildRecord.child_id))) <= HOUSEHOLD_MAX_CHILDREN)
    )
    rows = (
        await session.execute(
            select(HouseholdKey, ChildRecord)
            .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
            .where(col(HouseholdKey.key).in_(small.scalar_subquery()))
            .where(col(ChildRecord.child_id) != exclude_child)
            .limit(limit)
        )
    ).all()
    return [(hk, rec) for hk, rec in rows]


async def related_people_of(
    session: AsyncSession, record_ids: Sequence[str]
) -> list[RelatedPerson]:
    if not record_ids:
        return []
    return list(
        (
            await session.scalars(
                select(RelatedPerson).where(
                    col(RelatedPerson.child_record_id).in_(list(record_ids))
                )
            )
        ).all()
    )


async def concerns_of_records(session: AsyncSession, record_ids: Sequence[str]) -> list[Concern]:
    if not record_ids:
        return []
    return list(
        (
            await session.scalars(
                select(Concern)
                .join(ChildRecord, col(ChildRecord.concern_id) == col(Concern.id))
                .where(col(ChildRecord.id).in_(list(record_ids)))
                .order_by(col(Concern.observed_at), col(Concern.received_at))
            )
        ).all()
    )
