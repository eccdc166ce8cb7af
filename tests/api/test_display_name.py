"""One child, one name: every list and page shows the best-known identity."""

import httpx
from sqlalchemy import select

from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from tests import factories as f
from tests.web.conftest import person_with_password, sign_in


async def test_lists_and_pages_name_a_child_as_the_picture_does(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    gp = await f.agency(db, "Riverside Health Centre", "health")
    for token, ref, given, family in (
        (school, "S-1", "Jacob", "Robinson"),
        (gp, "G-1", "Jacob", "Robinson"),
        (school, "S-2", "Archie", "Robinon"),  # the newest record, with a typo
    ):
        body = f.submission(ref, **{"child.given_name": given, "child.family_name": family})
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(token))
        assert r.status_code == 201, r.text
    async with db.session() as session:
        ids = set((await session.scalars(select(ChildRecord.child_id))).all())
    assert len(ids) == 1
    child_id = str(ids.pop())
    hub = await f.person(db)
    listed = await client.get("/api/v1/children", headers=f.auth(hub))
    assert [c["name"] for c in listed.json()["items"]] == ["Jacob Robinson"]
    searched = await client.get("/api/v1/children?name=Robinon", headers=f.auth(hub))
    assert [c["name"] for c in searched.json()["items"]] == ["Jacob Robinson"]
    picture = await client.get(f"/api/v1/children/{child_id}/picture", headers=f.auth(hub))
    ident = picture.json()["identity"]
    assert (ident["given_name"], ident["family_name"]) == ("Jacob", "Robinson")
    focus = next(n for n in picture.json()["graph"]["nodes"] if n.get("focus"))
    assert focus["label"] == "Jacob Robinson"
    await person_with_password(db, "lee@hub.example", "hub")
    await sign_in(client, "lee@hub.example")
    page = await client.get("/children")
    assert "Jacob Robinson" in page.text and "Archie Robinon" not in page.text
