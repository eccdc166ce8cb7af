"""Casework over HTTP: assign, triage against the clock, notes, resolve with an outcome,
and the referring agency's `hub_response` (issue 19)."""

from datetime import date, timedelta

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.core.types import utcnow
from alerts import casework, service
from alerts.history import hub_actions_for_child
from alerts.models import Alert, AlertSubscription
from alerts.timescales import load_timescales
from tests import factories as f
from tests.alerts.helpers import NOW, World, alerts, days_ago, jobs_at, notifications, sweep


async def _alert(world: World) -> tuple[str, str]:
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(world.db)
    (alert,) = await alerts(world.db, child)
    return child, alert.id


async def _actions(world: World) -> list[str]:
    async with world.db.session() as s:
        rows = (await s.scalars(select(AuditEvent.action))).all()  # type: ignore[call-overload]
    return list(rows)


async def test_assign_to_staff_only_and_compare_and_set(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    await f.person(world.db, "sam@hub.example", "hub")
    await f.person(world.db, "admin@hub.example", "admin")
    url = f"/api/v1/alerts/{alert_id}/assign"
    for who in ("nobody@hub.example", "admin@hub.example"):
        r = await aclient.post(url, json={"assignee": who}, headers=lead)
        assert r.status_code == 422 and "hub or lead" in r.text
    r = await aclient.post(url, json={"assignee": "sam@hub.example", "version": 9}, headers=lead)
    assert r.status_code == 409
    r = await aclient.post(url, json={"assignee": "sam@hub.example", "version": 1}, headers=lead)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["assignee"] == "sam@hub.example" and body["version"] == 2
    assert body["notes"][-1]["kind"] == "assigned"
    r = await aclient.post(url, json={"assignee": "lead@hub.example", "version": 1}, headers=lead)
    assert r.status_code == 409  # a stale tab
    assert (await aclient.get(f"/api/v1/alerts/{alert_id}", headers=lead)).json()[
        "assignee"
    ] == "sam@hub.example"
    agency = f.auth(await f.agency(world.db, "Leeds Primary"))
    r = await aclient.post(url, json={"assignee": "sam@hub.example"}, headers=agency)
    assert r.status_code == 403
    assert "alert.assign" in await _actions(world)


async def test_acknowledging_makes_the_acknowledger_the_assignee(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    hub = f.auth(await f.person(world.db, "jo@hub.example", "hub"))
    r = await aclient.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=hub)
    assert r.json()["assignee"] == "jo@hub.example"


async def test_triage_sets_due_in_working_time_and_rating_changes_need_a_rationale(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _alert(world)
    (alert,) = await alerts(world.db)
    hub = f.auth(await f.person(world.db, "jo@hub.example", "hub"))
    url = f"/api/v1/alerts/{alert_id}/triage"
    assert (await aclient.post(url, json={"rating": "purple"}, headers=hub)).status_code == 422
    r = await aclient.post(url, json={"rating": "green", "version": 1}, headers=hub)
    assert r.status_code == 200, r.text
    ts = load_timescales()
    body = r.json()
    assert body["rating"] == "green"
    assert body["due_at"].replace("Z", "+00:00") == ts.due("green", alert.opened_at).isoformat()
    # opened in the helpers' past (25 November 2026): overdue now
    assert body["overdue"] is True
    r = await aclient.post(url, json={"rating": "red"}, headers=hub)
    assert r.status_code == 422 and "rationale" in r.text
    r = await aclient.post(
        url, json={"rating": "red", "rationale": "Second missing episode in a week"}, headers=hub
    )
    assert r.status_code == 200
    body = r.json()
    assert body["rating"] == "red"
    assert body["due_at"].replace("Z", "+00:00") == ts.due("red", alert.opened_at).isoformat()
    triaged = [n for n in body["notes"] if n["kind"] == "triaged"]
    assert [n["rating"] for n in triaged] == ["green", "red"]
    assert triaged[-1]["previous_rating"] == "green"
    assert "Second missing episode" in triaged[-1]["text"]
    r = await aclient.post(
        url, json={"rating": "amber", "rationale": "why", "version": 2}, headers=hub
    )
    assert r.status_code == 409
    assert (await _actions(world)).count("alert.triage") == 2


async def test_notes_with_author_and_time(aclient: httpx.AsyncClient, world: World) -> None:
    _, alert_id = await _alert(world)
    hub = f.auth(await f.person(world.db, "jo@hub.example", "hub"))
    url = f"/api/v1/alerts/{alert_id}/notes"
    assert (await aclient.post(url, json={"text": "  "}, headers=hub)).status_code == 422
    assert (await aclient.post(url, json={}, headers=hub)).status_code == 422
    r = await aclient.post(url, json={"text": "Rang the school: attending today"}, headers=hub)
    assert r.status_code == 201, r.text
    note = r.json()["notes"][-1]
    assert note["kind"] == "note" and note["author"] == "jo@hub.example"
    assert note["text"] == "Rang the school: attending today" and note["at"]
    r = await aclient.post(url, json={"text": "again", "version": 1}, headers=hub)
    assert r.status_code == 409
    assert "alert.note" in await _actions(world)


async def test_resolve_needs_an_outcome_kept_in_the_chronology(
    aclient: httpx.AsyncClient, world: World
) -> None:
    child, alert_id = await _alert(world)
    hub = f.auth(await f.person(world.db, "jo@hub.example", "hub"))
    url = f"/api/v1/alerts/{alert_id}/resolve"
    r = await aclient.post(url, json={"reason": "Return home interview done"}, headers=hub)
    assert r.status_code == 422 and "outcome" in r.text
    r = await aclient.post(
        url, json={"reason": "Return home interview done", "outcome": "shrug"}, headers=hub
    )
    assert r.status_code == 422
    r = await aclient.post(
        url, json={"reason": "Return home interview done", "outcome": "early_help"}, headers=hub
    )
    assert r.status_code == 200 and r.json()["outcome"] == "early_help"
    assert r.json()["overdue"] is False
    async with world.db.session() as s:
        actions = await hub_actions_for_child(s, child)
    resolved = [a for a in actions if a.action == "alert resolved"]
    assert resolved and "outcome: Early help" in resolved[0].text
    schema = (await aclient.get("/openapi.json")).json()["components"]["schemas"]
    assert "section_47_enquiry" in schema["Outcome"]["enum"]


async def _submit(client: httpx.AsyncClient, token: dict[str, str], ref: str, days: int) -> str:
    body = f.submission(
        ref,
        **{
            "concern.category": "missing",
            "concern.observed_at": (date.today() - timedelta(days=days)).isoformat(),
        },
    )
    r = await client.post("/api/v1/concerns", json=body, headers=token)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_the_referrer_sees_the_hub_response_and_no_one_else(
    aclient: httpx.AsyncClient, world: World
) -> None:
    db = world.db
    police = f.auth(await f.agency(db, "West Yorkshire Police", "police"))
    school = f.auth(await f.agency(db, "Leeds Primary", "school"))
    hub = f.auth(await f.person(db, "jo@hub.example", "hub"))
    first = await _submit(aclient, police, "POL-1", 3)
    second = await _submit(aclient, police, "POL-2", 8)
    # the school's concern is about another child and is evidence for nothing
    other = f.submission(
        "SCH-9", **{"child.given_name": "Amara", "child.nhs_number": None, "child.upn": None}
    )
    other["child"]["date_of_birth"] = "2012-01-01"
    other["child"]["address"] = {"line1": "1 High St", "town": "York", "postcode": "YO1 7HH"}
    r = await aclient.post("/api/v1/concerns", json=other, headers=school)
    assert r.status_code == 201, r.text
    school_concern = r.json()["id"]

    def response(r: httpx.Response) -> object:
        assert r.status_code == 200, r.text
        return r.json()["hub_response"]

    assert response(await aclient.get(f"/api/v1/concerns/{first}", headers=police)) is None
    await sweep(db, utcnow())
    (alert,) = [a for a in await alerts(db) if first in a.evidence["concern_ids"]]
    got = response(await aclient.get(f"/api/v1/concerns/{first}", headers=police))
    assert isinstance(got, dict) and got["status"] == "received" and got["outcome"] is None
    assert got["contact"] == "the safeguarding hub's duty desk"
    await aclient.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=hub)
    got = response(await aclient.get(f"/api/v1/concerns/{second}", headers=police))
    assert isinstance(got, dict) and got["status"] == "under_review"
    r = await aclient.post(
        f"/api/v1/alerts/{alert.id}/resolve",
        json={"reason": "Strategy discussion held", "outcome": "strategy_discussion"},
        headers=hub,
    )
    assert r.status_code == 200, r.text
    got = response(await aclient.get(f"/api/v1/concerns/{first}", headers=police))
    assert isinstance(got, dict)
    assert got["status"] == "responded" and got["outcome"] == "strategy_discussion" and got["at"]
    # the school, whose concern is not evidence, sees nothing new
    assert response(await aclient.get(f"/api/v1/concerns/{school_concern}", headers=school)) is None
    assert (await aclient.get(f"/api/v1/concerns/{first}", headers=school)).status_code == 404
    # hub staff reading the concern do not get the referrer's loop-closing view
    assert response(await aclient.get(f"/api/v1/concerns/{first}", headers=hub)) is None


async def test_an_overdue_decision_escalates_once(world: World) -> None:
    db = world.db
    _, alert_id = await _alert(world)  # opened Wednesday 25 November 2026, 12:00 UTC
    lead = (await f.person(db, "lead@hub.example", "lead")).principal
    manager = (await f.person(db, "manager@hub.example", "hub")).principal
    async with db.session() as s:
        s.add(
            AlertSubscription(
                principal_id=manager.id,
                channel="webhook",
                target="http://127.0.0.1:9/hook",
                secret="whsec_test",
                level=1,
            )
        )
    async with db.session() as s:
        a = await s.get(Alert, alert_id)
        assert a is not None
        await service.acknowledge(s, a, lead, NOW)  # the ordinary escalation stops
        await casework.triage(s, a, lead, "red", None, load_timescales(), NOW)
        assert a.due_at == NOW + timedelta(hours=4)
    assert await jobs_at(db, NOW + timedelta(hours=3, minutes=59)).escalate() == 0
    assert await jobs_at(db, NOW + timedelta(hours=4, minutes=1)).escalate() == 1
    assert await jobs_at(db, NOW + timedelta(hours=5)).escalate() == 0  # once per due time
    overdue = [n for n in await notifications(db) if n.event == "overdue"]
    assert [n.alert_id for n in overdue] == [alert_id]
    assert overdue[0].subscription_id and overdue[0].payload["event"] == "alert.overdue"
    (a,) = await alerts(db)
    assert a.notes[-1]["kind"] == "overdue"
