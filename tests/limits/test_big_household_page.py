"""Item 2 of issue 14: a child with 300 related children renders, and the service
keeps answering while it does.

The data goes in through the real intake (one school token, as the attack did):
the child has 45 carers named over three submissions, and each of 300 other
children names one of them (at most seven a carer: with the child, eight children
share a carer, the most that `repository.HOUSEHOLD_MAX_CHILDREN` counts as a household).
The app then runs in a real uvicorn server process; `/healthz` is asked
every few milliseconds while the child's page renders again and again.
"""

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.web import sessions
from aggregator.web.pictures import RING_MAX
from tests import factories as f

CARERS = 45
OTHERS = 300
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _word(rnd: random.Random) -> str:
    """A pronounceable made-up name: its sound-alike key is (almost surely) its own."""
    return "".join(rnd.choice(_CONSONANTS) + rnd.choice(_VOWELS) for _ in range(4)).title()


def _carer(rnd: random.Random) -> dict[str, str]:
    return {"relationship": "mother", "given_name": _word(rnd), "family_name": _word(rnd)}


async def _seed(client: httpx.AsyncClient, token: dict[str, str]) -> None:
    rnd = random.Random(14)
    carers = [_carer(rnd) for _ in range(CARERS)]
    for part in range(3):
        body = f.submission(f"SCH-BIG-{part}", related_people=carers[part * 15 : part * 15 + 15])
        r = await client.post("/api/v1/concerns", json=body, headers=token)
        assert r.status_code == 201, r.text
    for i in range(OTHERS):
        body = f.submission(
            f"SCH-OTHER-{i}",
            **{
                "child.given_name": _word(rnd),
                "child.family_name": _word(rnd),
                "child.other_names": [],
                "child.nhs_number": None,
                "child.date_of_birth": f"20{10 + i % 10}-0{1 + i % 9}-{10 + i % 18}",
                "child.address": {
                    "line1": f"{i + 100} Hostel Road",
                    "town": "Leeds",
                    "postcode": "LS6 2AB",
                },
                "related_people": [carers[i % CARERS]],
            },
        )
        r = await client.post("/api/v1/concerns", json=body, headers=token)
        assert r.status_code == 201, r.text


@pytest.fixture
def served(db: Database) -> Iterator[str]:
    """`aggregator.app:create_app` in a uvicorn process of its own, on the test's
    database: the test's client shares no interpreter (nor GIL) with it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings = db.settings
    env = {
        **os.environ,
        "AGGREGATOR_ENVIRONMENT": settings.environment,
        "AGGREGATOR_DATABASE_URL": settings.database_url,
        "AGGREGATOR_AUDIT_KEY": settings.audit_key.get_secret_value(),
        "AGGREGATOR_RUN_SCHEDULER": "false",
    }
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "aggregator.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "server exited"
            assert time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


async def test_child_with_300_related_children_renders_while_healthz_answers(
    db: Database,
    client: httpx.AsyncClient,
    served: str,
) -> None:
    school = await f.agency(db)
    await _seed(client, f.auth(school))
    hub = await f.person(db, role="hub")
    async with db.session() as session:
        focus = (
            await session.execute(
                select(ChildRecord.child_id).where(ChildRecord.given_name == "Jayden").distinct()
            )
        ).scalar_one()
        started = await sessions.start(session, hub.principal.id, db.settings)

    # The JSON picture: the household is bounded, every member a real child.
    api = await client.get(f"/api/v1/children/{focus}/picture", headers=f.auth(hub))
    assert api.status_code == 200, api.text
    members = api.json()["household"]["members"]
    assert len(members) == 200  # records_sharing's bound; the rest are not fetched

    cookies = {sessions.cookie_name(db.settings): started.raw_id}
    async with httpx.AsyncClient(base_url=served, cookies=cookies, timeout=30) as web:
        # Once first: the first render of a process compiles the templates
        # (Python's compile() holds the GIL throughout), a one-off cost.
        pages: list[httpx.Response] = [await web.get(f"/children/{focus}")]
        stop = asyncio.Event()
        in_flight = 0

        async def keep_rendering() -> None:
            nonlocal in_flight
            while not stop.is_set():
                in_flight += 1
                try:
                    pages.append(await web.get(f"/children/{focus}"))
                finally:
                    in_flight -= 1

        async def ping() -> list[tuple[float, bool]]:
            answers = []
            async with httpx.AsyncClient(base_url=served, timeout=1.0) as health:
                for _ in range(40):
                    t0 = time.perf_counter()
                    r = await health.get("/healthz")
                    assert r.status_code == 200
                    answers.append((time.perf_counter() - t0, in_flight > 0))
                    await asyncio.sleep(0.01)
            return answers

        renderers = [asyncio.create_task(keep_rendering()) for _ in range(2)]
        answers = await ping()
        stop.set()
        await asyncio.gather(*renderers)

    assert pages and all(p.status_code == 200 for p in pages), [p.status_code for p in pages]
    html = pages[0].text
    # The picture shows the 200 children the household query fetches (its bound),
    # 23 of them as marks and the rest as one counted mark.
    assert "200 other children" in html
    assert f"+{200 - RING_MAX + 1} more children" in html
    assert html.count('class="node node-sibling"') == RING_MAX - 1
    assert max(seconds for seconds, _ in answers) < 1.0
    assert any(during for _, during in answers), "no health check overlapped a page request"
