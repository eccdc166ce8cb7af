"""Concurrent delivery to real local receivers: a slow or dead one holds back no other,
a stop settles what was sent and releases the rest, two workers never share a row."""

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from aggregator.core.db import Database
from aggregator.principals.models import Principal
from alerts import webhook
from alerts.models import Alert, AlertNotification, AlertSubscription
from alerts.outbox import Deliverer
from tests.alerts.helpers import World


class Receiver(ThreadingHTTPServer):
    """Answers 204 after `delay` seconds; keeps each delivery id with its start time."""

    daemon_threads = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[tuple[str, float]] = []
        self.done: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        delivery = self.headers[webhook.DELIVERY_HEADER]
        with self.server.lock:
            self.server.started.append((delivery, time.monotonic()))
        time.sleep(self.server.delay)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with self.server.lock:
            self.server.done.append(delivery)

    def log_message(self, *args: Any) -> None:
        pass


class BlackHole:
    """Accepts connections and never answers: a receiver that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(100)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.shutdown()
        r.server_close()


def serve(receivers: list[Receiver], delay: float = 0.0) -> Receiver:
    r = Receiver(delay)
    threading.Thread(target=r.serve_forever, daemon=True).start()
    receivers.append(r)
    return r


async def outbox(world: World, targets: list[str], per_target: int) -> dict[str, list[str]]:
    """`per_target` pending notifications for each target; their ids by target."""
    db = world.db
    child = await world.child()
    out: dict[str, list[str]] = {}
    async with db.session() as s:
        lead = Principal(kind="person", name="lead-delivery@hub.example", role="lead")
        alert = Alert(rule_id="r", child_id=child, severity="red", text="t", rules_version="1")
        s.add_all([lead, alert])
        await s.flush()
        for target in targets:
            sub = AlertSubscription(
                principal_id=lead.id, channel="webhook", target=target, secret="whsec_t"
            )
            s.add(sub)
            await s.flush()
            rows = [
                AlertNotification(
                    alert_id=alert.id,
                    subscription_id=sub.id,
                    event="opened",
                    dedupe_key=f"{sub.id}:{i}",
                    payload={"event": "alert.opened", "alert": {"id": alert.id}},
                )
                for i in range(per_target)
            ]
            s.add_all(rows)
            out[target] = [n.id for n in rows]
    return out


async def rows(db: Database) -> dict[str, AlertNotification]:
    async with db.session() as s:
        return {n.id: n for n in (await s.scalars(select(AlertNotification))).all()}


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


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
