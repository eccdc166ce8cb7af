"""Deferred rows: written in one go before the next statement or the commit."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, func, select

from aggregator.audit.models import AuditEvent
from aggregator.children.models import BlockingKey, Child
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.db import Database
from aggregator.core.deferred import defer
from aggregator.core.rows import insert_all, new_row
from tests import factories as f


async def _concern(db: Database, agency_id: str) -> str:
    concern = new_row(
        Concern,
        agency_id=agency_id,
        external_ref="D-1",
        body_hash="0" * 64,
        category="neglect",
        severity=2,
        observed_at=date(2026, 1, 5),
        summary="s",
    )
    async with db.session() as session:
        await insert_all(session, [concern])
    return concern.id


def _rows(concern_id: str, agency_id: str) -> tuple[Child, ChildRecord, list[BlockingKey]]:
    # The child record is queued *before* the child it refers to: order inside the
    # batch must not matter on PostgreSQL (foreign keys are checked per statement).
    child = new_row(Child, provisional=True)
    record = new_row(
        ChildRecord,
        concern_id=concern_id,
        agency_id=agency_id,
        given_name="Ava",
        other_names=["Rose"],
        date_of_birth="2020-02-03",
        independently_mobile=False,
        child_id=child.id,
        link_probability=0.5,
    )
    keys = [new_row(BlockingKey, key=k, child_record_id=record.id) for k in ("a", "b")]
    return child, record, keys


async def rows_for_a_new_concern(db: Database) -> tuple[Child, ChildRecord, list[BlockingKey]]:
    """A stored concern, and the child, record and keys to queue for it."""
    agency = (await f.agency(db)).principal
    return _rows(await _concern(db, agency.id), agency.id)


async def test_rows_are_written_at_commit_with_their_types(db: Database) -> None:
    agency = (await f.agency(db)).principal
    concern_id = await _concern(db, agency.id)
    child, record, keys = _rows(concern_id, agency.id)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            if db.dialect == "postgresql":
                defer(session, [record, *keys, child])
            else:  # SQLite checks foreign keys row by row: parents first
                defer(session, [child, record, *keys])
            defer(session, [new_row(AuditEvent, action="t", purpose="p", outcome="ok")])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    inserts = [s for s in statements if "INSERT" in s.upper()]
    assert len(inserts) == (1 if db.dialect == "postgresql" else 4)

    async with db.session() as session:
        stored = await session.get(ChildRecord, record.id)
        assert stored is not None
        assert stored.other_names == ["Rose"]
        assert stored.independently_mobile is False
        assert stored.link_probability == 0.5
        assert stored.created_at.tzinfo is not None
        assert abs((stored.created_at - datetime.now(UTC)).total_seconds()) < 60
        assert (await session.get(Child, child.id)) is not None
        n_keys = await session.scalar(select(func.count()).select_from(BlockingKey))
        assert n_keys == 2
        audit = (await session.scalars(select(AuditEvent))).one()
        assert audit.detail == {}


async def test_a_reader_in_the_same_transaction_sees_queued_rows(db: Database) -> None:
    child, record, keys = await rows_for_a_new_concern(db)
    async with db.session() as session:
        defer(session, [child, record, *keys])
        found = await session.scalar(
            select(func.count()).select_from(BlockingKey).where(BlockingKey.key == "a")
        )
        assert found == 1


async def test_queued_rows_go_with_a_rollback(db: Database) -> None:
    child, record, keys = await rows_for_a_new_concern(db)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            defer(session, [child, record, *keys])
            raise RuntimeError("the request failed")
    async with db.session() as session:
        assert await session.get(ChildRecord, record.id) is None


async def test_several_rows_of_a_table_keep_their_types_and_json(db: Database) -> None:
    """Tables with several rows go as one JSON document on PostgreSQL: timestamps,
    nested JSON, NULLs, quotes and non-ASCII text come back as they went."""
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    events = [
        new_row(
            AuditEvent,
            occurred_at=when,
            action="t",
            purpose="p",
            outcome="ok",
            object_id='Zoë "O\'Brien" \\ 🙂',
            detail={"ids": ["x", "y"], "n": 3, "p": 0.25, "nested": {"none": None}},
        ),
        new_row(AuditEvent, action="u", purpose="p", outcome="ok", object_id=None, detail={}),
    ]
    async with db.session() as session:
        defer(session, events)
    async with db.session() as session:
        stored = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert [e.action for e in stored] == ["t", "u"]
    assert stored[0].occurred_at == when
    assert stored[0].object_id == 'Zoë "O\'Brien" \\ 🙂'
    assert stored[0].detail == {"ids": ["x", "y"], "n": 3, "p": 0.25, "nested": {"none": None}}
    assert stored[1].object_id is None and stored[1].detail == {}
