"""Every POST form needs a token bound to this browser's session."""

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from tests.web.conftest import PASSWORD, csrf_from, sign_in

REFUSED = "Form expired or not from this site"


async def test_sign_out_without_token_is_refused_with_a_page(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    r = await client.post("/sign-out")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert REFUSED in r.text and "reload the page" in r.text
    assert (await client.get("/")).status_code == 200  # still signed in: nothing was done
    async with db.session() as session:
        refused = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "csrf.refused"))
        ).one()
    assert (refused.outcome, refused.principal_id) == ("denied", hub.principal.id)


async def test_wrong_token_is_refused(client: httpx.AsyncClient, hub: IssuedToken) -> None:
    await sign_in(client, "jo@hub.example")
    r = await client.post("/sign-out", data={"csrf_token": "forged"})
    assert r.status_code == 403 and REFUSED in r.text


async def test_token_of_another_session_is_refused(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    other_token = csrf_from((await client.get("/")).text)
    client.cookies.clear()
    await sign_in(client, "jo@hub.example")
    r = await client.post("/sign-out", data={"csrf_token": other_token})
    assert r.status_code == 403


async def test_token_in_header_is_accepted(client: httpx.AsyncClient, hub: IssuedToken) -> None:
    await sign_in(client, "jo@hub.example")
    token = csrf_from((await client.get("/")).text)
    r = await client.post("/sign-out", headers={"X-CSRF-Token": token})
    assert r.status_code == 303


async def test_sign_in_form_needs_its_token_too(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    await client.get("/sign-in")  # has the pre-session cookie, but posts no token
    r = await client.post("/sign-in", data={"email": "jo@hub.example", "password": PASSWORD})
    assert r.status_code == 403 and REFUSED in r.text
    assert "ca_session" not in client.cookies


async def test_sign_in_token_only_works_with_its_own_cookie(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    token = csrf_from((await client.get("/sign-in")).text)
    client.cookies.clear()
    await client.get("/sign-in")  # a different browser, a different pre-session cookie
    r = await client.post(
        "/sign-in", data={"email": "jo@hub.example", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 403
