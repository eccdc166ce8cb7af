"""Item 4 of issue 14: bodies, 422s and request rates are bounded, on both databases.

Each test is an attack that used to work: a body of any size read into memory
before authentication, a 422 that echoed every input (51 MB for 5.5 MB of unknown
keys), and unlimited sign-in and API requests.
"""

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from aggregator.app import create_app
from aggregator.concerns.models import Concern
from aggregator.core.db import Database
from aggregator.core.limits import MAX_VALIDATION_ERRORS
from tests import factories as f
from tests.conftest import empty_tables, settings_for
from tests.web.conftest import PASSWORD, csrf_from, person_with_password


@dataclass
class Served:
    """An app with its own settings; clients from any peer address."""

    db: Database
    app: FastAPI
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, address: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 5000))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.clients.append(c)
        return c


AppFactory = Callable[..., Served]


@pytest.fixture
async def app_with(database_url: str) -> AsyncIterator[AppFactory]:
    """Apps (one database) with the given settings."""
    made: list[Served] = []

    def make(**overrides: Any) -> Served:
        db = Database(settings_for(database_url, **overrides))
        made.append(Served(db, create_app(db=db, background=False)))
        return made[-1]

    try:
        yield make
    finally:
        for served in made:
            for c in served.clients:
                await c.aclose()
        if made:
            await empty_tables(made[0].db)
        for served in made:
            await served.db.dispose()


async def _concerns(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Concern)) or 0)


# -- request bodies ---------------------------------------------------------------


async def test_declared_oversize_body_is_413_before_authentication(app_with: AppFactory) -> None:
    served = app_with(max_body_bytes=4096)
    db, client = served.db, served.client()
    body = json.dumps(f.submission(**{"concern.summary": "x" * 8000})).encode()
    for headers in ({}, f.auth(await f.agency(db))):
        r = await client.post(
            "/api/v1/concerns",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 413  # not 401 without a token: nothing else ran
        assert r.json() == {"detail": "request body too large: at most 4096 bytes are accepted"}
    assert await _concerns(db) == 0


async def test_streamed_body_is_refused_once_past_the_limit_not_read_whole(
    app_with: AppFactory,
) -> None:
    served = app_with(max_body_bytes=4096)
    db, client = served.db, served.client()
    school = await f.agency(db)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b" " * 1024

    r = await client.post(
        "/api/v1/concerns",
        content=chunks(),
        headers={**f.auth(school), "Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert "at most 4096 bytes" in r.json()["detail"]
    assert sent <= 6  # the reading stopped just past 4 KiB, of 1000 KiB offered
    assert await _concerns(db) == 0


async def test_oversize_sign_in_form_is_413(app_with: AppFactory) -> None:
    client = app_with(max_body_bytes=2048).client()
    r = await client.post("/sign-in", data={"email": "a@b.example", "password": "p" * 5000})
    assert r.status_code == 413


async def test_a_body_within_the_limit_is_stored(app_with: AppFactory) -> None:
    served = app_with()  # the default: 1 MiB
    db, client = served.db, served.client()
    assert db.settings.max_body_bytes == 1024 * 1024
    school = await f.agency(db)
    r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert r.status_code == 201, r.text
    assert await _concerns(db) == 1


# -- 422 without the input ------------------------------------------------------------


async def test_422_names_the_field_but_never_echoes_the_input(app_with: AppFactory) -> None:
    served = app_with()
    db, client = served.db, served.client()
    school = await f.agency(db)
    secret = "Zebedee-Quixotic-7731"
    body = f.submission(
        **{
            "concern.practitioner.email": f"{secret}-not-an-email",
            "child.given_name": secret * 10,  # too long
            "child.nickname": secret,  # unknown key: named, its value not echoed
        }
    )
    r = await client.post("/api/v1/concerns", json=body, headers=f.auth(school))
    assert r.status_code == 422
    assert secret not in r.text
    detail = r.json()["detail"]
    fields = {tuple(d["loc"][-2:]) for d in detail}
    assert {("practitioner", "email"), ("child", "given_name"), ("child", "nickname")} <= fields
    for d in detail:
        assert set(d) <= {"loc", "msg", "type", "ctx"}
        assert isinstance(d["msg"], str) and d["msg"] and isinstance(d["type"], str)
    long_name = next(d for d in detail if d["loc"][-1] == "given_name")
    assert long_name["ctx"] == {"max_length": 100}  # the schema's bound is kept
    assert await _concerns(db) == 0


async def test_a_flood_of_unknown_keys_gets_a_short_422(app_with: AppFactory) -> None:
    served = app_with()
    db, client = served.db, served.client()
    school = await f.agency(db)
    body = f.submission()
    body.update({f"junk_{i:06d}": "v" * 40 for i in range(15_000)})  # ~900 KB, under 1 MiB
    raw = json.dumps(body).encode()
    assert 800_000 < len(raw) < 1024 * 1024
    r = await client.post(
        "/api/v1/concerns",
        content=raw,
        headers={**f.auth(school), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert len(r.json()["detail"]) == MAX_VALIDATION_ERRORS
    assert r.json()["truncated"] == 15_000 - MAX_VALIDATION_ERRORS
    assert len(r.content) < 10_000
    assert "vvvvvvvvvv" not in r.text


async def test_query_parameter_422_keeps_the_shape(app_with: AppFactory) -> None:
    served = app_with()
    db, client = served.db, served.client()
    hub = await f.person(db)
    r = await client.get("/api/v1/children?sort=Zebedee-Quixotic", headers=f.auth(hub))
    assert r.status_code == 422
    assert "Zebedee" not in r.text
    assert r.json()["detail"][0]["loc"] == ["query", "sort"]


# -- rate limits ------------------------------------------------------------------------


async def test_api_token_over_its_limit_gets_429_with_retry_after(app_with: AppFactory) -> None:
    served = app_with(rate_limit_api_per_minute=3)
    db, client = served.db, served.client()
    school, other = await f.agency(db), await f.agency(db, "Other School")
    codes = [
        (
            await client.post(
                "/api/v1/concerns", json=f.submission(f"REF-{i}"), headers=f.auth(school)
            )
        ).status_code
        for i in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    r = await client.get("/api/v1/children", headers=f.auth(school))
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "too many requests" in r.json()["detail"]
    assert await _concerns(db) == 3
    # Counted per token: another agency is not held up by this one.
    r = await client.post("/api/v1/concerns", json=f.submission("REF-9"), headers=f.auth(other))
    assert r.status_code == 201


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = csrf_from((await client.get("/sign-in")).text)
    return await client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_sign_in_is_limited_per_client_address(app_with: AppFactory) -> None:
    served = app_with(rate_limit_sign_in_per_minute=3)
    db, client = served.db, served.client()
    await person_with_password(db)
    codes = [
        (await _sign_in(client, f"guess{i}@hub.example", "wrong-password!")).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 401]
    r = await _sign_in(client, "jo@hub.example", PASSWORD)  # even the right one
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in r.text
    # Another address is not held up.
    elsewhere = served.client("198.51.100.1")
    assert (await _sign_in(elsewhere, "jo@hub.example", PASSWORD)).status_code == 303


async def test_sign_in_is_limited_per_account_across_addresses(app_with: AppFactory) -> None:
    served = app_with(rate_limit_sign_in_account_per_minute=2, login_max_failures=50)
    await person_with_password(served.db)
    clients = [served.client(f"203.0.113.{i}") for i in range(1, 5)]
    codes = [
        (await _sign_in(c, "jo@hub.example", "wrong-password!")).status_code for c in clients[:2]
    ]
    assert codes == [401, 401]
    r = await _sign_in(clients[2], "JO@hub.example", PASSWORD)  # the same account
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    # Other accounts from the same addresses are not held up.
    await person_with_password(served.db, "ada@hub.example")
    assert (await _sign_in(clients[0], "ada@hub.example", PASSWORD)).status_code == 303


async def test_default_limits_leave_an_agency_alone(app_with: AppFactory) -> None:
    served = app_with()
    db, client = served.db, served.client()
    school = await f.agency(db)
    for i in range(120):
        r = await client.get("/api/v1/concerns", headers=f.auth(school))
        assert r.status_code == 200, (i, r.text)
