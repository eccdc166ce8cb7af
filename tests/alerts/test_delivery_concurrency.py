"""Concurrent delivery to real local receivers: a slow or dead one holds back no other,
a stop settles what was sent and releases the rest, two workers never share a row."""

import asyncio
from collections import Counter
from typing import Any

import pytest
from prometheus_client import REGISTRY

from aggregator.core.db import Database
from alerts.outbox import Deliverer
from tests.alerts.helpers import World
from tests.alerts.receivers import BlackHole, Receiver, outbox, rows, serve, wait_for


def tune(db: Database, **values: Any) -> None:
    db.settings = db.settings.model_copy(update=values)


def delivered_total() -> float:
    return (
        REGISTRY.get_sample_value("aggregator_outbox_delivered_total", {"channel": "webhook"}) or 0
    )


async def test_a_dead_and_a_slow_receiver_hold_back_no_other(
    world: World, receivers: list[Receiver]
) -> None:
    db = world.db
    tune(db, webhook_timeout_seconds=5.0, delivery_per_receiver=2, delivery_poll_seconds=0.05)
    healthy = [serve(receivers) for _ in range(3)]
    slow = serve(receivers, delay=1.0)
    dead = BlackHole()
    try:
        ids = await outbox(world, [r.url for r in healthy] + [slow.url, dead.url], 15)
        before = delivered_total()
        deliverer = Deliverer(db, db.settings)
        deliverer.start()
        await wait_for(lambda: all(len(r.done) == 15 for r in healthy), 30, "healthy receivers")
        # Every healthy delivery is done before the hanging receiver's first attempt
        # could even time out, and while the slow one has done only a few of its 15.
        state = await rows(db)
        assert all(state[i].attempts == 0 for i in ids[dead.url])
        assert len(slow.done) < 15
        assert len(dead.conns) <= 2  # at most its own per-receiver bound is waiting on it
        for r in healthy:
            assert sorted(r.done) == sorted(ids[r.url])
        stats = await deliverer.stop(grace=0.2)
    finally:
        dead.close()
    state = await rows(db)
    healthy_ids = [i for r in healthy for i in ids[r.url]]
    assert [(state[i].state, state[i].attempts) for i in healthy_ids] == [("delivered", 1)] * 45
    assert all(n.claimed_by is None and n.claimed_until is None for n in state.values())
    assert all(state[i].state == "pending" for i in ids[dead.url])
    assert stats.delivered >= 45 and delivered_total() - before == stats.delivered


async def test_a_stop_marks_sent_deliveries_and_releases_the_rest(
    world: World, receivers: list[Receiver]
) -> None:
    db = world.db
    tune(db, delivery_per_receiver=3, delivery_poll_seconds=0.05, delivery_stop_grace_seconds=5)
    hook = serve(receivers, delay=0.6)
    ids = (await outbox(world, [hook.url], 12))[hook.url]
    deliverer = Deliverer(db, db.settings)
    deliverer.start()
    await wait_for(lambda: len(hook.started) >= 3, 10, "three requests under way")
    await deliverer.stop()  # like SIGTERM: requests under way finish, the rest go back
    sent = set(hook.done)
    assert len(sent) == len(hook.started) >= 3  # nothing was cut short within the grace
    state = await rows(db)
    assert {i for i in ids if state[i].state == "delivered"} == sent
    for i in set(ids) - sent:
        n = state[i]
        assert n.state == "pending" and n.attempts == 0
        assert n.claimed_by is None and n.claimed_until is None  # free at once
    # The restart (or another process) delivers the rest; nothing sent goes again.
    again = Deliverer(db, db.settings)
    again.start()
    await wait_for(lambda: len(hook.done) == 12, 30, "the rest after the restart")
    await again.stop()
    assert Counter(hook.done) == Counter(ids)
    assert all(n.state == "delivered" for n in (await rows(db)).values())


async def test_a_request_cut_short_at_stop_is_released_for_a_resend(
    world: World, receivers: list[Receiver]
) -> None:
    db = world.db
    tune(db, delivery_poll_seconds=0.05)
    hook = serve(receivers, delay=1.5)
    (n_id,) = (await outbox(world, [hook.url], 1))[hook.url]
    deliverer = Deliverer(db, db.settings)
    deliverer.start()
    await wait_for(lambda: len(hook.started) == 1, 10, "the request")
    await deliverer.stop(grace=0.1)
    n = (await rows(db))[n_id]
    # Its outcome is unknown: free for another attempt under the same delivery id.
    assert n.state == "pending" and n.claimed_by is None and n.claimed_until is None


async def test_two_workers_never_send_the_same_row(world: World, receivers: list[Receiver]) -> None:
    db = world.db
    if db.dialect != "postgresql":
        pytest.skip("concurrent claimers are proven on PostgreSQL")
    tune(db, delivery_per_receiver=8, delivery_batch=25, delivery_poll_seconds=0.02)
    hooks = [serve(receivers, delay=0.005) for _ in range(2)]
    ids = await outbox(world, [h.url for h in hooks], 150)
    other = Database(db.settings)
    workers = [Deliverer(db, db.settings), Deliverer(other, db.settings)]
    try:
        for w in workers:
            w.start()
        await wait_for(lambda: sum(len(h.done) for h in hooks) >= 300, 60, "every delivery")
        await asyncio.sleep(0.3)  # any duplicate would arrive now
        stats = [await w.stop() for w in workers]
    finally:
        await other.dispose()
    received = Counter(d for h in hooks for d in h.done)
    assert received == Counter(i for target in ids.values() for i in target)
    assert max(received.values()) == 1
    assert all(s.delivered > 0 for s in stats), "both workers took part"
    assert all(n.state == "delivered" for n in (await rows(db)).values())
