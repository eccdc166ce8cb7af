"""`Fast` statements: asyncpg directly on PostgreSQL, inside the session's transaction."""

import pytest
from sqlalchemy import event, func, literal, select, text

from aggregator.children.models import BlockingKey, Child
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.deferred import defer
from aggregator.core.driver import (
    Fast,
    commit_held,
    held_session,
    rollback_held,
    write_deferred,
)
from aggregator.core.rows import insert_unless_exists, new_row
from tests.conftest import settings_for
from tests.storage.test_deferred_rows import rows_for_a_new_concern

_KEYS_LIKE = Fast(
    select(BlockingKey.key, literal(7))  # a literal is bound from the statement itself
    .where(BlockingKey.key.like("a%"))
    .order_by(BlockingKey.key)
)


class _Statements:
    """Counts the statements that go through SQLAlchemy's cursor."""

    def __init__(self, db: Database) -> None:
        self.db, self.seen = db, list[str]()

    def _count(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        self.seen.append(statement)

    def __enter__(self) -> "_Statements":
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._count)


async def test_a_fast_read_sees_rows_queued_in_its_transaction(db: Database) -> None:
    child, record, keys = await rows_for_a_new_concern(db)
    async with db.session() as session:
        defer(session, [child, record, *keys])
        with _Statements(db) as sent:
            rows = await _KEYS_LIKE.all(session)
            first = await _KEYS_LIKE.first(session)
        assert [tuple(r) for r in rows] == [("a", 7)]
        assert first is not None and tuple(first) == ("a", 7)
        # On PostgreSQL neither the queued rows nor the read went through SQLAlchemy.
        assert (sent.seen == []) == (db.dialect == "postgresql")


async def test_write_deferred_writes_queued_rows_before_the_commit(db: Database) -> None:
    child, record, keys = await rows_for_a_new_concern(db)
    async with db.session() as session:
        defer(session, [child, record, *keys])
        await write_deferred(session)
        count = select(func.count()).select_from(BlockingKey)
        assert await session.scalar(count) == 2
    async with db.session() as session:
        stored = await session.get(ChildRecord, record.id)
        assert stored is not None and stored.other_names == ["Rose"]


async def test_a_fast_write_goes_with_a_rollback(db: Database) -> None:
    child, record, _keys = await rows_for_a_new_concern(db)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            defer(session, [child])
            assert await insert_unless_exists(session, record, ("concern_id",))
            raise RuntimeError("the request failed")
    async with db.session() as session:
        assert await session.get(ChildRecord, record.id) is None
        # and the same insert, committed this time, happens once only
        assert await insert_unless_exists(session, child, ("id",))
        assert await insert_unless_exists(session, record, ("concern_id",))
        again = new_row(ChildRecord, **{**record, "id": "another"})
        assert not await insert_unless_exists(session, again, ("concern_id",))


async def test_one_session_runs_fast_statements_across_its_transactions(db: Database) -> None:
    """The connection found for a transaction is reused within it only: after a
    commit or a rollback the next statement runs in a new transaction of its own
    (a request's session commits, and its failure path writes audit events after)."""
    child, record, keys = await rows_for_a_new_concern(db)
    async with db.sessionmaker() as session:
        assert await insert_unless_exists(session, child, ("id",))
        await session.rollback()
        assert await session.get(ChildRecord, record.id) is None
        assert await insert_unless_exists(session, child, ("id",))  # rolled back: again
        defer(session, [record, *keys])
        await write_deferred(session)
        await session.commit()
        assert [tuple(r) for r in await _KEYS_LIKE.all(session)] == [("a", 7)]
        later = new_row(BlockingKey, key="a-later", child_record_id=record.id)
        assert await insert_unless_exists(session, later, ("key", "child_record_id"))
        await session.rollback()
    async with db.session() as session:
        assert await session.get(ChildRecord, record.id) is not None
        assert [tuple(r) for r in await _KEYS_LIKE.all(session)] == [("a", 7)]


async def test_postgresql_connections_plan_prepared_statements_once(db: Database) -> None:
    """Generic plans by default (`database_generic_plans`); the setting turns it off."""
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    shown = text("SHOW plan_cache_mode")
    async with db.session() as session:
        assert await session.scalar(shown) == "force_generic_plan"
    default = Database(settings_for(db.settings.database_url, database_generic_plans=False))
    try:
        async with default.session() as session:
            assert await session.scalar(shown) == "auto"
    finally:
        await default.dispose()


async def test_a_held_session_commits_on_its_connection_or_through_the_orm(db: Database) -> None:
    """A request's session on PostgreSQL (`held_session`): fast statements and queued
    rows commit without SQLAlchemy's transaction; once the ORM takes part, its commit
    ends the same transaction; a rollback undoes either."""
    if db.dialect != "postgresql":
        pytest.skip("requests hold one connection on PostgreSQL only")
    child, record, keys = await rows_for_a_new_concern(db)
    with pytest.raises(RuntimeError):
        async with held_session(db.engine) as session:
            assert await insert_unless_exists(session, child, ("id",))
            await rollback_held(session)
            raise RuntimeError("the request failed")
    async with db.session() as session:
        assert await session.get(Child, child.id) is None

    async with held_session(db.engine) as session:
        with _Statements(db) as sent:
            assert await insert_unless_exists(session, child, ("id",))
            defer(session, [record, *keys])
            await write_deferred(session)
            await commit_held(session)
        assert sent.seen == [] and not session.in_transaction()
        # the ORM in the same request: its statements share the next transaction
        stored = await session.get(ChildRecord, record.id)
        assert stored is not None
        stored.link_outcome = "review"
        later = new_row(BlockingKey, key="a-later", child_record_id=record.id)
        assert await insert_unless_exists(session, later, ("key", "child_record_id"))
        await commit_held(session)
    async with db.session() as session:
        again = await session.get(ChildRecord, record.id)
        assert again is not None and again.link_outcome == "review"
        assert [tuple(r) for r in await _KEYS_LIKE.all(session)] == [("a", 7), ("a-later", 7)]
