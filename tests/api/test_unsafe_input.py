"""Issue 14, item 7: values no database can store are 422 naming the field, never 500.

Every test runs on SQLite and on PostgreSQL (the `db` fixture): a NUL byte only
breaks PostgreSQL, a lone surrogate and a 2^63 integer break both.
"""

import json
from typing import Any

import httpx
import pytest

from aggregator.core.db import Database
from tests import factories as f

SURROGATE = "\ud800"


def _post_json(client: httpx.AsyncClient, url: str, body: Any, **kw: Any) -> Any:
    # httpx refuses to encode a lone surrogate; json.dumps writes it as \ud800 like any client.
    return client.post(
        url, content=json.dumps(body), headers={"Content-Type": "application/json", **kw}
    )


def _locs(response: httpx.Response) -> list[list[Any]]:
    return [item["loc"] for item in response.json()["detail"]]


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        ("child.given_name", "Jay" + SURROGATE, ["body", "child", "given_name"]),
        ("child.given_name", "Jay\x00den", ["body", "child", "given_name"]),
        ("concern.summary", "Hungry\x00 again today", ["body", "concern", "summary"]),
        ("child.other_names", ["ok", "x" + SURROGATE], ["body", "child", "other_names", 1]),
        ("sharing.consent_reason", "risk" + SURROGATE + "!", ["body", "sharing", "consent_reason"]),
        ("child.address.postcode", "LS6\x002AB", ["body", "child", "address", "postcode"]),
    ],
)
async def test_unstorable_text_in_a_submission_is_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, path: str, value: Any, loc: list[Any]
) -> None:
    school = await f.agency(db)
    r = await _post_json(
        client, "/api/v1/concerns", f.submission(**{path: value}), **f.auth(school)
    )
    assert r.status_code == 422, r.text
    assert loc in _locs(r)
    assert "input" not in r.text  # the refused value is not echoed back


async def test_a_huge_integer_in_a_body_is_422(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    r = await _post_json(
        client, "/api/v1/concerns", f.submission(**{"concern.severity": 2**63}), **f.auth(school)
    )
    assert r.status_code == 422 and ["body", "concern", "severity"] in _locs(r)
    lead = f.auth(await f.person(db, role="lead"))
    r = await _post_json(
        client, "/api/v1/alerts/nope/resolve", {"reason": "a real reason", "version": 2**63}, **lead
    )
    assert r.status_code == 422 and ["body", "version"] in _locs(r)


@pytest.mark.parametrize("value", [2**63, 2**64 + 5, 10**30])
@pytest.mark.parametrize(
    ("url", "who"),
    [
        ("/api/v1/concerns?offset={}", "agency"),
        ("/api/v1/children?offset={}", "hub"),
        ("/api/v1/review?offset={}", "hub"),
        ("/api/v1/alerts?offset={}", "hub"),
        ("/api/v1/audit/events?before_id={}", "admin"),
    ],
)
async def test_offsets_and_cursors_of_2_63_and_above_are_422(
    client: httpx.AsyncClient, db: Database, url: str, who: str, value: int
) -> None:
    token = await (f.agency(db) if who == "agency" else f.person(db, role=who))
    r = await client.get(url.format(value), headers=f.auth(token))
    assert r.status_code == 422, r.text
    name = url.split("?")[1].split("=")[0]
    assert ["query", name] in _locs(r)


async def test_the_largest_64_bit_offset_is_an_empty_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    r = await client.get(f"/api/v1/concerns?offset={2**63 - 1}", headers=f.auth(school))
    assert r.status_code == 200 and r.json()["items"] == []


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/api/v1/children?name=Jay%00den", ["query", "name"]),
        ("/api/v1/children?postcode=LS6%002AB", ["query", "postcode"]),
        ("/api/v1/children/abc%00def/picture", ["path", "child_id"]),
        ("/api/v1/alerts?child_id=a%00b", ["query", "child_id"]),
        ("/api/v1/review/x%00y", ["path", "item_id"]),
    ],
)
async def test_nul_in_a_query_or_path_parameter_is_422(
    client: httpx.AsyncClient, db: Database, url: str, loc: list[str]
) -> None:
    hub = f.auth(await f.person(db))
    r = await client.get(url, headers=hub)
    assert r.status_code == 422, r.text
    assert loc in _locs(r)


async def test_nul_in_an_agency_read_path_is_422(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    r = await client.get("/api/v1/concerns/ab%00cd", headers=f.auth(school))
    assert r.status_code == 422 and ["path", "concern_id"] in _locs(r)


async def test_unstorable_text_in_other_bodies_is_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    hub = f.auth(await f.person(db))
    r = await _post_json(
        client,
        "/api/v1/review/whatever/decision",
        {"decision": "same_child", "note": "n" + SURROGATE},
        **hub,
    )
    assert r.status_code == 422 and ["body", "note"] in _locs(r)
    r = await _post_json(
        client, "/api/v1/children/c1/merge", {"child_id": "c\x00"}, **hub
    )
    assert r.status_code == 422 and ["body", "child_id"] in _locs(r)
    school = f.auth(await f.agency(db, name="Other School"))
    r = await _post_json(
        client,
        "/api/v1/sharing-decisions",
        {
            "external_ref": "R-1",
            "decision": "not_shared",
            "reason": "x\x00 reason",
            "decided_at": "2026-11-01",
        },
        **school,
    )
    assert r.status_code == 422 and ["body", "reason"] in _locs(r)


async def test_nul_in_a_sign_in_form_is_refused_not_500(
    client: httpx.AsyncClient, db: Database
) -> None:
    r = await client.post(
        "/sign-in", data={"email": "jo\x00@hub.example", "password": "pw", "next": "/"}
    )
    assert r.status_code == 422
    assert ["body", "email"] in _locs(r)


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",  # zero-width space
        "\u202e\u202c",  # right-to-left override, pop
        "\u2066\u2069\u200d",  # isolate, pop isolate, zero-width joiner
        "\ufeff\u00ad",  # BOM, soft hyphen
        "\u3164",  # Hangul filler: a letter drawn as nothing
        " \u200e ",
    ],
)
async def test_a_name_of_only_invisible_characters_is_refused(
    client: httpx.AsyncClient, db: Database, name: str
) -> None:
    school = await f.agency(db)
    r = await _post_json(
        client, "/api/v1/concerns", f.submission(**{"child.given_name": name}), **f.auth(school)
    )
    assert r.status_code == 422, r.text
    assert ["body", "child", "given_name"] in _locs(r)


async def test_invisible_characters_inside_names_are_stripped(
    client: httpx.AsyncClient, db: Database
) -> None:
    """`Jay\u202eden` would display reordered; the stored name is plain `Jayden`."""
    school = await f.agency(db)
    hub = f.auth(await f.person(db))
    body = f.submission(
        **{
            "child.given_name": "Jay\u202eden",
            "child.family_name": "Sm\u200bith\u2069",
            "related_people": [
                {"relationship": "mother", "given_name": "Kay\u200dleigh", "family_name": "Smith"}
            ],
        }
    )
    r = await _post_json(client, "/api/v1/concerns", body, **f.auth(school))
    assert r.status_code == 201, r.text
    view = (await client.get(f"/api/v1/concerns/{r.json()['id']}", headers=f.auth(school))).json()
    assert view["child"]["given_name"] == "Jayden"
    assert view["child"]["family_name"] == "Smith"
    assert view["related_people"][0]["given_name"] == "Kayleigh"
    listed = (await client.get("/api/v1/children?name=Jayden", headers=hub)).json()
    assert [c["name"] for c in listed["items"]] == ["Jayden Smith"]


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", None])
async def test_a_json_body_under_another_content_type_is_checked_too(
    client: httpx.AsyncClient, db: Database, content_type: str | None
) -> None:
    school = await f.agency(db)
    body = json.dumps(f.submission(**{"child.given_name": "Jay" + SURROGATE})).encode()
    headers = {**f.auth(school), **({"Content-Type": content_type} if content_type else {})}
    r = await client.post("/api/v1/concerns", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert ["body", "child", "given_name"] in _locs(r)


async def test_a_surrogate_sent_as_raw_bytes_is_422(client: httpx.AsyncClient, db: Database) -> None:
    """`json.loads` decodes the bytes ED A0 80 to a lone surrogate ("surrogatepass")."""
    school = await f.agency(db)
    body = json.dumps(f.submission(**{"child.given_name": "JayMARK"})).encode()
    body = body.replace(b"MARK", "\ud800".encode("utf-8", "surrogatepass"))
    r = await client.post(
        "/api/v1/concerns",
        content=body,
        headers={**f.auth(school), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert ["body", "child", "given_name"] in _locs(r)
