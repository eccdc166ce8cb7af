"""Online identity resolution, the review queue, splits and merges, on both backends."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.children.models import Child, PairDecision
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.deferred import defer, touched
from aggregator.core.driver import write_deferred
from tests import factories as f
from tests.factories import DELETE


def child_body(ref: str, **child: Any) -> dict[str, Any]:
    """A concern whose child part is exactly `child` (plus nothing else)."""
    body = f.submission(ref, related_people=[])
    body["child"] = child
    return body


async def submit(client: httpx.AsyncClient, agency: f.IssuedToken, ref: str, **child: Any) -> str:
    r = await client.post("/api/v1/concerns", json=child_body(ref, **child), headers=f.auth(agency))
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id", "external_ref", "received_at"}  # the outcome is not revealed
    return str(r.json()["id"])


async def child_of(db: Database, concern_id: str) -> str:
    async with db.session() as session:
        rec = (
            await session.scalars(select(ChildRecord).where(ChildRecord.concern_id == concern_id))
        ).one()
        assert rec.child_id
        return rec.child_id


async def record_of(db: Database, concern_id: str) -> str:
    async with db.session() as session:
        return (
            await session.scalars(
                select(ChildRecord.id).where(ChildRecord.concern_id == concern_id)
            )
        ).one()


ALFIE = {
    "given_name": "Alfie",
    "family_name": "Smith",
    "date_of_birth": "2019-03-07",
    "address": {"line1": "12 Mill Lane", "town": "Leeds", "postcode": "LS6 2AB"},
}


async def test_one_child_from_four_agencies_written_differently(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db, "Millbrook Primary", "school")
    gp = await f.agency(db, "Riverside GP", "health")
    police = await f.agency(db, "WY Police", "police")
    housing = await f.agency(db, "Northgate Housing", "housing")
    hub = await f.person(db)
    ids = [
        await submit(client, school, "S-1", **ALFIE),
        await submit(
            client, gp, "G-1", **{**ALFIE, "given_name": "Alfred", "nhs_number": "9434765919"}
        ),
        await submit(
            client,
            police,
            "P-1",
            **{**ALFIE, "family_name": "Smtih", "date_of_birth": "2019-07-03"},
        ),
        await submit(
            client,
            housing,
            "H-1",
            **{
                **ALFIE,
                "address": {"line1": "4 Park Road", "town": "Leeds", "postcode": "LS7 3AB"},
            },
        ),
    ]
    children = {await child_of(db, c) for c in ids}
    assert len(children) == 1
    (child_id,) = children
    picture = (await client.get(f"/api/v1/children/{child_id}/picture", headers=f.auth(hub))).json()
    assert {t["concern_id"] for t in picture["timeline"]} == set(ids)
    assert {a["agency"]["name"] for a in picture["agencies"]} == {
        "Millbrook Primary",
        "Riverside GP",
        "WY Police",
        "Northgate Housing",
    }
    given = {v["value"]: v["agencies"] for v in picture["variants"]["given_name"]}
    assert given["Alfred"] == ["Riverside GP"]
    assert picture["identity"]["given_name"] == "Alfie"
    assert picture["identity"]["nhs_number"] == "9434765919"
    assert {v["value"] for v in picture["variants"]["date_of_birth"]} == {
        "2019-03-07",
        "2019-07-03",
    }
    types = {n["type"] for n in picture["graph"]["nodes"]}
    assert {"child", "concern", "agency", "practitioner", "address"} <= types


async def test_twins_and_siblings_at_one_address_stay_apart(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    home = {"line1": "3 Oak Street", "town": "Leeds", "postcode": "LS8 1AA"}
    mum = [{"relationship": "mother", "given_name": "Kayleigh", "family_name": "Brown"}]
    oliver = await submit(
        client,
        school,
        "T-1",
        given_name="Oliver",
        family_name="Brown",
        date_of_birth="2018-06-01",
        sex="male",
        address=home,
    )
    olivia = await submit(
        client,
        gp,
        "T-2",
        given_name="Olivia",
        family_name="Brown",
        date_of_birth="2018-06-01",
        sex="female",
        address=home,
    )
    body = child_body(
        "T-3", given_name="Oscar", family_name="Brown", date_of_birth="2020-02-11", address=home
    )
    body["related_people"] = mum
    oscar = (await client.post("/api/v1/concerns", json=body, headers=f.auth(school))).json()["id"]
    children = [await child_of(db, c) for c in (oliver, olivia, oscar)]
    assert len(set(children)) == 3
    picture = (
        await client.get(f"/api/v1/children/{children[0]}/picture", headers=f.auth(hub))
    ).json()
    members = {m["child_id"] for m in picture["household"]["members"]}
    assert members == {children[1], children[2]}
    assert all(m["concern_count"] == 1 for m in picture["household"]["members"])


async def test_shared_adult_links_a_household_across_addresses(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    hub = await f.person(db)
    a = child_body(
        "A-1",
        given_name="Maisie",
        family_name="Hart",
        date_of_birth="2016-01-05",
        address={"postcode": "LS9 7AA"},
    )
    a["related_people"] = [
        {"relationship": "mother", "given_name": "Kayleigh", "family_name": "Hart"}
    ]
    b = child_body(
        "A-2",
        given_name="Leo",
        family_name="Hart",
        date_of_birth="2021-09-30",
        address={"postcode": "LS9 9ZZ"},
    )
    b["related_people"] = [
        {"relationship": "mother", "given_name": "Kayley", "family_name": "Hart"}
    ]
    ca = (await client.post("/api/v1/concerns", json=a, headers=f.auth(school))).json()["id"]
    cb = (await client.post("/api/v1/concerns", json=b, headers=f.auth(school))).json()["id"]
    child_a, child_b = await child_of(db, ca), await child_of(db, cb)
    assert child_a != child_b
    picture = (await client.get(f"/api/v1/children/{child_a}/picture", headers=f.auth(hub))).json()
    assert [m["child_id"] for m in picture["household"]["members"]] == [child_b]


JACK_DOB = {"given_name": "Jack", "family_name": "Taylor", "date_of_birth": "2018-05-02"}
JACK_PC = {"given_name": "Jack", "family_name": "Taylor", "address": {"postcode": "LS1 4AP"}}


async def test_uncertain_pair_goes_to_review_and_same_child_merges(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    first = await submit(client, school, "J-1", **JACK_DOB)
    second = await submit(client, gp, "J-2", **JACK_PC)
    assert await child_of(db, first) != await child_of(db, second)
    queue = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    assert len(queue) == 1
    item = queue[0]
    assert 0.5 <= item["probability"] < 0.99
    assert {item["record"]["given_name"], item["candidate"]["given_name"]} == {"Jack"}
    fields = [c["field"] for c in item["contributions"]]
    assert fields[0] == "prior" and "given_name" in fields
    assert abs(sum(c["bits"] for c in item["contributions"]) - item["weight"]) < 0.01
    assert item["explanation"][-1].startswith("total:")
    assert any(line.startswith("given name: ") for line in item["explanation"])
    r = await client.post(
        f"/api/v1/review/{item['id']}/decision",
        json={"decision": "same_child", "note": "GP confirmed"},
        headers=f.auth(hub),
    )
    assert r.status_code == 200, r.text
    assert await child_of(db, first) == await child_of(db, second) == r.json()["child_id"]
    assert (await client.get("/api/v1/review", headers=f.auth(hub))).json() == []


async def test_different_children_is_never_overridden_by_the_algorithm(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    first = await submit(client, school, "J-1", **JACK_DOB)
    second = await submit(client, gp, "J-2", **JACK_PC)
    (item,) = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    r = await client.post(
        f"/api/v1/review/{item['id']}/decision",
        json={"decision": "different_children"},
        headers=f.auth(hub),
    )
    assert r.status_code == 200
    # A record matching both strongly would normally merge them; the ruling forbids it.
    bridge = await submit(client, school, "J-3", **JACK_DOB, **{"address": {"postcode": "LS1 4AP"}})
    kids = {await child_of(db, c) for c in (first, second, bridge)}
    assert await child_of(db, first) != await child_of(db, second)
    assert len(kids) == 2
    async with db.session() as session:
        rulings = (await session.scalars(select(PairDecision))).all()
    assert [d.decision for d in rulings] == ["different_children"]


async def test_bridging_record_merges_two_children_and_is_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    x = await submit(
        client, school, "B-1", given_name="Alfie", family_name="Smith", date_of_birth="2019-03-07"
    )
    y = await submit(
        client,
        gp,
        "B-2",
        given_name="Alfie",
        family_name="Smith",
        nhs_number="9434765919",
        address={"postcode": "LS6 2AB"},
    )
    assert await child_of(db, x) != await child_of(db, y)
    bridge = await submit(
        client,
        gp,
        "B-3",
        given_name="Alfie",
        family_name="Smith",
        date_of_birth="2019-03-07",
        nhs_number="9434765919",
        address={"postcode": "LS6 2AB"},
    )
    assert await child_of(db, x) == await child_of(db, y) == await child_of(db, bridge)
    async with db.session() as session:
        merges = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "child.merge"))
        ).all()
        absorbed = (
            await session.scalars(select(Child).where(Child.merged_into.is_not(None)))
        ).all()  # type: ignore[union-attr]
    assert len(merges) == 1
    assert merges[0].detail["bridging_record"] == await record_of(db, bridge)
    assert len(absorbed) == 1 and absorbed[0].merged_into == await child_of(db, x)


async def test_split_moves_the_right_concerns_and_merge_reverses_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    a = await submit(client, school, "S-1", **ALFIE)
    b = await submit(client, gp, "S-2", **{**ALFIE, "given_name": "Alfred"})
    c = await submit(client, school, "S-3", **ALFIE)
    child = await child_of(db, a)
    assert {await child_of(db, x) for x in (b, c)} == {child}
    r = await client.post(
        f"/api/v1/children/{child}/split",
        json={
            "record_ids": [await record_of(db, b)],
            "note": "Different child at the same address",
        },
        headers=f.auth(hub),
    )
    assert r.status_code == 200, r.text
    new_child = r.json()["child_id"]
    assert await child_of(db, b) == new_child
    assert await child_of(db, a) == await child_of(db, c) == child
    left = (await client.get(f"/api/v1/children/{child}/picture", headers=f.auth(hub))).json()
    right = (await client.get(f"/api/v1/children/{new_child}/picture", headers=f.auth(hub))).json()
    assert {t["concern_id"] for t in left["timeline"]} == {a, c}
    assert [t["concern_id"] for t in right["timeline"]] == [b]
    # a new record like the split one no longer re-merges the two
    d = await submit(client, gp, "S-4", **{**ALFIE, "given_name": "Alfred"})
    assert await child_of(db, a) != await child_of(db, b)
    assert await child_of(db, d) in {child, new_child}
    # a later decision by a person reverses the split
    merged = await client.post(
        f"/api/v1/children/{child}/merge", json={"child_id": new_child}, headers=f.auth(hub)
    )
    assert merged.status_code == 200
    assert len({await child_of(db, x) for x in (a, b, c)}) == 1
    async with db.session() as session:
        actions = [e.action for e in (await session.scalars(select(AuditEvent))).all()]
    assert "child.split" in actions and "child.merge" in actions


async def test_split_refuses_bad_requests(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    hub = await f.person(db)
    a = await submit(client, school, "S-1", **ALFIE)
    child = await child_of(db, a)
    only = await client.post(
        f"/api/v1/children/{child}/split",
        json={"record_ids": [await record_of(db, a)]},
        headers=f.auth(hub),
    )
    assert only.status_code == 422 and "at least one record" in only.text
    stranger = await client.post(
        f"/api/v1/children/{child}/split", json={"record_ids": ["nope"]}, headers=f.auth(hub)
    )
    assert stranger.status_code == 422
    missing = await client.post(
        "/api/v1/children/nope/split", json={"record_ids": ["x"]}, headers=f.auth(hub)
    )
    assert missing.status_code == 404


async def test_children_endpoints_are_for_the_hub_only_and_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    lead = await f.person(db, "lead@hub.example", "lead")
    a = await submit(client, school, "S-1", **ALFIE)
    child = await child_of(db, a)
    for path in ("/api/v1/children", f"/api/v1/children/{child}/picture", "/api/v1/review"):
        assert (await client.get(path, headers=f.auth(school))).status_code == 403
    r = await client.get(
        f"/api/v1/children/{child}/picture",
        headers={**f.auth(lead), "X-Purpose": "strategy_meeting"},
    )
    assert r.status_code == 200
    async with db.session() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "child.picture"))
        ).all()
    assert [(e.principal_id, e.purpose, e.object_id) for e in events] == [
        (lead.principal.id, "strategy_meeting", child)
    ]


async def test_children_list_filters_and_sorts(client: httpx.AsyncClient, db: Database) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    await submit(client, school, "S-1", **ALFIE)
    await submit(client, gp, "G-1", **{**ALFIE, "given_name": "Alfred"})
    await submit(
        client, school, "S-2", given_name="Zara", family_name="Khan", date_of_birth="2015-10-10"
    )
    page = (await client.get("/api/v1/children", headers=f.auth(hub))).json()
    assert page["total"] == 2
    assert page["items"][0]["agencies"] == 2 and page["items"][0]["concerns"] == 2
    two = (await client.get("/api/v1/children?min_agencies=2", headers=f.auth(hub))).json()
    assert [c["name"] for c in two["items"]] == ["Alfred Smith"] or two["items"][0]["agencies"] == 2
    assert two["total"] == 1
    none = (await client.get("/api/v1/children?category=missing", headers=f.auth(hub))).json()
    assert none["total"] == 0
    assert (await client.get("/api/v1/children?sort=bogus", headers=f.auth(hub))).status_code == 422


async def test_old_child_id_after_merge_still_finds_the_picture(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    hub = await f.person(db)
    first = await submit(client, school, "J-1", **JACK_DOB)
    await submit(client, school, "J-2", **JACK_PC)
    (item,) = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    old = item["record"]["child_id"]
    await client.post(
        f"/api/v1/review/{item['id']}/decision",
        json={"decision": "same_child"},
        headers=f.auth(hub),
    )
    pic = (await client.get(f"/api/v1/children/{old}/picture", headers=f.auth(hub))).json()
    assert pic["child_id"] == await child_of(db, first)
    assert pic["requested_id"] == old
    assert DELETE is not None


async def test_concurrent_decisions_on_one_item_end_consistent(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    lead = await f.person(db, "lead@hub.example", "lead")
    first = await submit(client, school, "J-1", **JACK_DOB)
    second = await submit(client, gp, "J-2", **JACK_PC)
    (item,) = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    url = f"/api/v1/review/{item['id']}/decision"
    a, b = await asyncio.gather(
        client.post(url, json={"decision": "same_child"}, headers=f.auth(hub)),
        client.post(url, json={"decision": "different_children"}, headers=f.auth(lead)),
    )
    # Issue 18: the later of two opposite decisions no longer silently wins: it is
    # refused, naming who decided first; reversing it is an explicit split or merge.
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    refused = a if a.status_code == 409 else b
    assert "already decided" in refused.json()["detail"]
    assert "@hub.example" in refused.json()["detail"]
    decided = (await client.get(f"/api/v1/review/{item['id']}", headers=f.auth(hub))).json()
    together = await child_of(db, first) == await child_of(db, second)
    # the decision that landed is the one in force, and the children agree with it
    assert together == (decided["decision"] == "same_child")
    again = await client.post(url, json={"decision": decided["decision"]}, headers=f.auth(hub))
    assert again.status_code == 200  # repeating the ruling in force is harmless


async def test_candidates_carry_other_names_as_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    from aggregator.children import repository as repo

    school = await f.agency(db)
    with_alias = await submit(client, school, "ON-1", **ALFIE, other_names=["Alfred James"])
    without = await submit(client, school, "ON-2", **{**ALFIE, "given_name": "Alfy"})
    records = {await record_of(db, with_alias): ("Alfred James",), await record_of(db, without): ()}
    async with db.session() as session:
        found = await repo.candidate_records(session, ["pc:LS62AB"], exclude="none")
    assert {rid: values[2] for rid, _, values in found} == records


async def test_candidates_share_two_usable_keys_or_an_identifier(
    client: httpx.AsyncClient, db: Database
) -> None:
    """One shared key alone (a birthday and an initial, one postcode) is mostly
    coincidence; two, or an NHS number, make a candidate, and so does being among
    the MIN_CANDIDATES records sharing the most keys."""
    from aggregator.children import repository as repo

    school = await f.agency(db)
    neighbour = await submit(
        client,
        school,
        "MS-0",
        given_name="Priya",
        family_name="Patel",
        date_of_birth="2012-11-02",
        address={"line1": "3 Oak Road", "town": "Leeds", "postcode": "LS6 2AB"},
    )
    same_nhs = await submit(
        client,
        school,
        "MS-1",
        given_name="Jordan",
        family_name="Okafor",
        date_of_birth="2015-01-20",
        nhs_number="9434765919",
    )
    # A new record's keys: a home, and Jordan's NHS number.
    new = ["ad:12|M400l", "pc:LS62AB", "nhs:9434765919"]
    async with db.session() as session:
        few = await repo.candidate_records(session, new, exclude="none")
    # Priya shares only the postcode, but with so few candidates she is among the best.
    assert {rid for rid, _, _ in few} == {
        await record_of(db, neighbour),
        await record_of(db, same_nhs),
    }

    # Enough records sharing the home (address and postcode) push her out.
    household = {
        await record_of(
            db, await submit(client, school, f"MS-H{i}", **{**ALFIE, "given_name": name})
        )
        for i, name in enumerate(
            ["Amy", "Ben", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Joe", "Kit", "Liv"]
        )
    }
    assert len(household) == repo.MIN_CANDIDATES
    async with db.session() as session:
        found = await repo.candidate_records(session, new, exclude="none")
        alone = await repo.candidate_records(session, ["pc:LS62AB"], exclude="none")
    assert {rid for rid, _, _ in found} == household | {await record_of(db, same_nhs)}
    # With a single usable key, one shared key is all there can be: every record counts.
    assert {rid for rid, _, _ in alone} == household | {await record_of(db, neighbour)}


async def test_concurrent_first_concerns_about_one_child_make_one_child(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The concern's insert takes the advisory locks of the record's keys, so a
    submission reads candidates only after an earlier one about the same child
    has committed (on SQLite, writers queue)."""
    agencies = [await f.agency(db, f"Agency {i}", "school") for i in range(4)]
    ids = await asyncio.gather(
        *(submit(client, a, f"RACE-{i}", **ALFIE) for i, a in enumerate(agencies))
    )
    assert len({await child_of(db, concern) for concern in ids}) == 1


async def test_a_merge_waits_for_a_submission_linking_to_the_child_it_absorbs(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A submission that touched a child (its row lock) and links a record to it,
    while a person merges that child away in another process: the merge marks the
    child merged first, so it waits, then moves the new record too."""
    from aggregator.children import repository as repo
    from aggregator.children.linking import merge_children

    if db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    school = await f.agency(db)
    absorbed, survivor, elsewhere = [
        await child_of(db, await submit(client, school, f"MW-{i}", **body))
        for i, body in enumerate(
            [
                ALFIE,
                {**ALFIE, "given_name": "Zara", "date_of_birth": "2016-08-30"},
                {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "2014-04-11"},
            ]
        )
    ]
    async with db.session() as session:
        moving = (await repo.record_ids_of(session, elsewhere))[0]

    submission = db.sessionmaker()
    defer(submission, [repo.touch_unless_merged(absorbed)])
    await write_deferred(submission)
    assert touched(submission, absorbed)
    await repo.move_records(submission, [moving], elsewhere, absorbed)

    async def merge() -> None:
        async with db.session() as session:
            a, s = await repo.get_child(session, absorbed), await repo.get_child(session, survivor)
            assert a is not None and s is not None
            await merge_children(session, s, a, None, reason="test", detail={})

    merging = asyncio.create_task(merge())
    await asyncio.sleep(0.5)  # the merge is now waiting (or, mis-ordered, half done)
    await submission.commit()
    await submission.close()
    await asyncio.wait_for(merging, 10)
    async with db.session() as session:
        assert moving in await repo.record_ids_of(session, survivor)


async def test_a_record_follows_a_merge_made_after_its_candidates_were_read(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: the merge commits between the submission reading its
    candidates and writing its record. The touch finds the child merged, and the
    record moves to the survivor (audited), as its concern's picture needs."""
    from aggregator.children import linking
    from aggregator.children import repository as repo
    from aggregator.children.linking import merge_children

    school = await f.agency(db)
    absorbed = await child_of(db, await submit(client, school, "FM-1", **ALFIE))
    zara = {**ALFIE, "given_name": "Zara", "date_of_birth": "2016-08-30"}
    survivor = await child_of(db, await submit(client, school, "FM-2", **zara))
    real = repo.candidate_records
    stale: list[Any] = []

    async def candidates_then_merge(session: Any, keys: Any, exclude: str) -> Any:
        found = await real(session, keys, exclude)  # still naming the absorbed child
        if not stale:
            stale.append(found)
            async with db.session() as other:
                a, s = await repo.get_child(other, absorbed), await repo.get_child(other, survivor)
                assert a is not None and s is not None
                await merge_children(other, s, a, None, reason="test", detail={})
        return found

    if db.dialect != "postgresql":  # one writer at a time: merge first, replay the read
        async with db.session() as session:
            rec = await repo.records_of(session, [absorbed])
            keys = linking.record_keys(rec[0])
            stale.append(await real(session, keys, "none"))
            a, s = await repo.get_child(session, absorbed), await repo.get_child(session, survivor)
            assert a is not None and s is not None
            await merge_children(session, s, a, None, reason="test", detail={})

        async def replay(session: Any, keys: Any, exclude: str) -> Any:
            return stale[0]

        monkeypatch.setattr(repo, "candidate_records", replay)
    else:
        monkeypatch.setattr(repo, "candidate_records", candidates_then_merge)
    concern = await submit(client, school, "FM-3", **ALFIE)
    assert stale and any(child == absorbed for _, child, _ in stale[0])
    assert await child_of(db, concern) == survivor
    async with db.session() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "record.link"))
        ).all()
    followed = [e.detail for e in events if e.detail.get("outcome") == "followed_merge"]
    assert followed == [{"outcome": "followed_merge", "from": absorbed, "child_id": survivor}]
