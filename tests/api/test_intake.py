"""Concern intake over HTTP, on both backends."""

import asyncio
import logging
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from aggregator.audit.models import AuditEvent
from aggregator.concerns.models import ChildRecord, Concern, RelatedPerson, SharingRecord
from aggregator.core.db import Database
from tests import factories as f


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_submit_stores_concern_and_sharing_record(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "external_ref", "received_at"}
    got = await client.get(f"/api/v1/concerns/{body['id']}", headers=f.auth(school))
    assert got.status_code == 200
    view = got.json()
    assert view["child"]["nhs_number"] == "9434765919"
    assert view["child"]["address"]["postcode"] == "LS6 2AB"
    assert view["related_people"][0]["given_name"] == "Kayleigh"
    assert view["sharing"]["lawful_basis"] == "public_task"
    assert view["sharing"]["consent_reason"].startswith("Seeking consent")
    async with db.session() as session:
        share = (await session.scalars(select(SharingRecord))).one()
        assert share.agency_id == school.principal.id
        assert share.condition == "dpa2018_sch1_para18"


async def test_retry_with_same_body_returns_same_id(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    first = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    again = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert await count(db, Concern) == 1


async def test_retry_with_different_body_is_409(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    changed = f.submission(**{"concern.severity": 3})
    r = await client.post("/api/v1/concerns", json=changed, headers=f.auth(school))
    assert r.status_code == 409
    assert "external_ref" in r.json()["detail"]
    assert await count(db, Concern) == 1


async def test_same_ref_from_another_agency_is_a_different_concern(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    a = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    b = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(gp))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


async def test_concurrent_retries_store_one_concern(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
            for _ in range(8)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(db, Concern) == 1
    assert await count(db, ChildRecord) == 1


async def test_concurrent_conflicting_retries_store_one_body(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    bodies = [f.submission(**{"concern.severity": 1 + i % 2}) for i in range(6)]
    responses = await asyncio.gather(
        *(client.post("/api/v1/concerns", json=b, headers=f.auth(school)) for b in bodies)
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1
    assert set(codes) <= {200, 201, 409}
    assert await count(db, Concern) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"child.favourite_colour": "blue"}, "favourite_colour"),
        ({"child.date_of_birth": (date.today() + timedelta(days=30)).isoformat()}, "date_of_birth"),
        ({"child.date_of_birth": "2001-01-01"}, "date_of_birth"),
        ({"child.date_of_birth": "2019-02-30"}, "date_of_birth"),
        ({"child.nhs_number": "9434765918"}, "nhs_number"),
        ({"child.upn": "H801200001009"}, "upn"),
        ({"child.address.postcode": "NOT A CODE"}, "postcode"),
        ({"concern.summary": "x" * 2001}, "summary"),
        ({"child.given_name": "y" * 101}, "given_name"),
        ({"concern.severity": 5}, "severity"),
        ({"concern.category": "bad_vibes"}, "category"),
        ({"sharing.lawful_basis": "because"}, "lawful_basis"),
        ({"sharing.consent_reason": None}, "consent_reason"),
        ({"sharing.not_informed_reason": None}, "not_informed_reason"),
        ({"concern.observed_at": (date.today() + timedelta(days=10)).isoformat()}, "observed_at"),
        ({"external_ref": "has spaces and ;"}, "external_ref"),
        ({"concern.practitioner.email": "not-an-email"}, "email"),
    ],
)
async def test_invalid_bodies_get_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, overrides: dict[str, object], field: str
) -> None:
    school = await f.agency(db)
    r = await client.post(
        "/api/v1/concerns", json=f.submission(**overrides), headers=f.auth(school)
    )
    assert r.status_code == 422, r.text
    assert field in r.text
    assert await count(db, Concern) == 0
    assert await count(db, ChildRecord) == 0
    assert await count(db, RelatedPerson) == 0


async def test_child_without_enough_to_identify_is_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    bare = f.submission(
        **{
            "child.date_of_birth": None,
            "child.nhs_number": None,
            "child.address": None,
        }
    )
    r = await client.post("/api/v1/concerns", json=bare, headers=f.auth(school))
    assert r.status_code == 422
    assert "identify" in r.text
    partial = f.submission(
        **{"child.nhs_number": None, "child.address": None, "child.date_of_birth": "2019-03"}
    )
    assert (
        await client.post("/api/v1/concerns", json=partial, headers=f.auth(school))
    ).status_code == 201


async def test_only_childrens_social_care_sets_status(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    csc = await f.agency(db, "Leeds CSC", "childrens_social_care")
    body = f.submission(**{"child.status": "child_protection_plan"})
    refused = await client.post("/api/v1/concerns", json=body, headers=f.auth(school))
    assert refused.status_code == 403
    assert await count(db, Concern) == 0
    assert (
        await client.post("/api/v1/concerns", json=body, headers=f.auth(csc))
    ).status_code == 201


async def test_part3_condition_is_for_police_only(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    police = await f.agency(db, "West Yorkshire Police", "police")
    body = f.submission(**{"sharing.condition": "dpa2018_sch8_para4"})
    r = await client.post("/api/v1/concerns", json=body, headers=f.auth(school))
    assert r.status_code == 422 and "condition" in r.text
    assert (
        await client.post("/api/v1/concerns", json=body, headers=f.auth(police))
    ).status_code == 201


async def test_another_agencys_concern_is_404_like_an_unknown_id(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    cid = (
        await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    ).json()["id"]
    theirs = await client.get(f"/api/v1/concerns/{cid}", headers=f.auth(gp))
    unknown = await client.get("/api/v1/concerns/" + "0" * 32, headers=f.auth(gp))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    listing = await client.get("/api/v1/concerns", headers=f.auth(gp))
    assert listing.json()["total"] == 0 and listing.json()["items"] == []


async def test_listing_is_paginated(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    for i in range(5):
        await client.post("/api/v1/concerns", json=f.submission(f"REF-{i}"), headers=f.auth(school))
    page = (await client.get("/api/v1/concerns?limit=2&offset=2", headers=f.auth(school))).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert (
        await client.get("/api/v1/concerns?limit=1000", headers=f.auth(school))
    ).status_code == 422


async def test_protected_reporter_is_named_only_inside_the_agency(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    hub = await f.person(db)
    body = f.submission(**{"sharing.protect_reporter_identity": True})
    cid = (await client.post("/api/v1/concerns", json=body, headers=f.auth(school))).json()["id"]
    own = (await client.get(f"/api/v1/concerns/{cid}", headers=f.auth(school))).json()
    seen_by_hub = (await client.get(f"/api/v1/concerns/{cid}", headers=f.auth(hub))).json()
    assert own["concern"]["practitioner"]["name"] == "A. Patel"
    assert "A. Patel" not in str(seen_by_hub)
    assert "a.patel@school.example" not in str(seen_by_hub)
    assert seen_by_hub["child"]["given_name"] == "Jayden"


async def test_tokens_are_required_and_roles_enforced(
    client: httpx.AsyncClient, db: Database
) -> None:
    hub = await f.person(db)
    admin = await f.person(db, "root@hub.example", "admin")
    assert (await client.post("/api/v1/concerns", json=f.submission())).status_code == 401
    bad = {"Authorization": "Bearer cat_not-a-real-token"}
    assert (await client.get("/api/v1/concerns", headers=bad)).status_code == 401
    assert (
        await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(hub))
    ).status_code == 403
    assert (await client.get("/api/v1/concerns", headers=f.auth(admin))).status_code == 403


async def test_revoked_token_is_refused_at_once(client: httpx.AsyncClient, db: Database) -> None:
    from aggregator.principals.service import revoke

    school = await f.agency(db)
    assert (await client.get("/api/v1/concerns", headers=f.auth(school))).status_code == 200
    async with db.session() as session:
        assert await revoke(session, token_id=school.token_id) == 1
    r = await client.get("/api/v1/concerns", headers=f.auth(school))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_revoked_token_submits_nothing_though_just_used(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The intake remembers a caller for a while (`Caller`); the insert re-checks
    the token, so a revocation still takes effect on the very next submission."""
    from aggregator.principals.service import revoke

    school = await f.agency(db)
    first = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert first.status_code == 201
    async with db.session() as session:
        assert await revoke(session, token_id=school.token_id) == 1
    new = await client.post("/api/v1/concerns", json=f.submission("SCH-2"), headers=f.auth(school))
    assert new.status_code == 401 and "revoked" in new.json()["detail"]
    retry = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert retry.status_code == 401, "a retry must not confirm the first concern either"
    assert await count(db, Concern) == 1
    assert await count(db, ChildRecord) == 1


async def test_reads_and_writes_are_audited_with_purpose(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    hub = await f.person(db)
    cid = (
        await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    ).json()["id"]
    await client.get(
        f"/api/v1/concerns/{cid}", headers={**f.auth(hub), "X-Purpose": "strategy_meeting"}
    )
    await client.get("/api/v1/concerns/" + "f" * 32, headers=f.auth(school))
    async with db.session() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    summary = [(e.principal_id, e.action, e.purpose, e.outcome) for e in events]
    assert (school.principal.id, "concern.create", "safeguarding", "ok") in summary
    assert (hub.principal.id, "concern.read", "strategy_meeting", "ok") in summary
    assert (school.principal.id, "concern.read", "safeguarding", "not_found") in summary
    for e in events:
        assert "Jayden" not in str(e.detail) and "Smith" not in str(e.detail)


async def test_refused_attempts_are_audited(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    r = await client.get("/api/v1/audit/events", headers=f.auth(school))
    assert r.status_code == 403
    async with db.session() as session:
        events = (await session.scalars(select(AuditEvent))).all()
    assert [(e.action, e.outcome) for e in events] == [("access.denied", "denied")]


async def test_sharing_decision_is_recorded_once(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    body = {
        "external_ref": "DEC-1",
        "decision": "not_shared",
        "reason": "Concern resolved in school the same day; no risk identified.",
        "decided_at": date.today().isoformat(),
    }
    a = await client.post("/api/v1/sharing-decisions", json=body, headers=f.auth(school))
    b = await client.post("/api/v1/sharing-decisions", json=body, headers=f.auth(school))
    assert (a.status_code, b.status_code) == (201, 200)
    assert a.json()["id"] == b.json()["id"]
    c = await client.post(
        "/api/v1/sharing-decisions",
        json={**body, "reason": "Something else entirely"},
        headers=f.auth(school),
    )
    assert c.status_code == 409
    extra = await client.post(
        "/api/v1/sharing-decisions",
        json={**body, "external_ref": "DEC-2", "child_name": "X"},
        headers=f.auth(school),
    )
    assert extra.status_code == 422 and "child_name" in extra.text


async def test_no_personal_data_in_logs(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    school = await f.agency(db)
    cid = (
        await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    ).json()["id"]
    await client.get(f"/api/v1/concerns/{cid}", headers=f.auth(school))
    await client.post(
        "/api/v1/concerns",
        json=f.submission(**{"child.nhs_number": "1234567890"}),
        headers=f.auth(school),
    )
    for needle in ("Jayden", "Kayleigh", "9434765919", "Mill Lane", "hungry"):
        assert needle not in caplog.text


async def test_openapi_publishes_vocabularies(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    text = str(schema["components"]["schemas"])
    for value in ("domestic_abuse", "dpa2018_sch1_para18", "not_sought", "child_protection_plan"):
        assert value in text
