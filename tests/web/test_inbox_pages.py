"""The alert inbox through a hub's morning: every alert reachable, grouped by child,
filtered by severity and child; an alert page with what is needed to act."""

import re
from datetime import timedelta

import httpx
from sqlalchemy import update

from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from alerts.models import Alert
from tests.alerts.helpers import NOW, World
from tests.web.conftest import csrf_from, sign_in


async def _many_alerts(db: Database, children: int = 115) -> list[str]:
    """Two alerts for each child (one red, one amber): more than 200 open in all."""
    world = World(db)
    ids = []
    for i in range(children):
        child_id = await world.child()
        concern_id = await world.concern(child_id, "Leeds Primary School")
        async with db.session() as s:
            await s.execute(
                update(ChildRecord)
                .where(ChildRecord.child_id == child_id)  # type: ignore[arg-type]
                .values(given_name=f"Kid{i:03d}", family_name="Zephyrine" if i == 7 else "Smith")
            )
            for severity, rule, hours in (
                ("red", "injury_under_6_months", 0),
                ("amber", "multi_agency_7d", 1),
            ):
                s.add(
                    Alert(
                        rule_id=rule,
                        child_id=child_id,
                        severity=severity,
                        text=f"{rule} for {i}",
                        rules_version="test",
                        evidence={"concern_ids": [concern_id]},
                        opened_at=NOW - timedelta(hours=i * 2 + hours),
                    )
                )
        ids.append(child_id)
    return ids


async def test_inbox_reaches_every_alert_through_pages(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await _many_alerts(db)
    await sign_in(client, "jo@hub.example")
    first = await client.get("/alerts")
    assert first.status_code == 200
    assert "230 alerts." in first.text and "page 1 of 5" in first.text
    seen: set[str] = set()
    for number in range(1, 6):
        r = await client.get("/alerts", params={"page": number})
        seen |= set(re.findall(r'href="/alerts/([0-9a-f]+)"', r.text))
    assert len(seen) == 230
    # filters are kept on the pager's links
    red = await client.get("/alerts", params={"severity": "red"})
    assert "115 alerts." in red.text and "severity=red&amp;page=2" in red.text
    assert "amber</span>" not in red.text
    bad = await client.get("/alerts", params={"severity": "purple"})
    assert bad.status_code == 422
    too_far = await client.get("/alerts", params={"page": 10_001})
    assert too_far.status_code == 422


async def test_inbox_groups_by_child_and_finds_a_child(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await _many_alerts(db, children=60)
    await sign_in(client, "jo@hub.example")
    grouped = await client.get("/alerts", params={"view": "child"})
    assert "60 children with matching alerts." in grouped.text
    assert grouped.text.count('class="child-group"') == 50  # 50 children a page
    found = await client.get("/alerts", params={"child": "Zephyrine"})
    assert "2 alerts." in found.text and "Kid007 Zephyrine" in found.text


async def test_alert_page_shows_what_was_seen_who_to_call_and_the_age(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    world = World(db)
    child_id = await world.child()
    born = (NOW - timedelta(weeks=10)).date().isoformat()
    concern_id = await world.concern(
        child_id, "Riverside Health Centre", "physical_abuse", dob=born
    )
    async with db.session() as s:
        await s.execute(
            update(Concern)
            .where(Concern.id == concern_id)  # type: ignore[arg-type]
            .values(
                summary="Bruise on the cheek of a non-mobile baby",
                practitioner_name="Dr Amina Shah",
                practitioner_phone="0113 496 0000",
            )
        )
        alert = Alert(
            rule_id="injury_under_6_months",
            child_id=child_id,
            severity="red",
            text="Injury to a baby under 6 months",
            rules_version="test",
            evidence={"concern_ids": [concern_id]},
        )
        s.add(alert)
    await sign_in(client, "jo@hub.example")
    r = await client.get(f"/alerts/{alert.id}")
    assert r.status_code == 200
    assert "Bruise on the cheek of a non-mobile baby" in r.text
    assert "Dr Amina Shah" in r.text and "0113 496 0000" in r.text
    assert re.search(r"child-age\">\d+ weeks old|child-age\">\d+ months old", r.text)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST)", r.text)
    # a too-short reason comes back with what was typed
    short = await client.post(
        f"/alerts/{alert.id}/resolve",
        data={"reason": "ok", "version": "1", "csrf_token": csrf_from(r.text)},
    )
    assert short.status_code == 422
    assert ">ok</textarea>" in short.text and "Write why the alert is resolved" in short.text


async def test_home_shows_what_needs_action(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    await _many_alerts(db, children=3)
    await sign_in(client, "jo@hub.example")
    home = await client.get("/")
    counts = dict(
        (label, int(n))
        for n, label in re.findall(
            r'<span class="stat-value">(\d+)</span><span class="stat-label">([^<]+)</span>',
            home.text,
        )
    )
    assert counts["red alerts open"] == 3 and counts["amber alerts open"] == 3
    assert counts["open alerts nobody has taken on"] == 6
    assert counts["possible matches to review"] == 0
