"""Refused and failed submissions are on the record, without personal data, within limits."""

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

import aggregator.concerns.routes as routes
from aggregator.app import create_app
from aggregator.audit.flood import SUPPRESSED, guard_for
from aggregator.audit.models import AuditEvent
from aggregator.concerns.attempts import ref_digest
from aggregator.core.db import Database
from tests import factories as f

PERSONAL = ("Jayden", "Smith", "9434765919", "LS6", "Mill Lane", "Patel", "hungry")


@contextlib.asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def trail(db: Database, *actions: str) -> list[AuditEvent]:
    async with db.session() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
        rows = (await session.scalars(stmt)).all()
    return [e for e in rows if not actions or e.action in actions]


def no_personal_data(events: list[AuditEvent]) -> None:
    for e in events:
        text = f"{e.detail} {e.object_id}"
        for value in PERSONAL:
            assert value not in text, (e.action, value)


async def test_a_409_is_recorded_with_a_digest_of_the_reference(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    assert (
        await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    ).status_code == 201
    changed = f.submission(**{"concern.severity": 3})
    r = await client.post("/api/v1/concerns", json=changed, headers=f.auth(school))
    assert r.status_code == 409
    (refused,) = await trail(db, "concern.refused")
    assert refused.principal_id == school.principal.id
    assert refused.outcome == "refused"
    assert refused.detail == {
        "status": 409,
        "reason": "external_ref_reused",
        "external_ref_sha256": ref_digest("SCH-2026-0042"),
    }
    assert "SCH-2026-0042" not in str(refused.detail)
    no_personal_data(await trail(db))


async def test_intake_checks_refusals_are_recorded_with_their_reason(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    status_set = f.submission("S-1", **{"child.status": "child_in_need"})
    part3 = f.submission("S-2", **{"sharing.condition": "dpa2018_sch8_para4"})
    assert (
        await client.post("/api/v1/concerns", json=status_set, headers=f.auth(school))
    ).status_code == 403
    assert (
        await client.post("/api/v1/concerns", json=part3, headers=f.auth(school))
    ).status_code == 422
    reasons = [(e.detail["status"], e.detail["reason"]) for e in await trail(db, "concern.refused")]
    assert reasons == [(403, "status_not_permitted"), (422, "condition_not_permitted")]


async def test_a_person_token_on_the_intake_is_an_access_denied(
    client: httpx.AsyncClient, db: Database
) -> None:
    hub = await f.person(db)
    r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(hub))
    assert r.status_code == 403
    (denied,) = await trail(db, "access.denied")
    assert denied.principal_id == hub.principal.id
    assert denied.detail["path"] == "/api/v1/concerns"


async def test_an_unexpected_failure_is_recorded_as_failed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = await f.agency(db)

    async def broken(*_: object) -> None:
        raise RuntimeError("Jayden Smith")  # a bug whose message holds a submitted value

    monkeypatch.setattr(routes, "submit_linked", broken)
    async with http(create_app(db=db, background=False)) as client:
        r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert r.status_code == 500
    assert "Jayden" not in r.text
    (failed,) = await trail(db, "concern.failed")
    assert (failed.outcome, failed.detail["status"], failed.detail["reason"]) == (
        "failed",
        500,
        "internal_error",
    )
    no_personal_data(await trail(db))


async def test_a_flood_of_refusals_is_capped_and_summarised(db: Database) -> None:
    db.settings = db.settings.model_copy(update={"audit_refusals_per_minute": 5})
    guard_for(db, clock=lambda: 0.0)  # one minute throughout, however slow the machine
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    async with http(create_app(db=db, background=False)) as client:
        for agency in (school, gp):
            first = await client.post(
                "/api/v1/concerns", json=f.submission(), headers=f.auth(agency)
            )
            assert first.status_code == 201
        changed = f.submission(**{"concern.severity": 3})
        for _ in range(40):
            r = await client.post("/api/v1/concerns", json=changed, headers=f.auth(school))
            assert r.status_code == 409
        r = await client.post("/api/v1/concerns", json=changed, headers=f.auth(gp))
        assert r.status_code == 409
    refused = await trail(db, "concern.refused")
    by_agency = [e.principal_id for e in refused]
    assert by_agency.count(school.principal.id) == 5  # the cap, per agency and minute
    assert by_agency.count(gp.principal.id) == 1  # one agency's flood costs another nothing
    assert await guard_for(db).flush(db, now=True) == 1
    (summary,) = await trail(db, SUPPRESSED)
    assert summary.principal_id == school.principal.id
    assert summary.detail["source"] == "principal"
    assert summary.detail["count"] == 35
    assert summary.detail["actions"] == {"concern.refused": 35}
