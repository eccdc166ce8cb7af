"""SIGTERM to a real `aggregator scheduler` process: what was sent is marked delivered
before it exits, what was claimed but not sent is free at once, nothing is sent twice."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.alerts.helpers import World
from tests.alerts.receivers import Receiver, outbox, rows, serve, wait_for
from tests.conftest import TEST_AUDIT_KEY

pytestmark = pytest.mark.slow


def _scheduler(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AGGREGATOR_DATABASE_URL": url,
        "AGGREGATOR_ENVIRONMENT": "test",
        "AGGREGATOR_AUDIT_KEY": TEST_AUDIT_KEY,
        "AGGREGATOR_SWEEP_INTERVAL_SECONDS": "2",
        "AGGREGATOR_WEBHOOK_ALLOW_PRIVATE": "true",
        "AGGREGATOR_DELIVERY_PER_RECEIVER": "2",
        "AGGREGATOR_DELIVERY_POLL_SECONDS": "0.05",
    }
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "scheduler"], env=env, stdout=out, stderr=out
    )


async def test_sigterm_settles_sent_deliveries_and_releases_the_rest(
    world: World, receivers: list[Receiver], tmp_path: Path
) -> None:
    db = world.db
    if db.dialect != "postgresql":
        pytest.skip("processes are proven on PostgreSQL")
    hook = serve(receivers, delay=1.0)
    ids = (await outbox(world, [hook.url], 8))[hook.url]
    proc = _scheduler(db.settings.database_url, tmp_path / "first.log")
    try:
        await wait_for(lambda: len(hook.started) >= 2, 30, "two requests under way")
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, (tmp_path / "first.log").read_text()
    assert time.monotonic() - stopped < 10
    sent = set(hook.done)
    assert len(sent) == len(hook.started) >= 2
    state = await rows(db)
    assert {i for i in ids if state[i].state == "delivered"} == sent
    for i in set(ids) - sent:
        assert state[i].state == "pending" and state[i].attempts == 0
        assert state[i].claimed_by is None and state[i].claimed_until is None

    # The restart sends only what was not sent, each once.
    again = _scheduler(db.settings.database_url, tmp_path / "second.log")
    try:
        await wait_for(lambda: len(hook.done) == len(ids), 60, "the rest after the restart")
        await asyncio.sleep(0.5)
    finally:
        again.send_signal(signal.SIGTERM)
        await asyncio.to_thread(again.wait, 20)
    assert Counter(hook.done) == Counter(ids)
    assert all(n.state == "delivered" for n in (await rows(db)).values())
