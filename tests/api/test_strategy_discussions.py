"""Strategy discussions: the core agencies or a reason, listing, audit, the chronology."""

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from tests import factories as f
from tests.alerts.helpers import World

CORE = [
    {"agency_type": "childrens_social_care", "name": "Priya Shah", "role": "Team manager"},
    {"agency_type": "health", "name": "Dr Owen", "role": "Named GP"},
    {"agency_type": "police", "name": "DC Bell", "role": "PPU officer"},
]


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "held_at": "2026-11-30T10:00:00Z",
        "attendees": CORE,
        "reason": "Second missing episode with signs of exploitation",
        "decisions": "Section 47 enquiry; return home interview",
        "actions": [{"owner": "Priya Shah", "action": "Visit the family", "due": "2026-12-02"}],
        "next_review_at": "2026-12-07T10:00:00Z",
    }
    body.update(overrides)
    return body


async def test_record_list_and_chronology(client: httpx.AsyncClient, db: Database) -> None:
    child = await World(db).child()
    hub = f.auth(await f.person(db, "jo@hub.example", "hub"))
    url = f"/api/v1/children/{child}/strategy-discussions"
    r = await client.post(url, json=_body(), headers=hub)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["child_id"] == child and len(made["attendees"]) == 3
    assert made["actions"][0]["due"] == "2026-12-02"
    listed = await client.get(url, headers=hub)
    assert listed.status_code == 200 and [d["id"] for d in listed.json()] == [made["id"]]
    csv = await client.get(
        f"/api/v1/children/{child}/chronology",
        params={"format": "csv", "recipient": "Conference"},
        headers=hub,
    )
    assert csv.status_code == 200
    assert "strategy discussion" in csv.text and "Visit the family" in csv.text
    async with db.session() as s:
        actions = set((await s.scalars(select(AuditEvent.action))).all())  # type: ignore[call-overload]
    assert {"strategy_discussion.create", "strategy_discussion.list"} <= actions


async def test_a_core_agency_missing_needs_a_reason(
    client: httpx.AsyncClient, db: Database
) -> None:
    child = await World(db).child()
    hub = f.auth(await f.person(db, "jo@hub.example", "hub"))
    url = f"/api/v1/children/{child}/strategy-discussions"
    without_police = CORE[:2]
    r = await client.post(url, json=_body(attendees=without_police), headers=hub)
    assert r.status_code == 422 and "police" in r.text and "missing_attendee_reason" in r.text
    r = await client.post(
        url,
        json=_body(
            attendees=without_police, missing_attendee_reason="Police joined by email after"
        ),
        headers=hub,
    )
    assert r.status_code == 201, r.text
    assert r.json()["missing_attendee_reason"] == "Police joined by email after"
    bad = _body(attendees=[{"agency_type": "circus", "name": "x", "role": "y"}])
    assert (await client.post(url, json=bad, headers=hub)).status_code == 422
    naive = _body(held_at="2026-11-30T10:00:00")
    assert (await client.post(url, json=naive, headers=hub)).status_code == 422
    assert (await client.post(url, json={}, headers=hub)).status_code == 422


async def test_roles_and_unknown_child(client: httpx.AsyncClient, db: Database) -> None:
    child = await World(db).child()
    agency = f.auth(await f.agency(db, "Leeds Primary"))
    hub = f.auth(await f.person(db, "jo@hub.example", "hub"))
    url = f"/api/v1/children/{child}/strategy-discussions"
    assert (await client.post(url, json=_body(), headers=agency)).status_code == 403
    assert (await client.get(url, headers=agency)).status_code == 403
    r = await client.post("/api/v1/children/nope/strategy-discussions", json=_body(), headers=hub)
    assert r.status_code == 404
    assert (
        await client.get("/api/v1/children/nope/strategy-discussions", headers=hub)
    ).status_code == 404
