"""Why an agency gave no NHS number (issue 17): validated, stored, shown in the picture."""

import httpx
import pytest
from sqlalchemy import select

from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.db import Database
from tests import factories as f
from tests.web.conftest import person_with_password, sign_in


def _body(ref: str, **child: object) -> dict[str, object]:
    return f.submission(
        ref,
        **{"child.nhs_number": None, **{f"child.{k}": v for k, v in child.items()}},
    )


async def _record(db: Database, concern_id: str) -> ChildRecord:
    async with db.session() as session:
        return (
            await session.scalars(select(ChildRecord).where(ChildRecord.concern_id == concern_id))
        ).one()


@pytest.mark.parametrize("reason", ["unknown", "not_yet_issued", "withheld_more_detrimental"])
async def test_reason_is_stored_and_returned_to_the_agency(
    client: httpx.AsyncClient, db: Database, reason: str
) -> None:
    school = await f.agency(db)
    r = await client.post(
        "/api/v1/concerns",
        json=_body("R-1", nhs_number_missing_reason=reason),
        headers=f.auth(school),
    )
    assert r.status_code == 201, r.text
    assert (await _record(db, r.json()["id"])).nhs_number_missing_reason == reason
    mine = await client.get(f"/api/v1/concerns/{r.json()['id']}", headers=f.auth(school))
    assert mine.status_code == 200, mine.text
    assert mine.json()["child"]["nhs_number_missing_reason"] == reason


async def test_another_reason_is_422_naming_the_field(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    r = await client.post(
        "/api/v1/concerns",
        json=_body("R-1", nhs_number_missing_reason="forgot"),
        headers=f.auth(school),
    )
    assert r.status_code == 422, r.text
    assert "nhs_number_missing_reason" in r.text
    async with db.session() as session:
        assert (await session.scalars(select(Concern))).first() is None


async def test_a_reason_beside_an_nhs_number_is_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    r = await client.post(
        "/api/v1/concerns",
        json=_body("R-1", nhs_number="9434765919", nhs_number_missing_reason="unknown"),
        headers=f.auth(school),
    )
    assert r.status_code == 422, r.text
    assert "nhs_number_missing_reason" in r.text


async def test_picture_and_child_page_show_the_reason_until_a_number_arrives(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    first = await client.post(
        "/api/v1/concerns",
        json=_body("R-1", nhs_number_missing_reason="not_yet_issued"),
        headers=f.auth(school),
    )
    assert first.status_code == 201, first.text
    child_id = (await _record(db, first.json()["id"])).child_id
    picture = (await client.get(f"/api/v1/children/{child_id}/picture", headers=f.auth(hub))).json()
    assert picture["identity"]["nhs_number"] is None
    assert picture["identity"]["nhs_number_missing_reason"] == "not_yet_issued"
    (variant,) = picture["variants"]["nhs_number_missing_reason"]
    assert variant["value"] == "not_yet_issued" and variant["agencies"] == ["Leeds Primary School"]

    await person_with_password(db, "lee@hub.example", "hub")
    signed_in = await sign_in(client, "lee@hub.example")
    assert signed_in.status_code in (200, 303), signed_in.text
    page = await client.get(f"/children/{child_id}")
    assert page.status_code == 200, page.text
    assert "not given: not yet issued" in page.text

    # The GP then gives the number: the picture shows it and no longer a reason.
    later = await client.post("/api/v1/concerns", json=f.submission("G-1"), headers=f.auth(gp))
    assert later.status_code == 201, later.text
    assert (await _record(db, later.json()["id"])).child_id == child_id
    picture = (await client.get(f"/api/v1/children/{child_id}/picture", headers=f.auth(hub))).json()
    assert picture["identity"]["nhs_number"] == "9434765919"
    assert picture["identity"]["nhs_number_missing_reason"] is None
