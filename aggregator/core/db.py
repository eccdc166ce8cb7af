"""Engine and session plumbing shared by the API, the CLI and scheduled jobs."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aggregator.core.settings import Settings

# These libraries log SQL *with its parameters* (names, NHS numbers) at DEBUG or
# INFO. Personal data must never reach a log, whatever level an operator sets.
for _noisy in ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, a busy timeout, and BEGIN IMMEDIATE.

    Without BEGIN IMMEDIATE two transactions that read and then write deadlock on
    the lock upgrade and one fails at once with "database is locked"; taking the
    write lock up front lets the busy timeout queue them instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    """One engine per process; SQLite gets its pragmas, PostgreSQL a sized pool."""
    # hide_parameters: a DBAPIError's text otherwise quotes the statement's
    # parameters (names, NHS numbers) into every traceback and error message.
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url, connect_args={"timeout": 30}, hide_parameters=True
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    server_settings = (
        {"plan_cache_mode": "force_generic_plan"} if settings.database_generic_plans else {}
    )
    return create_async_engine(
        settings.database_url,
        connect_args={"server_settings": server_settings},
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        # Recycle rather than ping: a ping on every checkout is a round trip per request.
        pool_recycle=1800,
        hide_parameters=True,
    )


class Database:
    """Holds the engine and session factory so the app, CLI and jobs share one shape."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block succeeds, rolls back otherwise."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
