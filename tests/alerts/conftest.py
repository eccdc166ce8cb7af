"""Fixtures of the alert tests: the suite's database with alert settings, a builder."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aggregator.app import create_app
from aggregator.core.db import Database
from tests.alerts.helpers import ALERT_SETTINGS, World
from tests.alerts.receivers import Receiver


@pytest.fixture
async def adb(db: Database) -> Database:
    """The suite's database with alert settings for local receivers and quick retries."""
    db.settings = db.settings.model_copy(update=ALERT_SETTINGS)
    return db


@pytest.fixture
async def world(adb: Database) -> World:
    return World(adb)


@pytest.fixture
async def aclient(adb: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db=adb, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Local webhook receivers a test starts with `serve(receivers)`; shut down after it."""
    made: list[Receiver] = []
    yield made
    for r in made:
        r.shutdown()
        r.server_close()
