"""The child page's chronology export: a CSRF-protected form, audited as a disclosure."""

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from tests import factories as f
from tests.web.conftest import csrf_from, sign_in


async def test_child_page_exports_the_chronology(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    school = await f.agency(db)
    r = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
    assert r.status_code == 201
    async with db.session() as session:
        child_id = (await session.scalars(select(ChildRecord.child_id))).one()
    assert (await sign_in(client, "jo@hub.example")).status_code == 303
    page = await client.get(f"/children/{child_id}")
    assert page.status_code == 200
    assert "Export chronology" in page.text and "print-marking" in page.text
    url = f"/children/{child_id}/chronology"
    without_csrf = await client.post(url, data={"recipient": "Strategy meeting", "format": "csv"})
    assert without_csrf.status_code == 403
    token = csrf_from(page.text)
    no_recipient = await client.post(url, data={"recipient": " ", "csrf_token": token})
    assert no_recipient.status_code == 422 and "who the export is for" in no_recipient.text
    pdf = await client.post(
        url, data={"recipient": "Strategy meeting", "format": "pdf", "csrf_token": token}
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    async with db.session() as session:
        event = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "child.chronology_export")
            )
        ).one()
    assert event.detail["via"] == "dashboard" and event.detail["recipient"] == "Strategy meeting"
