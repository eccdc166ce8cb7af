"""Evidence that scales with the population: term frequencies and the number of
children known, kept in the database and shared by every process.

Agreeing on "Oliver Smith" says less than agreeing on "Ottoline Pickersgill", and a
hostel's postcode, shared by hundreds of records, says little; the prior of a match
falls as the known population grows (one child in 100,000 is a different starting
point from one in 600). The counts live in `match_frequency`, so every process
weighs alike. Intake counts each new record in memory at once (this process sees it
immediately) and the background loop (`sync`, beside the match model's refresh)
adds those counts to the table in one short transaction and reads everyone's back:
the hot path takes no row lock on "smith". `recount` rebuilds the table from the
stored records (after an upgrade, or by `aggregator matching relink`).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, String, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from aggregator.children import model_store
from aggregator.children.identity import features_of, match_values
from aggregator.children.models import Child
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.types import BigIntId
from matching import MatchModel, TermFrequencies
from matching.features import Features

# Rows read or written per statement when recounting.
RECOUNT_BATCH = 5000


class MatchFrequency(SQLModel, table=True):
    """How many stored records carry one normalised value of one field, and (field
    "population", value "children") how many children are known."""

    __tablename__ = "match_frequency"

    field: str = Field(sa_column=Column(String(16), primary_key=True))
    value: str = Field(sa_column=Column(String(100), primary_key=True))
    count: int = Field(sa_column=Column(BigIntId, nullable=False))


@dataclass
class _Pending:
    """Counts this process has seen but not yet written, and the table as last read."""

    values: Counter[tuple[str, str]] = field(default_factory=Counter)
    stored: list[tuple[str, str, int]] = field(default_factory=list)
    children: int = 0
    new_children: int = 0


_pending = _Pending()


def note(features: Features, *, new_child: bool) -> None:
    """Count a record that intake has just resolved: in the model in force at once,
    in the shared table at the next `sync`."""
    values = TermFrequencies.values_of(features)
    m = model_store.current()
    for name, value in values:
        m.term_frequencies.counts[name][value] += 1
        m.term_frequencies.totals[name] += 1
        _pending.values[(name, value[:100])] += 1
    if new_child:
        _pending.new_children += 1
        m.set_population(_pending.children + _pending.new_children)


def apply(m: MatchModel) -> None:
    """Put the shared counts (and this process's unwritten ones) into a model, e.g. a
    model just loaded by `model_store.refresh`."""
    rows = [*_pending.stored, *((f, v, n) for (f, v), n in _pending.values.items())]
    m.term_frequencies.load(rows)
    m.set_population(_pending.children + _pending.new_children)


def _upsert(session: AsyncSession, rows: list[dict[str, object]]) -> Any:
    table = MatchFrequency.__table__  # type: ignore[attr-defined]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=["field", "value"], set_={"count": table.c.count + stmt.excluded.count}
    )


async def write_pending(session: AsyncSession) -> int:
    """Add this process's unwritten counts to the table; returns how many values."""
    taken = sorted(_pending.values.items())
    _pending.values = Counter()
    if not taken:
        return 0
    for start in range(0, len(taken), RECOUNT_BATCH):
        chunk = taken[start : start + RECOUNT_BATCH]
        rows: list[dict[str, object]] = [
            {"field": f, "value": v, "count": n} for (f, v), n in chunk
        ]
        await session.execute(_upsert(session, rows))
    return len(taken)


async def read(session: AsyncSession) -> None:
    """Read the shared counts and the number of children known."""
    rows = (
        await session.execute(
            select(col(MatchFrequency.field), col(MatchFrequency.value), col(MatchFrequency.count))
        )
    ).all()
    _pending.stored = [(f, v, int(n)) for f, v, n in rows]
    _pending.children = int(
        await session.scalar(
            select(func.count()).select_from(Child).where(col(Child.merged_into).is_(None))
        )
        or 0
    )
    _pending.new_children = 0


async def sync(db: Database) -> None:
    """Write this process's counts, read everyone's, and put them in the model in
    force (called by the background loop that follows the match model)."""
    async with db.session() as session:
        await write_pending(session)
    async with db.session() as session:
        await read(session)
    apply(model_store.current())


async def recount(db: Database) -> int:
    """Rebuild the table from every stored record; returns the records counted."""
    counts: Counter[tuple[str, str]] = Counter()
    after, done = "", 0
    while True:
        async with db.session() as session:
            rows = (
                (
                    await session.execute(
                        select(ChildRecord)
                        .where(col(ChildRecord.id) > after)
                        .order_by(col(ChildRecord.id))
                        .limit(RECOUNT_BATCH)
                    )
                )
                .scalars()
                .all()
            )
        if not rows:
            break
        for rec in rows:
            for name, value in TermFrequencies.values_of(features_of(match_values(rec))):
                counts[(name, value[:100])] += 1
        after, done = rows[-1].id, done + len(rows)
    async with db.session() as session:
        await session.execute(delete(MatchFrequency))
        items = sorted(counts.items())
        for start in range(0, len(items), RECOUNT_BATCH):
            session.add_all(
                MatchFrequency(field=f, value=v, count=n)
                for (f, v), n in items[start : start + RECOUNT_BATCH]
            )
            await session.flush()
    _pending.values = Counter()
    await sync(db)
    return done


def reset() -> None:
    """Forget every count (the database was emptied: tests)."""
    _pending.values, _pending.stored = Counter(), []
    _pending.children = _pending.new_children = 0
    apply(model_store.current())


def counted(rows: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """(field, value) -> count, for tests and reports."""
    return {(f, v): n for f, v, n in rows}
