"""Two real service processes on one PostgreSQL: one acts, the other takes over.

`aggregator serve` (scheduler in-process, as in the quick start) and `aggregator
scheduler` (as in production) run side by side with a 2-second interval. Exactly
one alert and one notification result; after `kill -9` of the lease holder the
other process takes the lease within one interval and delivers the next alert.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aggregator.core.db import Database
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal
from alerts.models import Alert, AlertNotification, AlertSubscription, SchedulerLease
from tests.alerts.helpers import World
from tests.conftest import TEST_AUDIT_KEY

pytestmark = pytest.mark.slow
INTERVAL = 2.0


class Hooks(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.ids: list[str] = []
        super().__init__(("127.0.0.1", 0), _Hook)


class _Hook(BaseHTTPRequestHandler):
    server: Hooks

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.ids.append(self.headers["X-Aggregator-Delivery"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AGGREGATOR_DATABASE_URL": url,
        "AGGREGATOR_ENVIRONMENT": "test",
        "AGGREGATOR_AUDIT_KEY": TEST_AUDIT_KEY,
        "AGGREGATOR_SWEEP_INTERVAL_SECONDS": str(INTERVAL),
        "AGGREGATOR_DELIVERY_INTERVAL_SECONDS": "0.3",
        "AGGREGATOR_WEBHOOK_ALLOW_PRIVATE": "true",
        "AGGREGATOR_BASE_URL": "https://hub.example",
    }
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", *args], env=env, stdout=out, stderr=out
    )


async def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _missing_child(world: World) -> str:
    child = await world.child()
    received = utcnow() - timedelta(minutes=1)
    for days in (1, 5):
        await world.concern(
            child,
            "Police",
            "missing",
            date.today() - timedelta(days=days),
            kind="police",
            received=received,
        )
    return child


async def _rows(db: Database) -> tuple[list[Alert], list[AlertNotification], SchedulerLease | None]:
    async with db.session() as s:
        alerts = list((await s.scalars(select(Alert))).all())
        notes = list((await s.scalars(select(AlertNotification))).all())
        lease = await s.scalar(  # the current term of the lease
            select(SchedulerLease)
            .where(SchedulerLease.name == "alerts")  # type: ignore[arg-type]
            .order_by(SchedulerLease.epoch.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    return alerts, notes, lease


async def test_two_processes_one_alert_one_notification_and_takeover_after_kill(
    world: World, hooks: Hooks, tmp_path: Path
) -> None:
    db = world.db
    if db.dialect != "postgresql":
        pytest.skip("several processes are proven on PostgreSQL")
    async with db.session() as s:
        lead = Principal(kind="person", name="lead@hub.example", role="lead")
        s.add(lead)
        await s.flush()
        s.add(
            AlertSubscription(
                principal_id=lead.id,
                channel="webhook",
                target=f"http://127.0.0.1:{hooks.server_address[1]}/hook",
                secret="whsec_test",
            )
        )
    await _missing_child(world)
    url = db.settings.database_url
    procs = {
        "serve": _start(["serve", "--port", str(_free_port())], url, tmp_path / "serve.log"),
        "scheduler": _start(["scheduler"], url, tmp_path / "scheduler.log"),
    }
    try:

        async def delivered() -> bool:
            _, notes, _ = await _rows(db)
            return bool(notes) and all(n.state == "delivered" for n in notes)

        await _wait(delivered, 40, "the first notification")
        await asyncio.sleep(2 * INTERVAL)  # both processes have had time to sweep again
        alerts, notes, lease = await _rows(db)
        assert len(alerts) == 1 and len(notes) == 1
        assert len(set(hooks.ids)) == 1
        assert lease is not None

        pids = {p.pid: name for name, p in procs.items()}
        holder_pid = int(lease.holder.split(":")[1])
        assert holder_pid in pids
        victim = procs.pop(pids[holder_pid])
        (survivor,) = procs.values()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(5)
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            _, _, lease = await _rows(db)
            return lease is not None and int(lease.holder.split(":")[1]) == survivor.pid

        await _wait(taken_over, 3 * INTERVAL, "the survivor to take the lease")
        took = time.monotonic() - killed_at
        assert took <= INTERVAL, f"takeover took {took:.2f}s"

        await _missing_child(world)

        async def second() -> bool:
            alerts, notes, _ = await _rows(db)
            return (
                len(alerts) == 2 and len(notes) == 2 and all(n.state == "delivered" for n in notes)
            )

        await _wait(second, 6 * INTERVAL, "the survivor to deliver the second alert")
        assert len(set(hooks.ids)) == 2
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


async def test_a_stopped_holder_loses_the_lease_within_two_intervals_and_writes_nothing_after(
    world: World, hooks: Hooks, tmp_path: Path
) -> None:
    """SIGSTOP of the holder (wherever it is, perhaps inside a transaction), then SIGCONT."""
    db = world.db
    if db.dialect != "postgresql":
        pytest.skip("several processes are proven on PostgreSQL")
    async with db.session() as s:
        lead = Principal(kind="person", name="lead@hub.example", role="lead")
        s.add(lead)
        await s.flush()
        s.add(
            AlertSubscription(
                principal_id=lead.id,
                channel="webhook",
                target=f"http://127.0.0.1:{hooks.server_address[1]}/hook",
                secret="whsec_test",
            )
        )
    url = db.settings.database_url
    procs = [_start(["scheduler"], url, tmp_path / f"scheduler{i}.log") for i in range(2)]
    stopped: subprocess.Popen[bytes] | None = None
    try:

        async def holder() -> int | None:
            _, _, lease = await _rows(db)
            if lease is None or lease.expires_at < utcnow():
                return None
            return int(lease.holder.split(":")[1])

        first = await _wait(holder, 30, "a lease holder")
        _, _, term = await _rows(db)
        assert term is not None
        (stopped,) = [p for p in procs if p.pid == first]
        (survivor,) = [p for p in procs if p.pid != first]
        os.kill(stopped.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()

        async def taken_over() -> bool:
            return await holder() == survivor.pid

        await _wait(taken_over, 6 * INTERVAL, "the other scheduler to take the lease")
        took = time.monotonic() - stopped_at
        assert took <= 2 * INTERVAL, f"takeover took {took:.2f}s"

        await _missing_child(world)

        async def delivered() -> bool:
            alerts, notes, _ = await _rows(db)
            return len(alerts) == 1 and len(notes) == 1 and notes[0].state == "delivered"

        await _wait(delivered, 10 * INTERVAL, "the new holder's alert and delivery")
        os.kill(stopped.pid, signal.SIGCONT)
        await asyncio.sleep(3 * INTERVAL)  # the woken process acts on what it believed
        alerts, notes, _ = await _rows(db)
        assert len(alerts) == 1 and len(notes) == 1
        assert len(hooks.ids) == len(set(hooks.ids)) == 1
        # The woken process may take a later term (if the survivor lapsed on this
        # busy machine), never act on its old one.
        _, _, now_term = await _rows(db)
        assert now_term is not None and now_term.epoch > term.epoch
    finally:
        if stopped is not None:
            os.kill(stopped.pid, signal.SIGCONT)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
