"""Every read that shows a child is found by a search of the trail for that child."""

from datetime import timedelta
from typing import Any

import httpx

from aggregator.core.db import Database
from aggregator.core.types import utcnow
from tests import factories as f
from tests.alerts.helpers import World, alerts, days_ago, sweep
from tests.api.test_linking import JACK_DOB, JACK_PC, child_of, submit

HOME = {"line1": "3 Oak Street", "town": "Leeds", "postcode": "LS8 1AA"}


async def who_viewed(
    client: httpx.AsyncClient, admin: f.IssuedToken, child_id: str
) -> list[tuple[str, str, Any, Any]]:
    """The admin's search of the trail by child: (who, action, read, of) of each event."""
    r = await client.get(f"/api/v1/audit/events?object_id={child_id}", headers=f.auth(admin))
    assert r.status_code == 200, r.text
    return [
        (e["principal_id"], e["action"], e["detail"].get("read"), e["detail"].get("of"))
        for e in r.json()
    ]


async def siblings(client: httpx.AsyncClient, db: Database) -> tuple[str, str]:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    a = await submit(client, school, "T-1", given_name="Oliver", family_name="Brown",
                     date_of_birth="2018-06-01", sex="male", address=HOME)  # fmt: skip
    b = await submit(client, gp, "T-2", given_name="Olivia", family_name="Brown",
                     date_of_birth="2018-06-01", sex="female", address=HOME)  # fmt: skip
    return await child_of(db, a), await child_of(db, b)


async def test_a_sibling_shown_in_a_picture_is_found_by_its_own_id(
    client: httpx.AsyncClient, db: Database
) -> None:
    oliver, olivia = await siblings(client, db)
    hub = await f.person(db)
    admin = await f.person(db, "ada@hub.example", "admin")
    picture = await client.get(f"/api/v1/children/{oliver}/picture", headers=f.auth(hub))
    assert [m["child_id"] for m in picture.json()["household"]["members"]] == [olivia]
    viewed = await who_viewed(client, admin, olivia)
    assert (hub.principal.id, "child.shown", "child.picture", oliver) in viewed
    assert (hub.principal.id, "child.picture", None, None) in await who_viewed(
        client, admin, oliver
    )
    # The searches themselves are reads of the trail, on the record too.
    r = await client.get("/api/v1/audit/events?action=audit.read", headers=f.auth(admin))
    reads = [e for e in r.json() if e["principal_id"] == admin.principal.id]
    assert len(reads) >= 2
    assert {e["detail"]["filters"].get("object_id") for e in reads} >= {oliver, olivia}


async def test_the_children_list_records_every_child_it_shows(
    client: httpx.AsyncClient, db: Database
) -> None:
    oliver, olivia = await siblings(client, db)
    hub = await f.person(db)
    admin = await f.person(db, "ada@hub.example", "admin")
    page = await client.get("/api/v1/children?name=Brown", headers=f.auth(hub))
    assert {c["child_id"] for c in page.json()["items"]} == {oliver, olivia}
    for child in (oliver, olivia):
        assert (hub.principal.id, "child.shown", "child.list", None) in await who_viewed(
            client, admin, child
        )


async def test_both_sides_of_a_review_item_are_recorded(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    admin = await f.person(db, "ada@hub.example", "admin")
    first = await child_of(db, await submit(client, school, "J-1", **JACK_DOB))
    second = await child_of(db, await submit(client, gp, "J-2", **JACK_PC))
    (item,) = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    assert (
        await client.get(f"/api/v1/review/{item['id']}", headers=f.auth(hub))
    ).status_code == 200
    for child in (first, second):
        viewed = await who_viewed(client, admin, child)
        assert (hub.principal.id, "child.shown", "review.list", None) in viewed
        assert (hub.principal.id, "child.shown", "review.read", item["id"]) in viewed


async def test_concern_reads_record_their_child_and_an_admin_is_refused_on_the_record(
    client: httpx.AsyncClient, db: Database
) -> None:
    oliver, _ = await siblings(client, db)
    hub = await f.person(db)
    admin = await f.person(db, "ada@hub.example", "admin")
    listed = (await client.get("/api/v1/concerns", headers=f.auth(hub))).json()["items"]
    one = await client.get(f"/api/v1/concerns/{listed[0]['id']}", headers=f.auth(hub))
    assert one.status_code == 200
    viewed = await who_viewed(client, admin, oliver)
    assert (hub.principal.id, "child.shown", "concern.list", None) in viewed
    for path in ("/api/v1/concerns", f"/api/v1/concerns/{listed[0]['id']}"):
        assert (await client.get(path, headers=f.auth(admin))).status_code == 403
    r = await client.get("/api/v1/audit/events?action=access.denied", headers=f.auth(admin))
    denied = [(e["principal_id"], e["detail"]["path"]) for e in r.json()]
    assert (admin.principal.id, "/api/v1/concerns") in denied
    assert (admin.principal.id, f"/api/v1/concerns/{listed[0]['id']}") in denied


async def test_alert_reads_silences_subscriptions_and_notifications_are_recorded(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = World(db)
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(db)
    (alert,) = await alerts(db, child)
    lead = await f.person(db, "lead@hub.example", "lead")
    admin = await f.person(db, "ada@hub.example", "admin")
    auth = f.auth(lead)
    assert (await client.get("/api/v1/alerts", headers=auth)).status_code == 200
    assert (await client.get(f"/api/v1/alerts/{alert.id}", headers=auth)).status_code == 200
    until = (utcnow() + timedelta(days=2)).isoformat()
    silence = {"child_id": child, "reason": "Strategy meeting held; plan agreed.",
               "expires_at": until}  # fmt: skip
    r = await client.post("/api/v1/alerts/silences", json=silence, headers=auth)
    assert r.status_code == 201, r.text
    for path in ("silences?active=false", "subscriptions", "notifications"):
        assert (await client.get(f"/api/v1/alerts/{path}", headers=auth)).status_code == 200
    viewed = await who_viewed(client, admin, child)
    assert (lead.principal.id, "child.shown", "alert.list", None) in viewed
    assert (lead.principal.id, "child.shown", "alert.read", alert.id) in viewed
    assert (lead.principal.id, "child.shown", "alert.silence.list", None) in viewed
    r = await client.get(f"/api/v1/audit/events?principal_id={lead.principal.id}",
                         headers=f.auth(admin))  # fmt: skip
    actions = {e["action"] for e in r.json()}
    assert {"alert.silence.list", "alert.subscription.list", "alert.notification.list"} <= actions
