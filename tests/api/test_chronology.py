"""The chronology export for strategy discussions (CSV and PDF), on both backends."""

import csv
import io

import httpx
from pypdf import PdfReader
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from tests import factories as f


async def _two_concerns(client: httpx.AsyncClient, db: Database) -> str:
    school = await f.agency(db)
    police = await f.agency(db, "West Yorkshire Police", "police")
    first = f.submission(
        "SCH-1",
        **{
            "concern.observed_at": "2026-10-01",
            "concern.summary": '=HYPERLINK("http://evil.example") came in hungry',
        },
    )
    second = f.submission(
        "POL-1",
        **{
            "concern.observed_at": "2026-09-12",
            "concern.category": "domestic_abuse",
            "concern.summary": "Attended a domestic incident at the home address.",
            "concern.practitioner": {
                "name": "PC Sam Oduya",
                "role": "Officer",
                "phone": "0113 000 0000",
            },
        },
    )
    for token, body in ((school, first), (police, second)):
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(token))
        assert r.status_code == 201, r.text
    async with db.session() as session:
        ids = set((await session.scalars(select(ChildRecord.child_id))).all())
    assert len(ids) == 1, "both concerns are about the same child"
    return str(ids.pop())


async def test_csv_has_one_row_per_concern_oldest_first_and_is_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    child_id = await _two_concerns(client, db)
    hub = await f.person(db)
    r = await client.get(
        f"/api/v1/children/{child_id}/chronology",
        params={"format": "csv", "recipient": "Strategy discussion 3 Dec"},
        headers={**f.auth(hub), "X-Purpose": "strategy_discussion"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["date", "kind", "agency"]
    concerns = [row for row in rows[1:] if row[1] == "concern"]
    assert [row[0] for row in concerns] == ["2026-09-12", "2026-10-01"]  # by date observed
    assert concerns[0][2] == "West Yorkshire Police"
    assert "PC Sam Oduya" in concerns[0][6] and "0113 000 0000" in concerns[0][7]
    assert "public_task" in concerns[0][8]
    # a summary that a spreadsheet would run as a formula is neutralised
    assert concerns[1][5].startswith("'=")
    async with db.session() as session:
        event = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "child.chronology_export")
            )
        ).one()
    assert event.object_id == child_id and event.purpose == "strategy_discussion"
    assert event.detail["recipient"] == "Strategy discussion 3 Dec"
    assert event.detail["format"] == "csv" and len(event.detail["concern_ids"]) == 2


async def test_pdf_marks_and_heads_every_page(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    for i in range(60):  # enough rows for several pages
        body = f.submission(
            f"SCH-{i}",
            **{
                "concern.observed_at": f"2026-0{1 + i % 9}-{10 + i % 18:02d}",
                "concern.summary": f"Concern number {i}: " + "details " * 30,
            },
        )
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(school))
        assert r.status_code == 201, r.text
    async with db.session() as session:
        child_id = (await session.scalars(select(ChildRecord.child_id))).first()
    hub = await f.person(db, "sam@hub.example")
    r = await client.get(
        f"/api/v1/children/{child_id}/chronology",
        params={"format": "pdf", "recipient": "Child protection conference"},
        headers=f.auth(hub),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) >= 2
    for number, pdf_page in enumerate(reader.pages, start=1):
        text = pdf_page.extract_text()
        assert "OFFICIAL-SENSITIVE" in text
        assert "Jayden Smith" in text and "2019-03-07" in text
        assert "sam@hub.example" in text and "Child protection conference" in text
        assert f"page {number} of {len(reader.pages)}" in text


async def test_export_refuses_bad_requests(client: httpx.AsyncClient, db: Database) -> None:
    child_id = await _two_concerns(client, db)
    hub = await f.person(db)
    school = await f.agency(db, "Another School", "school")
    url = f"/api/v1/children/{child_id}/chronology"
    no_recipient = await client.get(url, params={"format": "pdf"}, headers=f.auth(hub))
    assert no_recipient.status_code == 422
    assert "recipient" in str(no_recipient.json()["detail"][0]["loc"])
    bad_format = await client.get(
        url, params={"format": "docx", "recipient": "meeting"}, headers=f.auth(hub)
    )
    assert bad_format.status_code == 422
    agency = await client.get(url, params={"recipient": "meeting"}, headers=f.auth(school))
    assert agency.status_code == 403
    missing = await client.get(
        "/api/v1/children/nope/chronology", params={"recipient": "meeting"}, headers=f.auth(hub)
    )
    assert missing.status_code == 404
