"""Training the match model on the service's own records, and every process following it."""

from collections.abc import Iterator

import pytest

from aggregator.children import model_store
from aggregator.children.linking import submit_linked
from aggregator.concerns.schemas import ConcernSubmission
from aggregator.core.db import Database
from aggregator.synthetic import borough
from matching import MatchModel
from tests import factories as f


@pytest.fixture(autouse=True)
def shipped_model() -> Iterator[None]:
    yield
    model_store._active = model_store._Active(MatchModel.default())


async def test_train_stores_a_model_that_every_process_loads(db: Database) -> None:
    agencies = {
        t: (await f.agency(db, t, t)).principal
        for t in ("school", "health", "police", "housing", "childrens_social_care", "youth_service")
    }
    async with db.session() as session:
        for item in borough(60, seed=3)[:300]:
            await submit_linked(
                session,
                agencies[item.agency_type.value],
                ConcernSubmission.model_validate(item.body),
            )
    version = await model_store.train(db, sample=1000, note="test")
    assert model_store.current_version() is None  # not in force until a process refreshes
    async with db.session() as session:
        assert await model_store.refresh(session) is True
        assert await model_store.refresh(session) is False  # already the newest
    assert model_store.current_version() == version
    trained, shipped = model_store.current(), MatchModel.default()
    assert trained.u != shipped.u  # estimated from the records
    assert trained.sibling_penalty <= shipped.sibling_penalty  # never weaker on twins
    assert trained.link_threshold == shipped.link_threshold


async def test_train_refuses_too_few_records(db: Database) -> None:
    with pytest.raises(ValueError, match="at least 100"):
        await model_store.train(db)


async def test_reindex_rebuilds_every_key(db: Database) -> None:
    from sqlalchemy import delete, func, select

    from aggregator.children.models import BlockingKey, HouseholdKey
    from aggregator.children.reindex import reindex

    agencies = {
        t: (await f.agency(db, t, t)).principal
        for t in ("school", "health", "police", "housing", "childrens_social_care", "youth_service")
    }
    async with db.session() as session:
        for item in borough(10, seed=5)[:40]:
            await submit_linked(
                session,
                agencies[item.agency_type.value],
                ConcernSubmission.model_validate(item.body),
            )

    async def keys() -> list[tuple[str, str]]:
        async with db.session() as session:
            rows = (
                await session.execute(select(BlockingKey.key, BlockingKey.child_record_id))
            ).all()
            rows += (
                await session.execute(select(HouseholdKey.key, HouseholdKey.child_record_id))
            ).all()
            return sorted((k, r) for k, r in rows)

    before = await keys()
    assert before
    async with db.session() as session:
        await session.execute(delete(BlockingKey).where(func.length(BlockingKey.key) > 0))
    assert await reindex(db, batch=7) == 40
    assert await keys() == before
