"""The intake's hot statements, sent straight to asyncpg on PostgreSQL.

A statement through SQLAlchemy's async session costs about 125 µs of Python on
top of asyncpg's own 20 (bind processing, a cursor, a greenlet switch each way,
result wrapping), and a submission runs a handful of fixed statements. A `Fast`
statement is an ordinary Core statement, compiled once for PostgreSQL and run on
the session's own asyncpg connection, inside the session's transaction, as a
prepared statement that asyncpg caches per connection. Elsewhere (SQLite) it runs
through the session as usual, so both backends run the same statement.

Values are bound as given (JSON values are encoded): SQLAlchemy's bind processors
do not run, so callers pass what the column takes (timezone-aware datetimes).
"""

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pydantic_core import to_json
from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from aggregator.core.deferred import note_touched, pending, take_for_postgresql, write_queued

_PG = PGDialect_asyncpg()
_CONNECTION = "asyncpg_connection"  # (the session transaction, its asyncpg connection)
_HELD = "asyncpg_held"  # SQLAlchemy's adapter of the one connection a held session has


@asynccontextmanager
async def held_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session bound to one pooled connection for as long as it is open (a request).

    Its transaction is begun and ended on the connection itself (`commit_held`,
    `rollback_held`) unless the ORM took part, when SQLAlchemy ends it as usual: a
    request that only runs `Fast` statements and deferred rows (the intake) then
    costs no session transaction, connection checkout per transaction or commit
    bookkeeping (~180 µs of CPU per request together).
    """
    async with engine.connect() as conn:
        adapted = (await conn.get_raw_connection()).dbapi_connection
        session = AsyncSession(bind=conn, expire_on_commit=False)
        session.info[_HELD] = adapted
        try:
            yield session
        finally:
            await rollback_held(session)  # nothing, once committed
            if session.in_transaction() or session.identity_map:
                await session.close()


async def commit_held(session: AsyncSession) -> None:
    """Commit a `held_session`'s work: the ORM's, else the connection's own."""
    await _end_held(session, commit=True)


async def rollback_held(session: AsyncSession) -> None:
    """Roll a `held_session`'s transaction back, whoever began it."""
    await _end_held(session, commit=False)


async def _end_held(session: AsyncSession, *, commit: bool) -> None:
    if session.in_transaction():  # the ORM took part: SQLAlchemy ends the transaction
        await (session.commit() if commit else session.rollback())
    adapted = session.info[_HELD]
    if adapted._transaction is not None:
        end = adapted._transaction.commit if commit else adapted._transaction.rollback
        await adapted._call_and_discard(end)


async def pg_connection(session: AsyncSession) -> Any | None:
    """The session's asyncpg connection with its transaction begun, or None off
    PostgreSQL. Rows queued with `defer` are written first, as before any other
    statement of the session, so what the caller reads includes them."""
    # Finding the connection through the session costs two greenlet switches (~60 µs);
    # within one transaction of the session it is always the same connection.
    cached = session.info.get(_CONNECTION)
    held = session.info.get(_HELD)
    if held is not None:  # one connection throughout; begin its transaction if need be
        if held._transaction is None:
            await held._start_transaction()
        pg = held._connection
    elif (
        cached is not None
        and (transaction := session.sync_session.get_transaction()) is not None
        and cached[0] is transaction
    ):
        pg = cached[1]
    else:
        conn = await session.connection()
        if conn.dialect.name != "postgresql":
            return None
        adapted: Any = (await conn.get_raw_connection()).dbapi_connection
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its first statement;
        # a statement sent around it must begin the transaction the same way.
        if adapted._transaction is None:
            await adapted._start_transaction()
        pg = adapted._connection
        session.info[_CONNECTION] = (session.sync_session.get_transaction(), pg)
    queued = take_for_postgresql(session)
    if queued is not None:
        note_touched(session, await pg.fetchval(queued[0], *queued[1]))
    return pg


async def write_deferred(session: AsyncSession) -> None:
    """Write the rows queued with `defer` now (before a commit, say): on PostgreSQL
    straight through asyncpg, elsewhere through SQLAlchemy."""
    if pending(session) and await pg_connection(session) is None:
        await session.run_sync(write_queued)


async def commit_now(session: AsyncSession) -> None:
    """Write the queued rows and commit in the middle of a request's unit of work
    (held or not), for what parallel requests must see at once (a sign-in's
    reserved attempt); the unit of work goes on in a new transaction."""
    await write_deferred(session)
    await (commit_held(session) if _HELD in session.info else session.commit())


class Fast:
    """A Core statement run on asyncpg directly on PostgreSQL (see the module).

    `pg` is the PostgreSQL form when it must differ (an array parameter instead of
    an expanding IN list); otherwise the one statement serves both backends.
    """

    def __init__(self, statement: Executable, pg: Executable | None = None) -> None:
        self.statement = statement
        source: Any = pg if pg is not None else statement  # Core statements compile
        compiled = source.compile(dialect=_PG)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self.constants = compiled.params  # the statement's own literals, bound too
        self.json = {n for n in self.names if isinstance(compiled.binds[n].type, JSON)}

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name in self.names:
            value = params[name] if name in params else self.constants[name]
            if name in self.json and value is not None:  # asyncpg takes JSON as text
                value = to_json(value, fallback=str).decode()
            args.append(value)
        return args

    async def all(self, session: AsyncSession, **params: Any) -> Sequence[Sequence[Any]]:
        """Every row, each indexable like a tuple."""
        pg = await pg_connection(session)
        if pg is not None:
            rows: Sequence[Sequence[Any]] = await pg.fetch(self.sql, *self._args(params))
            return rows
        return (await session.execute(self.statement, params)).all()

    async def first(self, session: AsyncSession, **params: Any) -> Any | None:
        """The first row (a mapping as well as a sequence), or None."""
        pg = await pg_connection(session)
        if pg is not None:
            return await pg.fetchrow(self.sql, *self._args(params))
        return (await session.execute(self.statement, params)).first()
