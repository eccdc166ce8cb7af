"""Who may open what: agencies never, roles by dependency, the admin audit page."""

import httpx
import pytest
from sqlalchemy import select, update

from aggregator.audit.chain import seal_pending
from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from aggregator.web import require_web_roles
from tests import factories as f
from tests.tamper import tamper
from tests.web.conftest import sign_in


@pytest.mark.parametrize("path", ["/", "/audit", "/sign-in"])
async def test_agency_token_gets_403_on_every_dashboard_page(
    client: httpx.AsyncClient, db: Database, path: str
) -> None:
    school = await f.agency(db)
    r = await client.get(path, headers=f.auth(school))
    assert r.status_code == 403
    assert "Agencies have no access to the dashboard" in r.text
    async with db.session() as session:
        denied = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
        ).one()
    assert denied.principal_id == school.principal.id


async def test_agency_token_cannot_post_either(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    r = await client.post("/sign-out", headers=f.auth(school))
    assert r.status_code == 403 and "Agencies have no access" in r.text


async def test_person_token_is_not_a_dashboard_login(
    client: httpx.AsyncClient, hub: IssuedToken
) -> None:
    r = await client.get("/", headers=f.auth(hub))
    assert r.status_code == 403 and "does not accept API tokens" in r.text


async def test_api_still_answers_agencies_in_json(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert r.status_code == 201
    r = await client.get("/api/v1/audit/events", headers=f.auth(school))
    assert r.status_code == 403 and r.headers["content-type"] == "application/json"


async def test_hub_user_cannot_open_the_audit_page(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await sign_in(client, "jo@hub.example")
    home = await client.get("/")
    assert 'href="/audit"' not in home.text  # no link to a page the role cannot open
    r = await client.get("/audit")
    assert r.status_code == 403 and "only for admins" in r.text
    async with db.session() as session:
        denied = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
        ).one()
    assert (denied.principal_id, denied.detail["path"]) == (hub.principal.id, "/audit")


async def test_admin_sees_the_trail_and_an_intact_chain(
    client: httpx.AsyncClient, db: Database, admin: IssuedToken
) -> None:
    await sign_in(client, "ada@hub.example")
    assert 'href="/audit"' in (await client.get("/")).text
    r = await client.get("/audit")
    assert r.status_code == 200
    assert "Hash chain intact" in r.text
    assert "auth.sign_in" in r.text and "audit.verify" in r.text
    async with db.session() as session:
        reads = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.read"))
        ).all()
    assert len(reads) == 1
    assert (reads[0].purpose, reads[0].principal_id) == ("audit", admin.principal.id)
    assert reads[0].detail["ids"]  # which events were shown


async def test_audit_filters(client: httpx.AsyncClient, db: Database, admin: IssuedToken) -> None:
    school = await f.agency(db)
    created = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    concern_id = created.json()["id"]
    await sign_in(client, "ada@hub.example")
    by_object = await client.get("/audit", params={"object_id": concern_id})
    assert "concern.create" in by_object.text and "auth.sign_in</code>" not in by_object.text
    by_action = await client.get("/audit", params={"action": "auth.sign_in"})
    assert "auth.sign_in</code>" in by_action.text and "concern.create</code>" not in by_action.text
    by_principal = await client.get("/audit", params={"principal": school.principal.id})
    assert "concern.create</code>" in by_principal.text
    assert "auth.sign_in</code>" not in by_principal.text
    too_long = await client.get("/audit", params={"object_id": "x" * 65})
    assert too_long.status_code == 400 and "too long" in too_long.text


async def test_audit_page_reports_a_broken_chain(
    client: httpx.AsyncClient, db: Database, admin: IssuedToken
) -> None:
    await sign_in(client, "ada@hub.example")
    await seal_pending(db)
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.action == "auth.sign_in").values(outcome="forged")
        )
    r = await client.get("/audit")
    assert r.status_code == 200
    assert "Hash chain broken" in r.text and "altered" in r.text


async def test_pages_send_security_headers_and_local_assets_only(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/sign-in")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, nothing remote
    for asset in ("/static/app.css", "/static/app.js"):
        assert (await client.get(asset)).status_code == 200


def test_role_dependency_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        require_web_roles("agency")
