"""The review queue at a hub's scale, and reversing a link from the child's page."""

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from aggregator.children.models import ReviewItem
from aggregator.concerns.models import ChildRecord, RelatedPerson
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken
from tests import factories as f
from tests.alerts.helpers import NOW, World
from tests.web.conftest import csrf_from, person_with_password, sign_in


async def _record_of(db: Database, concern_id: str) -> str:
    async with db.session() as s:
        return (
            await s.scalars(select(ChildRecord.id).where(ChildRecord.concern_id == concern_id))  # type: ignore[arg-type]
        ).one()


async def _queue(db: Database, n: int) -> list[str]:
    """`n` open review items, each between two children, the newest the most probable."""
    world = World(db)
    items = []
    for i in range(n):
        a, b = await world.child(), await world.child()
        rec_a = await _record_of(db, await world.concern(a, "Leeds Primary School", "neglect"))
        rec_b = await _record_of(
            db, await world.concern(b, "Riverside Health Centre", "emotional_abuse", kind="health")
        )
        async with db.session() as s:
            if i == 0:
                s.add(
                    RelatedPerson(
                        child_record_id=rec_a,
                        relationship="mother",
                        given_name="Nadia",
                        family_name="Ali",
                    )
                )
            item = ReviewItem(
                record_id=rec_a,
                candidate_record_id=rec_b,
                probability=0.5 + i / (2 * n),
                weight=0.0,
                created_at=NOW - timedelta(minutes=n - i),
            )
            s.add(item)
        items.append(item.id)
    return items


async def test_review_queue_has_a_total_pages_sort_and_context(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    items = await _queue(db, 55)
    await sign_in(client, "jo@hub.example")
    first = await client.get("/review")
    assert "55 possible matches to review." in first.text
    assert "page 1 of 2" in first.text
    assert first.text.count('class="review-item"') == 50
    assert f"ri-{items[0]}" in first.text  # oldest first by default
    assert "Nadia Ali (mother)" in first.text and "emotional abuse" in first.text
    second = await client.get("/review", params={"page": 2})
    assert second.text.count('class="review-item"') == 5
    likeliest = await client.get("/review", params={"sort": "probability"})
    ids = re.findall(r'id="ri-([0-9a-f]+)"', likeliest.text)
    assert ids[0] == items[-1]
    assert (await client.get("/review", params={"sort": "bogus"})).status_code == 422
    # decide and go to the next: back on the queue, one fewer, the sort kept
    r = await client.post(
        f"/review/{items[0]}/decision",
        data={
            "decision": "different_children",
            "note": "different mothers",
            "then": "next",
            "sort": "probability",
            "csrf_token": csrf_from(first.text),
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/review?")
    assert "sort=probability" in r.headers["location"]
    after = await client.get(r.headers["location"])
    assert "54 possible matches to review." in after.text and "different children" in after.text


async def test_a_decided_item_answers_409_naming_who_decided(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    (item,) = await _queue(db, 1)
    await person_with_password(db, "sam@hub.example", "hub")
    await sign_in(client, "jo@hub.example")
    page = await client.get("/review")
    decided = await client.post(
        f"/review/{item}/decision",
        data={"decision": "different_children", "csrf_token": csrf_from(page.text)},
    )
    assert decided.status_code == 303
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        await sign_in(other, "sam@hub.example")
        stale = await other.get("/children")
        late = await other.post(
            f"/review/{item}/decision",
            data={"decision": "same_child", "csrf_token": csrf_from(stale.text)},
        )
    assert late.status_code == 409
    assert "jo@hub.example" in late.text and "split or merge" in late.text


async def test_child_page_splits_and_merges(
    client: httpx.AsyncClient, db: Database, hub: IssuedToken
) -> None:
    school, gp = await f.agency(db), await f.agency(db, "Riverside Health Centre", "health")
    concern_ids = []
    for token, ref in ((school, "S-1"), (gp, "G-1")):
        r = await client.post("/api/v1/concerns", json=f.submission(ref), headers=f.auth(token))
        assert r.status_code == 201
        concern_ids.append(r.json()["id"])
    keep, move = concern_ids
    async with db.session() as s:
        (child,) = set((await s.scalars(select(ChildRecord.child_id))).all())
    await sign_in(client, "jo@hub.example")
    page = await client.get(f"/children/{child}")
    assert "Move to a new child" in page.text and "Merge the two children" in page.text
    token = csrf_from(page.text)
    no_note = await client.post(
        f"/children/{child}/split", data={"concern_ids": [move], "csrf_token": token}
    )
    assert no_note.status_code == 422
    split = await client.post(
        f"/children/{child}/split",
        data={"concern_ids": [move], "note": "a different Jayden", "csrf_token": token},
    )
    assert split.status_code == 303
    new_child = split.headers["location"].split("/children/")[1].split("?")[0]
    assert new_child != child
    async with db.session() as s:
        moved = (await s.scalars(select(ChildRecord).where(ChildRecord.concern_id == move))).one()  # type: ignore[arg-type]
        kept = (await s.scalars(select(ChildRecord).where(ChildRecord.concern_id == keep))).one()  # type: ignore[arg-type]
    assert moved.child_id == new_child and kept.child_id == child
    merged = await client.post(
        f"/children/{child}/merge",
        data={
            "other_child_ref": f"/children/{new_child}",
            "note": "same child after all",
            "csrf_token": token,
        },
    )
    assert merged.status_code == 303
    async with db.session() as s:
        ids = set((await s.scalars(select(ChildRecord.child_id))).all())
    assert len(ids) == 1
