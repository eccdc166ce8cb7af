"""Rebuilding the blocking and household keys after the key functions change.

Keys are computed when a record is stored, so a better blocking key (or a
changed household key) reaches old records only through this rebuild.
"""

from collections import defaultdict

from sqlalchemy import delete, select
from sqlmodel import col

from aggregator.children.linking import index_record
from aggregator.children.models import BlockingKey, HouseholdKey
from aggregator.children.repository import related_people_of
from aggregator.concerns.models import ChildRecord, RelatedPerson
from aggregator.core.db import Database


async def reindex(db: Database, batch: int = 2000) -> int:
    """Recompute every record's keys, one committed batch at a time; returns the count."""
    after, done = "", 0
    while True:
        async with db.session() as session:
            records = list(
                (
                    await session.scalars(
                        select(ChildRecord)
                        .where(col(ChildRecord.id) > after)
                        .order_by(col(ChildRecord.id))
                        .limit(batch)
                    )
                ).all()
            )
            if not records:
                return done
            ids = [r.id for r in records]
            await session.execute(
                delete(BlockingKey).where(col(BlockingKey.child_record_id).in_(ids))
            )
            await session.execute(
                delete(HouseholdKey).where(col(HouseholdKey.child_record_id).in_(ids))
            )
            related: dict[str, list[RelatedPerson]] = defaultdict(list)
            for person in await related_people_of(session, ids):
                related[person.child_record_id].append(person)
            for rec in records:
                await index_record(session, rec, related[rec.id])
        after, done = ids[-1], done + len(ids)
