"""Dashboard pages record every child they show, like the API."""

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.audit.service import SHOWN
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from tests import factories as f
from tests.alerts.helpers import World, alerts, days_ago, sweep
from tests.api.test_audited_reads import siblings
from tests.api.test_linking import JACK_DOB, JACK_PC, child_of, submit
from tests.web.conftest import sign_in


async def shown(db: Database, child_id: str) -> list[tuple[str | None, str, str | None]]:
    """What a search of the trail for the child finds of the dashboard's reads."""
    async with db.session() as session:
        rows = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_id == child_id,  # type: ignore[arg-type]
                    AuditEvent.action == SHOWN,  # type: ignore[arg-type]
                )
            )
        ).all()
    return [
        (e.principal_id, e.detail["read"], e.detail.get("of"))
        for e in rows
        if e.detail.get("via") == "dashboard"
    ]


async def test_child_page_and_list_record_siblings_and_rows(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    oliver, olivia = await siblings(client, db)
    assert (await sign_in(client, "jo@hub.example")).status_code == 303
    page = await client.get(f"/children/{oliver}")
    assert page.status_code == 200 and "Olivia" in page.text
    assert (hub.principal.id, "child.picture", oliver) in await shown(db, olivia)
    listing = await client.get("/children?name=Brown")
    assert listing.status_code == 200 and "Oliver" in listing.text
    for child in (oliver, olivia):
        assert (hub.principal.id, "child.list", None) in await shown(db, child)


async def test_review_page_records_both_sides(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    first = await child_of(db, await submit(client, school, "J-1", **JACK_DOB))
    second = await child_of(db, await submit(client, gp, "J-2", **JACK_PC))
    assert (await sign_in(client, "jo@hub.example")).status_code == 303
    assert (await client.get("/review")).status_code == 200
    for child in (first, second):
        assert (hub.principal.id, "review.list", None) in await shown(db, child)


async def test_alert_inbox_and_page_record_the_child_they_name(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    world = World(db)
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(db)
    (alert,) = await alerts(db, child)
    assert (await sign_in(client, "jo@hub.example")).status_code == 303
    inbox = await client.get("/alerts")
    assert inbox.status_code == 200 and "Test Child" in inbox.text
    assert (await client.get(f"/alerts/{alert.id}")).status_code == 200
    found = await shown(db, child)
    assert (hub.principal.id, "alert.list", None) in found
    assert (hub.principal.id, "alert.read", alert.id) in found
