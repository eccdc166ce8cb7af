"""Tampering with the audit trail as a database writer could, past its guard.

Migration 0008 refuses UPDATE and DELETE of sealed events. Tests that play a
writer who got past that (the tables' owner on PostgreSQL, whoever can write the
file on SQLite) lift the guard for one transaction, as such a writer could.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aggregator.core.db import Database


@asynccontextmanager
async def guard_lifted(conn: AsyncConnection) -> AsyncIterator[None]:
    """Within the connection's transaction, audit_event's triggers do not fire."""
    if conn.dialect.name == "postgresql":
        # A superuser's switch (the tests connect as one); the service role has no such power.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        return
    triggers = (
        await conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'audit_event'"
            )
        )
    ).all()
    for name, _ in triggers:
        await conn.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _, ddl in triggers:
        await conn.execute(text(ddl))


@asynccontextmanager
async def tamper(db: Database) -> AsyncIterator[AsyncSession]:
    """A session whose changes to audit_event the guard lets through; commits at the end."""
    async with db.session() as session, guard_lifted(await session.connection()):
        yield session
        await session.flush()
