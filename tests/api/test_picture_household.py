"""The picture's network after a move: one parent, not one per postcode district."""

import httpx
from sqlalchemy import select

from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from tests import factories as f


async def test_a_parent_named_at_two_addresses_is_one_adult(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = await f.agency(db)
    housing = await f.agency(db, "Leeds Housing", "housing")
    before = f.submission("S-1")
    after = f.submission(
        "H-1",
        **{"child.address": {"line1": "4 Oak Road", "town": "Leeds", "postcode": "LS12 3JP"}},
    )
    for token, body in ((school, before), (housing, after)):
        r = await client.post("/api/v1/concerns", json=body, headers=f.auth(token))
        assert r.status_code == 201, r.text
    async with db.session() as session:
        (child_id,) = set((await session.scalars(select(ChildRecord.child_id))).all())
    hub = await f.person(db)
    picture = (
        await client.get(f"/api/v1/children/{child_id}/picture", headers=f.auth(hub))
    ).json()
    adults = [n for n in picture["graph"]["nodes"] if n["type"] == "adult"]
    addresses = [n for n in picture["graph"]["nodes"] if n["type"] == "address"]
    assert len(addresses) == 2  # the move is still shown
    assert [a["label"] for a in adults] == ["Kayleigh Smith"]
