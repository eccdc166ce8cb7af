"""The audit hash chain: sealed after commit, and tamper-evident."""

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import delete, select, update

from aggregator.audit.chain import seal_pending, verify_chain
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, record
from aggregator.core.db import Database
from tests import factories as f
from tests.tamper import tamper


async def _events(db: Database, n: int) -> None:
    for i in range(n):
        async with db.session() as session:
            record(
                session, None, AuditEntry(action="test.event", purpose="testing", object_id=str(i))
            )


async def _sealed(db: Database) -> list[AuditEvent]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all())


async def test_chain_of_real_requests_verifies(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    await asyncio.gather(
        *(
            client.post("/api/v1/concerns", json=f.submission(f"R-{i}"), headers=f.auth(school))
            for i in range(10)
        )
    )
    async with db.session() as session:
        written = len((await session.scalars(select(AuditEvent))).all())
    assert written >= 10  # a create (and a link) per concern
    assert await seal_pending(db) == written
    assert await seal_pending(db) == 0
    result = await verify_chain(db)
    assert result.ok and result.checked == written, result.describe()
    seqs = [e.seq for e in await _sealed(db)]
    assert seqs == list(range(1, written + 1))


async def test_sealing_concurrently_never_forks_the_chain(db: Database) -> None:
    await _events(db, 30)
    await asyncio.gather(*(seal_pending(db) for _ in range(4)))
    assert (await verify_chain(db)).ok
    assert [e.seq for e in await _sealed(db)] == list(range(1, 31))


async def test_detects_an_edited_event(db: Database) -> None:
    await _events(db, 5)
    await seal_pending(db)
    victim = (await _sealed(db))[2]
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(outcome="denied")
        )
    result = await verify_chain(db)
    assert not result.ok
    assert result.event_id == victim.id and "altered" in (result.problem or "")


async def test_detects_a_deleted_event(db: Database) -> None:
    await _events(db, 5)
    await seal_pending(db)
    events = await _sealed(db)
    async with tamper(db) as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    result = await verify_chain(db)
    assert not result.ok
    assert result.event_id == events[2].id and "removed" in (result.problem or "")


async def test_detects_an_inserted_event(db: Database) -> None:
    await _events(db, 5)
    await seal_pending(db)
    events = await _sealed(db)
    # A forger without the key shifts later events up and slots one in at seq 3.
    async with tamper(db) as session:
        for e in reversed(events[2:]):
            await session.execute(
                update(AuditEvent).where(AuditEvent.id == e.id).values(seq=(e.seq or 0) + 1)
            )
        session.add(
            AuditEvent(
                action="concern.read",
                purpose="safeguarding",
                outcome="ok",
                seq=3,
                prev_hash=events[1].hash,
                hash="f" * 64,
            )
        )
    result = await verify_chain(db)
    assert not result.ok
    assert result.seq == 3 and "inserted" in (result.problem or "")


async def test_detects_an_old_unsealed_event(db: Database) -> None:
    await _events(db, 2)
    await seal_pending(db)
    async with db.session() as session:
        session.add(
            AuditEvent(
                occurred_at=datetime(2020, 1, 1, tzinfo=UTC),
                action="concern.read",
                purpose="x",
                outcome="ok",
            )
        )
    result = await verify_chain(db)
    assert not result.ok and "inserted" in (result.problem or "")


async def test_admin_can_verify_over_the_api(client: httpx.AsyncClient, db: Database) -> None:
    admin = await f.person(db, "root@hub.example", "admin")
    await _events(db, 3)
    r = await client.get("/api/v1/audit/verify", headers=f.auth(admin))
    assert r.status_code == 200 and r.json()["ok"] is True
    events = (
        await client.get("/api/v1/audit/events?action=test.event", headers=f.auth(admin))
    ).json()
    assert len(events) == 3
