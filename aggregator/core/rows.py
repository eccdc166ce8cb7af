"""Core-level inserts for the intake hot path.

The ORM unit of work costs a flush (and its bookkeeping) per object; a
submission writes a dozen small rows, so the hot path inserts them with plain
INSERT statements built from the same SQLModel instances.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel


def values(obj: SQLModel) -> dict[str, Any]:
    table = obj.__table__  # type: ignore[attr-defined]
    return {c.name: getattr(obj, c.name) for c in table.columns}


async def insert_all(session: AsyncSession, objs: Sequence[SQLModel]) -> None:
    """Insert instances of one model in a single executemany."""
    if objs:
        table = objs[0].__table__  # type: ignore[attr-defined]
        await session.execute(insert(table), [values(o) for o in objs])


async def insert_unless_exists(session: AsyncSession, obj: SQLModel, unique: Sequence[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; False when a row with the same `unique`
    columns exists. Concurrent inserts wait for each other inside the database, so
    exactly one wins without a savepoint round trip."""
    table = obj.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        build(table)
        .values(values(obj))
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(table.primary_key.columns.values()[0])
    )
    return (await session.execute(stmt)).first() is not None
