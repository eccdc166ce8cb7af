"""Server-side sessions: idle and absolute expiry, sign-out, cookie flags."""

from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from aggregator.app import create_app
from aggregator.core.db import Database
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal
from aggregator.principals.service import IssuedToken
from aggregator.web.models import WebSession
from tests.web.conftest import csrf_from, sign_in


async def _sessions(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


async def _age_sessions(db: Database, **values: object) -> None:
    async with db.session() as session:
        await session.execute(update(WebSession).values(**values))


async def test_anonymous_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/sign-in"


async def test_idle_session_ends(client: httpx.AsyncClient, db: Database, hub: IssuedToken) -> None:
    await sign_in(client, "jo@hub.example")
    assert (await client.get("/")).status_code == 200
    await _age_sessions(db, last_seen_at=utcnow() - timedelta(minutes=31))
    r = await client.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in?m=expired"
    page = await client.get(r.headers["location"])
    assert "Your session has ended" in page.text
    assert await _sessions(db) == 0  # the dead row is gone


async def test_activity_keeps_a_session_alive(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    await _age_sessions(db, last_seen_at=utcnow() - timedelta(minutes=29))
    assert (await client.get("/")).status_code == 200
    async with db.session() as session:
        row = (await session.scalars(select(WebSession))).one()
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


async def test_absolute_expiry_ends_even_an_active_session(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    async with db.session() as session:
        row = (await session.scalars(select(WebSession))).one()
    assert timedelta(hours=9, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=10)
    await _age_sessions(db, expires_at=utcnow() - timedelta(seconds=1))
    assert (await client.get("/")).status_code == 303


async def test_sign_out_deletes_the_session_so_a_copied_cookie_is_dead(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    stolen = client.cookies["ca_session"]
    home = await client.get("/")
    r = await client.post("/sign-out", data={"csrf_token": csrf_from(home.text)})
    assert r.status_code == 303 and r.headers["location"] == "/sign-in?m=signed_out"
    assert "ca_session" not in client.cookies
    assert await _sessions(db) == 0
    client.cookies.set("ca_session", stolen)
    assert (await client.get("/")).status_code == 303
    page = await client.get("/sign-in?m=signed_out")
    assert "You have signed out." in page.text


async def test_sign_in_page_redirects_someone_already_signed_in(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    r = await client.get("/sign-in")
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_each_sign_in_gets_a_new_session_id(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    first = client.cookies["ca_session"]
    client.cookies.clear()
    await sign_in(client, "jo@hub.example")
    assert client.cookies["ca_session"] != first
    assert await _sessions(db) == 2  # two browsers, two sessions


async def test_disabling_a_person_ends_their_session(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    async with db.session() as session:
        await session.execute(
            update(Principal).where(Principal.id == hub.principal.id).values(disabled_at=utcnow())
        )
    assert (await client.get("/")).status_code == 303
    assert await _sessions(db) == 0


async def test_cookie_is_secure_behind_https(db: Database, hub: IssuedToken) -> None:
    settings = db.settings.model_copy(update={"base_url": "https://hub.example"})
    app = create_app(settings, db=db, background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://hub.example"
    ) as client:
        r = await sign_in(client, "jo@hub.example")
        assert r.status_code == 303
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-ca_session=")
        ).lower()
        assert "secure" in cookie and "httponly" in cookie and "path=/" in cookie
        assert (await client.get("/")).status_code == 200
