"""The alerts API: roles, filters, state changes, silences, subscriptions, dead letters."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.types import utcnow
from alerts.models import AlertNotification
from tests import factories as f
from tests.alerts.helpers import World, alerts, days_ago, sweep


async def _alert(world: World) -> tuple[str, str]:
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(world.db)
    (alert,) = await alerts(world.db, child)
    return child, alert.id


async def test_roles_hub_and_lead_only(aclient: httpx.AsyncClient, world: World) -> None:
    db = world.db
    _, alert_id = await _alert(world)
    agency = await f.agency(db, "Leeds Primary")
    admin = await f.person(db, "admin@hub.example", "admin")
    hub = await f.person(db, "hub@hub.example", "hub")
    lead = await f.person(db, "lead@hub.example", "lead")
    assert (await aclient.get("/api/v1/alerts")).status_code == 401
    for outsider in (agency, admin):
        r = await aclient.get("/api/v1/alerts", headers=f.auth(outsider))
        assert r.status_code == 403, r.text
        r = await aclient.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=f.auth(outsider))
        assert r.status_code == 403
    for insider in (hub, lead):
        r = await aclient.get("/api/v1/alerts", headers=f.auth(insider))
        assert r.status_code == 200 and r.json()["total"] == 1
    async with db.session() as s:
        denied = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))  # type: ignore[arg-type]
        ).all()
    assert len(denied) == 4


async def test_list_filter_read_acknowledge_resolve(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    page = (await aclient.get("/api/v1/alerts?state=open&severity=red", headers=lead)).json()
    assert [a["id"] for a in page["items"]] == [alert_id]
    assert (await aclient.get("/api/v1/alerts?severity=amber", headers=lead)).json()["total"] == 0
    assert (await aclient.get("/api/v1/alerts?rule=missing_exploitation", headers=lead)).json()[
        "total"
    ] == 1
    r = await aclient.get("/api/v1/alerts?rule=nonsense", headers=lead)
    assert r.status_code == 422 and "known rules" in r.text
    assert (await aclient.get("/api/v1/alerts?state=sleeping", headers=lead)).status_code == 422
    assert (await aclient.get("/api/v1/alerts/nope", headers=lead)).status_code == 404

    one = (await aclient.get(f"/api/v1/alerts/{alert_id}", headers=lead)).json()
    assert one["rule"] == "missing_exploitation" and one["severity"] == "red"
    assert len(one["evidence"]["concern_ids"]) == 2 and one["evidence"]["why"]
    assert one["link"] == f"https://hub.example/alerts/{alert_id}"

    r = await aclient.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=lead)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = await aclient.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=lead)
    assert r.status_code == 409 and "only an open alert" in r.text
    r = await aclient.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=lead)
    assert r.status_code == 422
    r = await aclient.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={"reason": "x", "outcome": "monitor", "version": 1},
        headers=lead,
    )
    assert r.status_code == 422  # reason too short
    r = await aclient.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={"reason": "Seen at home; plan agreed", "outcome": "advice_given", "version": 1},
        headers=lead,
    )
    assert r.status_code == 409 and "reload" in r.text  # stale version
    r = await aclient.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={"reason": "Seen at home; plan agreed", "outcome": "advice_given", "version": 2},
        headers=lead,
    )
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    assert r.json()["resolution_reason"] == "Seen at home; plan agreed"


async def test_concurrent_acknowledge_and_resolve_over_http(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    a = f.auth(await f.person(world.db, "a@hub.example", "lead"))
    b = f.auth(await f.person(world.db, "b@hub.example", "hub"))
    ack, res = await asyncio.gather(
        aclient.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=a),
        aclient.post(
            f"/api/v1/alerts/{alert_id}/resolve",
            json={"reason": "Known to CSC; plan in place", "outcome": "open_case_allocated_worker_informed"},
            headers=b,
        ),
    )
    assert {ack.status_code, res.status_code} <= {200, 409}
    final = (await aclient.get(f"/api/v1/alerts/{alert_id}", headers=a)).json()
    ok = [r for r in (ack, res) if r.status_code == 200]
    assert ok and final["version"] == 1 + len(ok)
    assert final["state"] == ("resolved" if res.status_code == 200 else "acknowledged")


async def test_silences_need_a_reason_and_an_expiry(
    aclient: httpx.AsyncClient, world: World
) -> None:
    child, alert_id = await _alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    future = (utcnow() + timedelta(days=2)).isoformat()
    assert (
        await aclient.post(
            "/api/v1/alerts/silences", json={"reason": "why", "expires_at": future}, headers=lead
        )
    ).status_code == 422  # neither child nor rule
    assert (
        await aclient.post(
            "/api/v1/alerts/silences", json={"child_id": child, "expires_at": future}, headers=lead
        )
    ).status_code == 422  # no reason
    past = (utcnow() - timedelta(hours=1)).isoformat()
    r = await aclient.post(
        "/api/v1/alerts/silences",
        json={"child_id": child, "reason": "Strategy meeting booked", "expires_at": past},
        headers=lead,
    )
    assert r.status_code == 422 and "future" in r.text
    r = await aclient.post(
        "/api/v1/alerts/silences",
        json={"rule": "nonsense", "reason": "Strategy meeting booked", "expires_at": future},
        headers=lead,
    )
    assert r.status_code == 422
    r = await aclient.post(
        "/api/v1/alerts/silences",
        json={"child_id": child, "reason": "Strategy meeting booked", "expires_at": future},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    silence = r.json()
    assert (await aclient.get(f"/api/v1/alerts/{alert_id}", headers=lead)).json()["silenced"]
    listed = (await aclient.get("/api/v1/alerts/silences", headers=lead)).json()
    assert [s["id"] for s in listed] == [silence["id"]]
    assert (
        await aclient.delete(f"/api/v1/alerts/silences/{silence['id']}", headers=lead)
    ).status_code == 200
    assert (await aclient.get("/api/v1/alerts/silences", headers=lead)).json() == []
    assert not (await aclient.get(f"/api/v1/alerts/{alert_id}", headers=lead)).json()["silenced"]


async def test_subscriptions_refuse_private_targets_unless_allowed(
    aclient: httpx.AsyncClient, world: World
) -> None:
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    hook = {"channel": "webhook", "target": "http://127.0.0.1:9/hook"}
    r = await aclient.post("/api/v1/alerts/subscriptions", json=hook, headers=lead)
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")  # tests allow loopback
    world.db.settings.webhook_allow_private = False
    for target in (
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/x",
        "http://[::1]/x",
    ):
        r = await aclient.post(
            "/api/v1/alerts/subscriptions",
            json={"channel": "webhook", "target": target},
            headers=lead,
        )
        assert r.status_code == 422 and "private" in r.text, target
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "webhook", "target": "ftp://x.example/"},
        headers=lead,
    )
    assert r.status_code == 422
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "email", "target": "lead@hub.example"},
        headers=lead,
    )
    assert r.status_code == 422 and "not configured" in r.text
    mine = (await aclient.get("/api/v1/alerts/subscriptions", headers=lead)).json()
    assert len(mine) == 1 and mine[0]["secret"] is None  # never shown again
    other = f.auth(await f.person(world.db, "other@hub.example", "lead"))
    assert (
        await aclient.delete(f"/api/v1/alerts/subscriptions/{mine[0]['id']}", headers=other)
    ).status_code == 404
    assert (
        await aclient.delete(f"/api/v1/alerts/subscriptions/{mine[0]['id']}", headers=lead)
    ).status_code == 204


async def test_dead_letters_are_visible_and_can_be_retried(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "webhook", "target": "http://127.0.0.1:9/hook"},
        headers=lead,
    )
    assert r.status_code == 201
    world.db.settings.delivery_max_attempts = 1
    await sweep(world.db)  # nothing new: the alert predates the subscription
    async with world.db.session() as s:
        from alerts.models import Alert
        from alerts.service import queue

        alert = await s.get(Alert, alert_id)
        assert alert is not None
        assert await queue(s, world.db.settings, alert, "opened") == 1
    from alerts.outbox import deliver_due

    stats = await deliver_due(world.db, world.db.settings)  # port 9: connection refused
    assert stats.dead == 1
    dead = (await aclient.get("/api/v1/alerts/notifications", headers=lead)).json()
    assert len(dead) == 1 and dead[0]["state"] == "dead" and dead[0]["last_error"]
    r = await aclient.post(f"/api/v1/alerts/notifications/{dead[0]['id']}/retry", headers=lead)
    assert r.status_code == 200 and r.json()["state"] == "pending"
    r = await aclient.post(f"/api/v1/alerts/notifications/{dead[0]['id']}/retry", headers=lead)
    assert r.status_code == 409
    async with world.db.session() as s:
        assert (await s.get(AlertNotification, dead[0]["id"])) is not None


async def test_the_picture_shows_open_alerts(client: httpx.AsyncClient, db: Database) -> None:
    police = await f.agency(db, "WY Police", "police")
    hub = await f.person(db)
    for ref, days in (("P-1", 2), ("P-2", 9)):
        body = f.submission(ref, **{"concern.category": "missing"})
        body["concern"]["observed_at"] = (date.today() - timedelta(days=days)).isoformat()
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(police))
        assert r.status_code == 201, r.text
    async with db.session() as s:
        child = (await s.scalars(select(ChildRecord.child_id))).first()  # type: ignore[call-overload]
    await sweep(db, datetime.now(UTC))
    picture = (await client.get(f"/api/v1/children/{child}/picture", headers=f.auth(hub))).json()
    assert [a["rule"] for a in picture["alerts"]] == ["missing_exploitation"]
