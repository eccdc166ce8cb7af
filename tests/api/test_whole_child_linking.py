"""Issue 17: whole-child matching, exclusive identifiers, evidence that scales,
decisions revisited as evidence arrives, and relink; on both backends."""

import random
from itertools import combinations
from typing import Any

import httpx
from sqlalchemy import select

from aggregator.audit.models import AuditEvent
from aggregator.children import frequencies, model_store
from aggregator.children.relink import RelinkRun, relink
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.core.db import Database
from matching import MatchModel
from matching.features import Features
from matching.records import ChildRecord as MatchRecord
from tests import factories as f
from tests.api.test_linking import child_of, record_of, submit

NHS_A, NHS_B = "9434765919", "9434765927"


async def children_by_ref(db: Database) -> dict[str, str]:
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Concern.external_ref, ChildRecord.child_id).join(
                    ChildRecord, ChildRecord.concern_id == Concern.id
                )
            )
        ).all()
    return {ref: child for ref, child in rows}


async def test_same_name_different_birthday_and_postcode_stay_apart(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    a = await submit(
        client,
        school,
        "A-1",
        given_name="Oliver",
        family_name="Jones",
        date_of_birth="2017-11-08",
        address={"line1": "134 Station Drive", "postcode": "LS19 4JH"},
    )
    b = await submit(
        client,
        gp,
        "B-1",
        given_name="Oliver",
        family_name="Jones",
        date_of_birth="2015-02-21",
        address={"line1": "11 Station Road", "postcode": "LE10 3ZU"},
    )
    assert await child_of(db, a) != await child_of(db, b)
    # a street of the same name in another postcode district is no evidence
    c = await submit(
        client,
        gp,
        "C-1",
        given_name="Oliver",
        family_name="Jones",
        sex="male",
        address={"line1": "11 Station Drive", "postcode": "LE10 3ZU"},
    )
    assert await child_of(db, c) != await child_of(db, a)


async def test_name_and_postcode_only_record_does_not_join_a_child_elsewhere(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    full = await submit(
        client,
        school,
        "F-1",
        given_name="Amelia",
        family_name="Smith",
        date_of_birth="2020-04-15",
        address={"line1": "140 Cromwell Lane", "postcode": "LE16 6NE"},
    )
    sparse = await submit(
        client,
        gp,
        "S-1",
        given_name="Amelia",
        family_name="Smith",
        address={"postcode": "WF9 2DH"},
    )
    assert await child_of(db, sparse) != await child_of(db, full)


async def test_no_child_ever_holds_two_valid_nhs_numbers(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    hub = await f.person(db)
    alfie = {
        "given_name": "Alfie",
        "family_name": "Smith",
        "date_of_birth": "2019-03-07",
        "address": {"line1": "12 Mill Lane", "postcode": "LS6 2AB"},
    }
    first = await submit(client, school, "N-1", **alfie, nhs_number=NHS_A)
    # everything else agrees, but the number is another valid one: another child
    other = await submit(client, gp, "N-2", **alfie, nhs_number=NHS_B)
    assert await child_of(db, first) != await child_of(db, other)
    # a record without a number, matching both, merges nothing
    bridge = await submit(client, gp, "N-3", **alfie)
    children = {await child_of(db, c) for c in (first, other, bridge)}
    assert len(children) >= 2 and await child_of(db, first) != await child_of(db, other)
    queue = (await client.get("/api/v1/review", headers=f.auth(hub))).json()
    for item in queue:
        lines = " ".join(item["explanation"])
        if item["record"]["nhs_number"] and item["candidate"]["nhs_number"]:
            assert "different children" in lines


async def test_twins_stay_apart_even_through_a_record_without_a_given_name(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    home = {"line1": "30 New Crescent", "town": "Bradford", "postcode": "BD20 8GF"}
    twin = {"family_name": "Taylor", "date_of_birth": "2017-12-18", "address": home}
    charlie = await submit(client, school, "T-1", given_name="Charlie", sex="male", **twin)
    # no given name: only the home and the birthday agree, as a twin's would
    nameless = await submit(client, gp, "T-2", sex="female", **twin)
    assert await child_of(db, nameless) != await child_of(db, charlie)
    charlotte = await submit(client, school, "T-3", given_name="Charlotte", sex="female", **twin)
    again = await submit(client, gp, "T-4", given_name="Charlie", **twin)
    assert await child_of(db, charlotte) != await child_of(db, charlie)
    assert await child_of(db, again) == await child_of(db, charlie)


async def test_a_sparse_first_record_ends_on_its_child_once_better_records_arrive(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    sparse = await submit(
        client,
        gp,
        "P-1",
        given_name="Isla",
        family_name="Pickersgill",
        address={"postcode": "HX4 4PG"},
    )
    dated = await submit(
        client,
        school,
        "P-2",
        given_name="Isla",
        family_name="Pickersgill",
        date_of_birth="2016-06-01",
    )
    # a record with everything arrives: the two earlier records are one child with it
    full = await submit(
        client,
        school,
        "P-3",
        given_name="Isla",
        family_name="Pickersgill",
        date_of_birth="2016-06-01",
        sex="female",
        address={"line1": "48 Station Street", "postcode": "HX4 4PG"},
    )
    assert await child_of(db, sparse) == await child_of(db, dated) == await child_of(db, full)
    async with db.session() as session:
        merges = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "child.merge"))
        ).all()
    bridge = await record_of(db, full)
    assert merges and all(m.detail["bridging_record"] == bridge for m in merges)


FAMILY = [
    # (ref, child) for two families and a same-named stranger; truth is the ref prefix
    (
        "a1",
        {
            "given_name": "Oscar",
            "family_name": "Parry",
            "date_of_birth": "2017-08-22",
            "address": {"line1": "48 Station Street", "postcode": "HX4 4PG"},
        },
    ),
    ("a2", {"given_name": "Oskar", "family_name": "Parry", "address": {"postcode": "HX4 4PG"}}),
    (
        "a3",
        {
            "given_name": "Oscar",
            "family_name": "Parry",
            "date_of_birth": "2017-08-22",
            "nhs_number": NHS_A,
        },
    ),
    (
        "a4",
        {
            "given_name": "OSCAR",
            "family_name": "PARRY",
            "date_of_birth": "2017-08-22",
            "sex": "male",
            "address": {"line1": "48 Station St", "postcode": "HX4 4PG"},
        },
    ),
    (
        "b1",
        {
            "given_name": "Evie",
            "family_name": "Parry",
            "date_of_birth": "2011-01-19",
            "address": {"line1": "48 Station Street", "postcode": "HX4 4PG"},
        },
    ),
    (
        "b2",
        {
            "given_name": "Evie",
            "family_name": "Parry",
            "date_of_birth": "2011-01-19",
            "sex": "female",
        },
    ),
    (
        "b3",
        {
            "given_name": "Eve",
            "family_name": "Parry",
            "date_of_birth": "2011-01-19",
            "address": {"postcode": "HX4 4PG"},
        },
    ),
    (
        "c1",
        {
            "given_name": "Oscar",
            "family_name": "Parry",
            "date_of_birth": "2014-03-02",
            "nhs_number": NHS_B,
            "address": {"line1": "2 Low Lane", "postcode": "LS6 1AA"},
        },
    ),
    (
        "c2",
        {
            "given_name": "Oscar",
            "family_name": "Parry",
            "date_of_birth": "2014-03-02",
            "address": {"line1": "2 Low Lane", "postcode": "LS6 1AA"},
        },
    ),
]


async def _post_in_order(
    client: httpx.AsyncClient, db: Database, order: list[int], tag: str
) -> set[tuple[str, str]]:
    school = await f.agency(db, f"School {tag}")
    for i in order:
        ref, child = FAMILY[i]
        await submit(client, school, f"{tag}-{ref}", **child)
    found = await children_by_ref(db)
    mine = {ref.split("-", 1)[1]: c for ref, c in found.items() if ref.startswith(f"{tag}-")}
    return {tuple(sorted(p)) for p in combinations(mine, 2) if mine[p[0]] == mine[p[1]]}  # type: ignore[misc]


async def test_arrival_order_does_not_change_the_children(
    client: httpx.AsyncClient, db: Database
) -> None:
    truth = {
        tuple(sorted(p)) for p in combinations([r for r, _ in FAMILY], 2) if p[0][0] == p[1][0]
    }
    results = []
    for seed in range(3):
        order = list(range(len(FAMILY)))
        random.Random(seed).shuffle(order)
        # each order in its own database state: remove the previous run's records
        results.append(await _post_in_order(client, db, order, f"o{seed}"))
        async with db.session() as session:
            for table in ("blocking_key", "household_key", "review_item", "pair_decision"):
                from sqlalchemy import text

                await session.execute(text(f"DELETE FROM {table}"))
            await session.execute(text("UPDATE child_record SET child_id = NULL"))
    assert all(found <= truth for found in results), results  # nothing wrong, whatever the order
    assert results[0] == results[1] == results[2], [sorted(r) for r in results]


async def test_population_and_frequencies_are_shared_through_the_database(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    for i in range(3):
        await submit(
            client,
            school,
            f"Q-{i}",
            given_name="Noah",
            family_name="Khan",
            date_of_birth=f"201{i}-01-0{i + 1}",
        )
    await frequencies.sync(db)
    async with db.session() as session:
        rows = (await session.execute(select(frequencies.MatchFrequency))).scalars().all()
    counts = {(r.field, r.value): r.count for r in rows}
    assert counts[("given_name", "noah")] == 3 and counts[("family_name", "khan")] == 3
    # another process starts with nothing and reads the same counts
    frequencies.reset()
    assert model_store.current().term_frequencies.counts["given_name"]["noah"] == 0
    await frequencies.sync(db)
    assert model_store.current().term_frequencies.counts["given_name"]["noah"] == 3
    assert model_store.current().population == 3
    # writing twice adds nothing twice
    await frequencies.sync(db)
    async with db.session() as session:
        again = await session.get(frequencies.MatchFrequency, ("given_name", "noah"))
    assert again is not None and again.count == 3


def test_prior_falls_as_the_population_grows() -> None:
    model = MatchModel.default()
    small = model.prior_bits
    model.set_population(600)
    assert model.prior_bits == small  # the shipped prior is the floor for small populations
    model.set_population(100_000)
    assert abs(model.prior_bits - (small - 3.32)) < 0.05
    model.set_population(0)
    assert model.prior_bits == small


def test_common_values_count_for_little() -> None:
    model = MatchModel.default()
    a = Features(MatchRecord("a", "Oliver", "Smith", (), "2015-01-01", postcode="LS1 1AA"))
    b = Features(MatchRecord("b", "Oliver", "Smith", (), "2016-02-02", postcode="LS1 1AA"))
    before = model.score_child(a, [b])
    rows = [("given_name", "oliver", 400), ("given_name", "zed", 9600)]
    rows += [("family_name", "smith", 500), ("family_name", "zed", 9500)]
    rows += [("postcode", "LS11AA", 800), ("postcode", "ZZ11ZZ", 9200)]
    model.term_frequencies.load(rows)
    after = model.score_child(a, [b])
    assert after.weight < before.weight - 8
    labels = " ".join(after.explain())
    assert "common name" in labels and "shared by many records" in labels


async def test_relink_moves_records_respects_rulings_and_resumes(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside GP", "health")
    base: dict[str, Any] = {
        "given_name": "Freya",
        "family_name": "Okafor",
        "date_of_birth": "2018-09-30",
        "address": {"line1": "7 Elm Grove", "postcode": "M12 7RZ"},
    }
    a = await submit(client, school, "R-1", **base)
    b = await submit(client, gp, "R-2", **base)
    c = await submit(client, gp, "R-3", **{**base, "given_name": "Fraya"})
    assert await child_of(db, a) == await child_of(db, b) == await child_of(db, c)
    # put one record on a child of its own, as an old model might have
    async with db.session() as session:
        rec = await session.get(ChildRecord, await record_of(db, b))
        assert rec is not None
        from aggregator.children.models import Child

        lone = Child()
        session.add(lone)
        await session.flush()
        rec.child_id = lone.id
    report = await relink(db, batch=1)
    assert report.records == 3 and report.moved == 1 and not report.resumed
    assert await child_of(db, b) == await child_of(db, a)
    # an interrupted run resumes where it stopped
    async with db.session() as session:
        session.add(RelinkRun(after_record=""))
    again = await relink(db, batch=2)
    assert again.resumed and again.moved == 0 and again.records == 3
    # a person's ruling holds: split c off, and relink leaves it there
    hub = await f.person(db)
    child = await child_of(db, a)
    r = await client.post(
        f"/api/v1/children/{child}/split",
        json={"record_ids": [await record_of(db, c)], "note": "different child"},
        headers=f.auth(hub),
    )
    assert r.status_code in (200, 201), r.text
    await relink(db, restart=True)
    assert await child_of(db, c) != await child_of(db, a)
    async with db.session() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "record.relink"))
        ).all()
    assert [e.detail["outcome"] for e in events] == ["moved"]


def test_every_decision_explains_itself_in_words() -> None:
    model = MatchModel.default()
    home = {"postcode": "LS6 2AB", "address_line1": "12 Mill Lane"}
    child = [
        Features(MatchRecord("c1", "Alfie", "Smith", (), "2019-03-07", nhs_number=NHS_A, **home)),
        Features(MatchRecord("c2", "Alfie", "Smith", (), "2019-03-07", **home)),
    ]
    other = Features(MatchRecord("n", "Alfie", "Smith", (), "2019-03-07", nhs_number=NHS_B, **home))
    score = model.score_child(other, child)
    lines = score.explain()
    assert score.conflict == "nhs_number" and model.decide(score).value == "no_match"
    assert any(
        line.startswith("NHS number: different NHS numbers: different children") for line in lines
    )
    assert any(line.startswith("date of birth: same date of birth") for line in lines)
    same = Features(MatchRecord("s", "Alfie", "Smith", (), "2019-03-07", nhs_number=NHS_A))
    assert model.decide(model.score_child(same, child)).value == "link"
