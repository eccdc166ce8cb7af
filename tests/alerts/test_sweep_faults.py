"""Sweeps under concurrent intake and faults, the lease under a hung holder, the quick path.

Issue 15: a concern committed between two reads of a sweep failed the whole
sweep; one bad child must not stop the others; a holder hung inside a
transaction must not keep the lease; red alerts must not wait for the sweep
interval.
"""

import asyncio
import time
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.core.db import Database
from aggregator.core.types import utcnow
from alerts import engine, service
from alerts.jobs import INCREMENTAL, AlertJobs, SchedulerRunner
from alerts.lease import LeaseLost
from alerts.models import AlertJobState, SchedulerLease, SweepRetry
from tests.alerts.helpers import NOW, World, alerts, days_ago, jobs_at, sweep

INTERVAL = 2.0


def _pg_only(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("concurrent transactions are proven on PostgreSQL")


async def _missing(world: World, child: str, days: int, **kw: Any) -> str:
    return await world.concern(child, "Police", "missing", days_ago(days), kind="police", **kw)


async def test_a_concern_committed_between_the_reads_of_a_sweep_does_not_fail_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen under load: a record and its household key committed by another
    connection after the sweep read the child's records and before it read the keys."""
    db = world.db
    _pg_only(db)
    racing = await world.child()
    await _missing(world, racing, 3, keys=(("address", "addr:racing"),))
    steady = await world.child()
    await _missing(world, steady, 2)
    await _missing(world, steady, 4)

    original = AsyncSession.execute
    committed: list[str] = []

    async def execute(self: AsyncSession, statement: Any, *args: Any, **kw: Any) -> Any:
        sql = str(statement)
        if not committed and "FROM household_key" in sql and "household_key.kind" in sql:
            # Another connection commits a second missing episode, with a new key.
            committed.append(
                await _missing(world, racing, 1, keys=(("adult", "adult:racing-new"),))
            )
        return await original(self, statement, *args, **kw)

    monkeypatch.setattr(AsyncSession, "execute", execute)
    stats = await sweep(db)
    monkeypatch.setattr(AsyncSession, "execute", original)

    assert committed, "the hook never ran between the reads"
    assert stats.failed == 0
    assert [a.rule_id for a in await alerts(db, steady)] == ["missing_exploitation"]
    # The next sweep sees the concern that arrived mid-sweep and opens its alert.
    await sweep(db, full=False)
    (alert,) = [a for a in await alerts(db, racing) if a.rule_id == "missing_exploitation"]
    assert committed[0] in alert.evidence["concern_ids"]


@pytest.mark.parametrize("where", ["rules", "store"])
async def test_a_child_that_cannot_be_evaluated_is_counted_retried_and_stops_no_other(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    db = world.db
    children = [await world.child() for _ in range(5)]
    for child in children:
        await _missing(world, child, 2)
        await _missing(world, child, 6)
    bad = children[2]
    real_evaluate, real_apply = engine.evaluate, service.apply_findings

    def evaluate(rules: Any, facts: Any, *args: Any) -> Any:
        if facts.child_id == bad:
            raise ValueError("facts this rule cannot read")
        return real_evaluate(rules, facts, *args)

    async def apply(session: Any, settings: Any, rules: Any, facts: Any, *a: Any) -> Any:
        if facts.child_id == bad:
            raise ValueError("a row the database refuses")
        return await real_apply(session, settings, rules, facts, *a)

    if where == "rules":
        monkeypatch.setattr(engine, "evaluate", evaluate)
    else:
        monkeypatch.setattr(service, "apply_findings", apply)
    before = REGISTRY.get_sample_value("aggregator_sweep_child_failures_total") or 0.0

    stats = await sweep(db)

    assert stats.failed == 1
    assert REGISTRY.get_sample_value("aggregator_sweep_child_failures_total") == before + 1
    opened = {a.child_id for a in await alerts(db)}
    assert opened == set(children) - {bad}
    async with db.session() as s:
        (retry,) = (await s.scalars(select(SweepRetry))).all()
    assert (retry.child_id, retry.error, retry.failures) == (bad, "ValueError", 1)

    # Still broken: tried again by the next (incremental) sweep, and counted again.
    later = NOW + timedelta(minutes=10)
    assert (await sweep(db, later, full=False)).failed == 1
    async with db.session() as s:
        retry = await s.get(SweepRetry, bad)
        assert retry is not None and retry.failures == 2

    # Mended: the next incremental sweep evaluates it although nothing touched it.
    monkeypatch.setattr(engine, "evaluate", real_evaluate)
    monkeypatch.setattr(service, "apply_findings", real_apply)
    stats = await sweep(db, later + timedelta(minutes=10), full=False)
    assert stats.failed == 0 and stats.opened == 1
    assert {a.child_id for a in await alerts(db)} == set(children)
    async with db.session() as s:
        assert (await s.scalars(select(SweepRetry))).all() == []


def _jobs(db: Database) -> AlertJobs:
    settings = db.settings.model_copy(update={"sweep_interval_seconds": INTERVAL})
    return AlertJobs(db, settings)


async def test_a_holder_hung_inside_a_transaction_loses_the_lease_within_two_intervals(
    world: World,
) -> None:
    """The lease's row is held locked by a transaction that never ends, as by a
    holder stopped (SIGSTOP) between its fence and its commit."""
    db = world.db
    _pg_only(db)
    a, b = _jobs(db), _jobs(db)
    await a.heartbeat()
    assert a.lease.held()
    await b.heartbeat()
    assert not b.lease.held()

    dsn = db.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    locker = await asyncpg.connect(dsn)
    try:
        await locker.execute("BEGIN")
        await locker.execute("SELECT * FROM alert_scheduler_lease WHERE name = 'alerts' FOR UPDATE")
        hung_at = time.monotonic()
        slowest = 0.0
        while not b.lease.held():  # b's scheduler beats every eighth of an interval
            beat = time.monotonic()
            await b.heartbeat()
            slowest = max(slowest, time.monotonic() - beat)
            assert time.monotonic() - hung_at < 3 * INTERVAL, "no takeover"
            await asyncio.sleep(INTERVAL / 8)
        took = time.monotonic() - hung_at
        assert took <= 2 * INTERVAL, f"takeover took {took:.2f}s"
        assert slowest < INTERVAL / 2, f"a heartbeat waited {slowest:.2f}s on the lock"

        # The old holder wakes up: its writes are refused, locked row or not.
        with pytest.raises(LeaseLost):
            async with a._unit() as s:
                s.add(AlertJobState(name="stale-write-locked"))
    finally:
        await locker.close()
    with pytest.raises(LeaseLost):
        async with a._unit() as s:
            s.add(AlertJobState(name="stale-write"))
    await b.heartbeat()  # b's scheduler beats on
    await a.heartbeat()
    assert not a.lease.held() and b.lease.held()
    async with b._unit() as s:  # the new holder's writes go through
        s.add(AlertJobState(name="new-holder-write"))
    async with db.session() as s:
        names = set((await s.scalars(select(AlertJobState.name))).all())  # type: ignore[call-overload]
        terms = (await s.scalars(select(SchedulerLease).order_by(SchedulerLease.epoch))).all()  # type: ignore[arg-type]
    assert names == {"new-holder-write"}
    assert [t.holder for t in terms][:2] == [a.lease.holder, b.lease.holder]
    assert {t.holder for t in terms} == {a.lease.holder, b.lease.holder}


async def test_a_stale_holder_cannot_write_after_another_took_over(world: World) -> None:
    """No lock anywhere: the holder was merely slow (a long pause outside a transaction)."""
    db = world.db
    a, b = _jobs(db), _jobs(db)
    await a.heartbeat()
    assert a.lease.held()
    async with db.session() as s:  # a's term lapsed long ago
        term = await s.get(SchedulerLease, ("alerts", a.lease.epoch))
        assert term is not None
        term.expires_at = utcnow() - timedelta(minutes=5)
    await b.heartbeat()
    assert b.lease.held() and b.lease.epoch == a.lease.epoch + 1
    assert a.lease.held()  # a has not noticed yet ...
    with pytest.raises(LeaseLost):  # ... but the fence has
        async with a._unit() as s:
            s.add(AlertJobState(name="stale"))
    async with db.session() as s:
        assert await s.get(AlertJobState, "stale") is None
    assert not a.lease.held()


async def test_a_lone_holder_whose_term_lapsed_takes_the_next_term(world: World) -> None:
    """One process (the quick start), paused for longer than its term: it must come back."""
    db = world.db
    a = _jobs(db)
    await a.heartbeat()
    old = a.lease.epoch
    async with db.session() as s:
        term = await s.get(SchedulerLease, ("alerts", old))
        assert term is not None
        term.expires_at = utcnow() - timedelta(minutes=5)
    await a.heartbeat()
    assert a.lease.held() and a.lease.epoch == old + 1
    async with a._unit() as s:
        s.add(AlertJobState(name="after-the-pause"))


async def test_a_live_holder_keeps_the_lease_and_a_released_one_passes_at_once(
    world: World,
) -> None:
    db = world.db
    a, b = _jobs(db), _jobs(db)
    for _ in range(3):
        await a.heartbeat()
        await b.heartbeat()
        await asyncio.sleep(INTERVAL / 8)
    assert a.lease.held() and not b.lease.held()
    await a.lease.release()
    await b.heartbeat()
    assert b.lease.held()


async def test_the_quick_path_opens_a_red_alert_long_before_the_sweep_interval(
    world: World,
) -> None:
    db = world.db
    settings = db.settings.model_copy(
        update={"sweep_interval_seconds": 600.0, "sweep_quick_interval_seconds": 0.2}
    )
    runner = SchedulerRunner(db, settings)
    runner.start()
    try:
        for _ in range(100):  # the lease, then the first (full) sweep
            async with db.session() as s:
                first = await s.get(AlertJobState, INCREMENTAL)
            if first is not None:
                break
            await asyncio.sleep(0.1)
        assert first is not None and first.finished_at is not None
        child = await world.child()
        received = utcnow()
        for days in (1, 5):
            await world.concern(
                child,
                "Police",
                "missing",
                date.today() - timedelta(days=days),
                kind="police",
                received=received,
            )
        committed = time.monotonic()
        found: list[Any] = []
        while not found and time.monotonic() - committed < 20:
            found = await alerts(db, child)
            await asyncio.sleep(0.1)
        took = time.monotonic() - committed
        assert [a.severity for a in found] == ["red"], f"no alert after {took:.1f}s"
        assert took < 10
        async with db.session() as s:
            state = await s.get(AlertJobState, INCREMENTAL)
        assert state is not None and state.finished_at == first.finished_at, (
            "the periodic sweep ran; the test proves nothing"
        )
    finally:
        await runner.stop()


async def test_a_failing_whole_sweep_is_counted_and_keeps_its_watermark(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = world.db
    child = await world.child()
    await _missing(world, child, 2)
    await sweep(db)
    async with db.session() as s:
        mark = (await s.get(AlertJobState, INCREMENTAL)).watermark  # type: ignore[union-attr]

    async def down(*args: Any, **kw: Any) -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr("alerts.repository.agency_types", down)
    before = REGISTRY.get_sample_value("aggregator_sweep_failures_total", {"kind": "incremental"})
    with pytest.raises(OSError):
        await jobs_at(db, NOW + timedelta(hours=1)).sweep()
    after = REGISTRY.get_sample_value("aggregator_sweep_failures_total", {"kind": "incremental"})
    assert after == (before or 0) + 1
    async with db.session() as s:
        assert (await s.get(AlertJobState, INCREMENTAL)).watermark == mark  # type: ignore[union-attr]


async def test_an_incremental_sweep_raises_the_household_alert_of_an_untouched_sibling(
    world: World,
) -> None:
    """The sibling is evaluated for the household rules only, yet still gets its alert."""
    db = world.db
    home = (("address", "addr:one-household"),)
    older, younger = await world.child(), await world.child()
    await world.concern(older, "School", "neglect", days_ago(5), keys=home)
    await sweep(db)
    assert await alerts(db, older) == []
    later = NOW + timedelta(minutes=10)
    await world.concern(
        younger,
        "GP",
        "neglect",
        days_ago(1),
        kind="health",
        received=NOW + timedelta(minutes=1),
        keys=home,
    )
    stats = await sweep(db, later, full=False)
    assert stats.failed == 0
    assert {a.rule_id for a in await alerts(db, older)} == {"household"}
    assert {a.rule_id for a in await alerts(db, younger)} == {"household"}
