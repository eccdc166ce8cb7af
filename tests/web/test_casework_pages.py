"""Casework on the dashboard: assign, triage, note and resolve with an outcome from the
alert page; My work lists what is mine, soonest due first, overdue marked; leads see the team."""

import httpx

from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from alerts.models import Alert
from tests.alerts.helpers import NOW, World
from tests.web.conftest import csrf_from, person_with_password, sign_in


async def _alert(world: World, rule: str = "injury_under_6_months") -> str:
    db = world.db
    child_id = await world.child()
    concern_id = await world.concern(child_id, "Riverside Health Centre", "physical_abuse")
    async with db.session() as s:
        alert = Alert(
            rule_id=rule,
            child_id=child_id,
            severity="red",
            text="Injury to a baby under 6 months",
            rules_version="test",
            evidence={"concern_ids": [concern_id]},
            opened_at=NOW,  # a week before the test runs: past any window
        )
        s.add(alert)
    return alert.id


async def test_act_on_an_alert_from_its_page_and_see_it_in_my_work(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    world = World(db)
    first, second = await _alert(world), await _alert(world, "multi_agency_7d")
    await sign_in(client, "jo@hub.example")
    page = await client.get(f"/alerts/{first}")
    assert page.status_code == 200 and 'name="outcome"' in page.text
    token = csrf_from(page.text)
    for form in ("assign", "triage", "notes"):
        forged = await client.post(f"/alerts/{first}/{form}", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    r = await client.post(
        f"/alerts/{first}/assign",
        data={"assignee": "jo@hub.example", "version": "1", "csrf_token": token},
    )
    assert r.status_code == 303, r.text
    r = await client.post(
        f"/alerts/{first}/assign",
        data={"assignee": "nobody@x.example", "version": "2", "csrf_token": token},
    )
    assert r.status_code == 422 and "hub or lead" in r.text
    r = await client.post(
        f"/alerts/{first}/triage", data={"rating": "red", "version": "1", "csrf_token": token}
    )
    assert r.status_code == 409  # stale tab
    r = await client.post(
        f"/alerts/{first}/triage", data={"rating": "red", "version": "2", "csrf_token": token}
    )
    assert r.status_code == 303
    r = await client.post(
        f"/alerts/{first}/notes",
        data={"text": "Called the health visitor", "version": "3", "csrf_token": token},
    )
    assert r.status_code == 303
    page = await client.get(f"/alerts/{first}?done=noted")
    assert 'class="assignee">jo@hub.example' in page.text
    assert "Called the health visitor" in page.text and "by jo@hub.example" in page.text
    assert "overdue" in page.text  # opened long before the red window's 4 working hours
    # the second alert, assigned later and never triaged, comes after the first
    await client.post(
        f"/alerts/{second}/assign",
        data={"assignee": "jo@hub.example", "version": "1", "csrf_token": token},
    )
    work = await client.get("/my-work")
    assert work.status_code == 200 and 'href="/my-work"' in work.text
    assert work.text.index(f"/alerts/{first}") < work.text.index(f"/alerts/{second}")
    assert work.text.count('class="overdue"') == 1
    assert (await client.get("/my-work?view=team")).status_code == 403  # hub, not lead
    # resolve needs an outcome
    r = await client.post(
        f"/alerts/{first}/resolve",
        data={"reason": "Seen by the GP today", "version": "4", "csrf_token": token},
    )
    assert r.status_code == 422 and "choose its outcome" in r.text
    r = await client.post(
        f"/alerts/{first}/resolve",
        data={
            "reason": "Seen by the GP today",
            "outcome": "referred_to_childrens_social_care",
            "version": "4",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    page = await client.get(f"/alerts/{first}")
    assert "Referred to children&#39;s social care" in page.text
    work = await client.get("/my-work")
    assert f"/alerts/{first}" not in work.text and f"/alerts/{second}" in work.text


async def test_a_lead_sees_the_team(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    alert_id = await _alert(World(db))
    await person_with_password(db, "lee@hub.example", "lead")
    await sign_in(client, "jo@hub.example")
    token = csrf_from((await client.get(f"/alerts/{alert_id}")).text)
    await client.post(
        f"/alerts/{alert_id}/assign",
        data={"assignee": "jo@hub.example", "version": "1", "csrf_token": token},
    )
    await client.post("/sign-out", data={"csrf_token": token})
    await sign_in(client, "lee@hub.example")
    mine = await client.get("/my-work")
    assert f"/alerts/{alert_id}" not in mine.text
    team = await client.get("/my-work?view=team")
    assert team.status_code == 200 and f"/alerts/{alert_id}" in team.text
    assert "jo@hub.example" in team.text
