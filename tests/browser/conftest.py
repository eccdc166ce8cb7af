"""A real server and a real Chromium for the end-to-end dashboard tests.

The app runs under uvicorn in a subprocess on a free localhost port, against a
temporary SQLite database migrated and seeded with the demo; Playwright drives
Debian's Chromium (`scripts/install-browser.sh`), never a downloaded browser.
"""

import asyncio
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from aggregator.core.db import Database
from aggregator.core.migrate import upgrade_async
from aggregator.demo import DEMO_AGENCIES, DemoCredentials, seed_demo
from tests.conftest import IN_CI, settings_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
# A small borough keeps seeding to a second or two; the pages under test do not
# depend on how many children there are.
DEMO_CHILDREN = 20


@dataclass(frozen=True)
class LiveServer:
    url: str
    creds: DemoCredentials
    database_url: str = ""

    @property
    def agency_token(self) -> str:
        return self.creds.agencies[DEMO_AGENCIES[0][0]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(url: str) -> DemoCredentials:
    settings = settings_for(url)
    await upgrade_async(settings)
    db = Database(settings)
    try:
        kwargs = (
            {"n_children": DEMO_CHILDREN}
            if "n_children" in inspect.signature(seed_demo).parameters
            else {}
        )
        return await seed_demo(db, **kwargs)
    finally:
        await db.dispose()


# Enough open alerts and review items that every list needs pages, as at a real hub
# (the demo borough above is kept small so that seeding stays quick).
EXTRA_ALERTS = 210
EXTRA_REVIEW_ITEMS = 55


async def _enlarge(url: str) -> None:
    from tests.alerts.helpers import World
    from tests.browser.bulk import add_alerts, add_review_items

    db = Database(settings_for(url))
    try:
        world = World(db)
        await add_alerts(world, EXTRA_ALERTS)
        await add_review_items(world, EXTRA_REVIEW_ITEMS)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def long_lists(live_server: "LiveServer") -> "LiveServer":
    """The live server's lists made long (written while it runs, after the demo's own
    alerts opened, so those still lead the inbox for the other tests)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _enlarge(live_server.database_url)).result()
    return live_server


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run scripts/install-browser.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("live")
    url = f"sqlite+aiosqlite:///{tmp / 'demo.db'}"
    # Its own thread and event loop, apart from the loop pytest-asyncio runs tests on.
    with ThreadPoolExecutor(1) as pool:
        creds = pool.submit(asyncio.run, _prepare(url)).result()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(url)
    env = {
        **os.environ,
        "AGGREGATOR_ENVIRONMENT": "test",
        "AGGREGATOR_DATABASE_URL": url,
        "AGGREGATOR_AUDIT_KEY": settings.audit_key.get_secret_value(),
        "AGGREGATOR_SESSION_KEY": "browser-test-session-key-" + "y" * 16,
        "AGGREGATOR_BASE_URL": base,
        "AGGREGATOR_AUDIT_SEAL_INTERVAL_SECONDS": "0.5",
    }
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "aggregator.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(base, proc, log)
        yield LiveServer(base, creds, url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
async def browser(live_server: LiveServer) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
async def context(browser: Browser, live_server: LiveServer) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test: no cookie leaks from one test into the next."""
    ctx = await browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    try:
        yield ctx
    finally:
        await ctx.close()
