"""Searching for a child the way hubs do: NHS number, UPN, misspelled names, UK dates."""

import httpx

from aggregator.core.db import Database
from tests import factories as f
from tests.web.conftest import person_with_password, sign_in

FAIRWEATHER = {
    "child.given_name": "Poppy",
    "child.family_name": "Fairweather",
    "child.date_of_birth": "2009-10-17",
    "child.nhs_number": "9434765870",
    "child.upn": "B801200005001",
    "child.other_names": [],
}


async def _two_children(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    for ref, body in (
        ("P-1", f.submission("P-1", **FAIRWEATHER)),
        ("J-1", f.submission("J-1")),  # Jayden Smith, another NHS number
    ):
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(school))
        assert r.status_code == 201, (ref, r.text)


async def test_search_by_identifier_fuzzy_name_and_uk_date(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _two_children(client, db)
    hub = await f.person(db)

    async def names(**params: str) -> list[str]:
        r = await client.get("/api/v1/children", params=params, headers=f.auth(hub))
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert await names(nhs_number="943 476 5870") == ["Poppy Fairweather"]
    assert await names(upn="b801200005001") == ["Poppy Fairweather"]
    assert await names(name="Fairwether") == ["Poppy Fairweather"]  # misspelled
    assert await names(name="Popy Fairwether") == ["Poppy Fairweather"]
    assert await names(name="Fairwether", date_of_birth="17/10/2009") == ["Poppy Fairweather"]
    assert await names(date_of_birth="2009-10-17") == ["Poppy Fairweather"]
    assert await names(name="Fairwether", date_of_birth="18/10/2009") == []
    assert await names(nhs_number="9434765919") == ["Jayden Smith"]
    for params, field in (
        ({"nhs_number": "12345"}, "nhs_number"),
        ({"upn": "short"}, "upn"),
        ({"date_of_birth": "31/02/2009"}, "date_of_birth"),
    ):
        r = await client.get("/api/v1/children", params=params, headers=f.auth(hub))
        assert r.status_code == 422, params
        assert r.json()["detail"][0]["loc"] == ["query", field]


async def test_children_page_understands_uk_dates_and_identifiers(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _two_children(client, db)
    await person_with_password(db, "lee@hub.example", "hub")
    await sign_in(client, "lee@hub.example")
    by_date = await client.get("/children", params={"dob": "17/10/2009"})
    assert by_date.status_code == 200
    assert "Poppy Fairweather" in by_date.text and "Jayden Smith" not in by_date.text
    by_nhs = await client.get("/children", params={"nhs_number": "9434765870"})
    assert "Poppy Fairweather" in by_nhs.text and "Jayden Smith" not in by_nhs.text
    fuzzy = await client.get("/children", params={"name": "Fairwether"})
    assert "Poppy Fairweather" in fuzzy.text
    bad = await client.get("/children", params={"dob": "next tuesday"})
    assert bad.status_code == 422 and "17/10/2009" in bad.text
