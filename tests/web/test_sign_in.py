"""Sign-in with email and password: success, refusals that reveal nothing, lock-out."""

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal
from aggregator.principals.service import IssuedToken
from aggregator.web.models import WebSession
from aggregator.web.sessions import hash_session_id
from tests import factories as f
from tests.web.conftest import PASSWORD, sign_in

FAILED = "Sign-in failed"


async def _principal(db: Database, name: str) -> Principal:
    async with db.session() as session:
        return (await session.scalars(select(Principal).where(Principal.name == name))).one()


async def _events(db: Database, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                )
            ).all()
        )


async def test_sign_in_starts_a_session_and_opens_home(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    r = await sign_in(client, "jo@hub.example")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "ca_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie.split("ca_signin")[0]  # http base_url: not Secure
    home = await client.get("/")
    assert home.status_code == 200
    assert "Signed in as" in home.text and "jo@hub.example" in home.text
    events = await _events(db, "auth.sign_in")
    assert [(e.outcome, e.principal_id) for e in events] == [("ok", hub.principal.id)]


async def test_only_a_hash_of_the_session_id_is_stored(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    raw = client.cookies["ca_session"]
    async with db.session() as session:
        rows = (await session.scalars(select(WebSession))).all()
    assert len(rows) == 1
    assert rows[0].id_hash == hash_session_id(raw)
    assert raw not in {rows[0].id_hash, rows[0].csrf_token}


async def test_email_is_matched_without_regard_to_case(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    r = await sign_in(client, "  Jo@Hub.Example ")
    assert r.status_code == 303


async def test_wrong_password_unknown_email_and_agency_get_the_same_answer(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    school = await f.agency(db)
    wrong = await sign_in(client, "jo@hub.example", "not-the-password")
    unknown = await sign_in(client, "nobody@hub.example")
    agency = await sign_in(client, school.principal.name)
    for r in (wrong, unknown, agency):
        assert r.status_code == 401
        assert FAILED in r.text
        assert "ca_session" not in client.cookies
    # The page says the same thing whatever the reason.
    texts = {r.text.split('role="alert"')[1].split("</div>")[0] for r in (wrong, unknown, agency)}
    assert len(texts) == 1
    reasons = [e.detail["reason"] for e in await _events(db, "auth.sign_in")]
    assert reasons == ["bad_password", "unknown_account", "agency"]
    # The typed email of an unknown account is not recorded anywhere in the trail.
    async with db.session() as session:
        trail = (await session.scalars(select(AuditEvent))).all()
    assert all("nobody@hub.example" not in str(e.detail) for e in trail)


async def test_empty_fields_are_a_clear_400(client: httpx.AsyncClient, hub: IssuedToken) -> None:
    r = await sign_in(client, "", "")
    assert r.status_code == 400
    assert "Enter your email address and your password" in r.text


async def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    for _ in range(4):
        assert (await sign_in(client, "jo@hub.example", "wrong-password!")).status_code == 401
    assert (await _principal(db, "jo@hub.example")).failed_logins == 4
    assert (await sign_in(client, "jo@hub.example", "wrong-password!")).status_code == 401
    person = await _principal(db, "jo@hub.example")
    assert person.locked_until is not None
    remaining = person.locked_until - utcnow()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    assert len(await _events(db, "auth.lock")) == 1

    locked = await sign_in(client, "jo@hub.example", PASSWORD)
    assert locked.status_code == 401 and FAILED in locked.text
    assert "ca_session" not in client.cookies

    async with db.session() as session:  # fifteen minutes later
        await session.execute(
            update(Principal)
            .where(Principal.id == hub.principal.id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    assert (await sign_in(client, "jo@hub.example", PASSWORD)).status_code == 303
    person = await _principal(db, "jo@hub.example")
    assert (person.failed_logins, person.locked_until) == (0, None)


async def test_success_resets_the_failure_count(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    for _ in range(3):
        await sign_in(client, "jo@hub.example", "wrong-password!")
    assert (await sign_in(client, "jo@hub.example")).status_code == 303
    assert (await _principal(db, "jo@hub.example")).failed_logins == 0


async def test_disabled_person_cannot_sign_in(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    async with db.session() as session:
        await session.execute(
            update(Principal).where(Principal.id == hub.principal.id).values(disabled_at=utcnow())
        )
    assert (await sign_in(client, "jo@hub.example")).status_code == 401


async def test_person_without_password_cannot_sign_in(
    client: httpx.AsyncClient, db: Database
) -> None:
    await f.person(db, "nopass@hub.example")
    assert (await sign_in(client, "nopass@hub.example", "")).status_code == 400
    assert (await sign_in(client, "nopass@hub.example", "anything-at-all")).status_code == 401


async def test_next_goes_back_to_the_page_but_never_off_site(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    first = await client.get("/audit?action=x")
    assert first.status_code == 303
    assert first.headers["location"] == "/sign-in?next=%2Faudit%3Faction%3Dx"
    r = await sign_in(client, "jo@hub.example", next_path="/audit?action=x")
    assert r.headers["location"] == "/audit?action=x"
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        r = await sign_in(client, "jo@hub.example", next_path=evil)
        assert r.headers["location"] == "/", evil


async def test_what_was_typed_is_shown_back_escaped(client: httpx.AsyncClient) -> None:
    r = await sign_in(client, '"><script>alert(1)</script>@x.example', "whatever-password")
    assert r.status_code == 401
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text
