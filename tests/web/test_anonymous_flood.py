"""Callers nobody authenticated cannot grow the audit trail without bound."""

import httpx
from sqlalchemy import select

from aggregator.audit.flood import SUPPRESSED, guard_for
from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from tests.web.conftest import sign_in


async def trail(db: Database, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))  # type: ignore[arg-type]
        return list(rows.all())


async def test_unknown_tokens_on_the_dashboard_are_capped_then_summarised(db: Database) -> None:
    db.settings = db.settings.model_copy(update={"audit_anonymous_per_minute": 5})
    guard_for(db, clock=lambda: 0.0)  # one minute throughout, however slow the machine
    from aggregator.app import create_app

    app = create_app(db=db, background=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for i in range(30):
            r = await client.get("/children", headers={"Authorization": f"Bearer guess-{i}"})
            assert r.status_code == 403
    assert len(await trail(db, "access.denied")) == 5
    assert await guard_for(db).flush(db, now=True) == 1
    (summary,) = await trail(db, SUPPRESSED)
    assert summary.principal_id is None
    assert summary.detail["source"] == "client"
    assert summary.detail["count"] == 25
    assert summary.detail["actions"] == {"access.denied": 25}
    assert "203.0.113.9" not in str(summary.detail)  # a keyed hash, never the address
    assert summary.detail["client"] == guard_for(db).client_key("203.0.113.9")


async def test_sign_in_guesses_and_forged_forms_share_the_address_budget(
    db: Database, client: httpx.AsyncClient
) -> None:
    db.settings = db.settings.model_copy(update={"audit_anonymous_per_minute": 3})
    guard_for(db, clock=lambda: 0.0)
    for i in range(6):
        r = await sign_in(client, f"nobody{i}@example.org", "wrong")
        assert r.status_code == 401
    for _ in range(4):  # no CSRF token at all
        r = await client.post("/sign-in", data={"email": "x@example.org", "password": "y"})
        assert r.status_code == 403
    assert len(await trail(db, "auth.sign_in")) == 3
    assert await trail(db, "csrf.refused") == []  # the address's budget was spent already
    await guard_for(db).flush(db, now=True)
    (summary,) = await trail(db, SUPPRESSED)
    assert summary.detail["actions"] == {"auth.sign_in": 3, "csrf.refused": 4}
