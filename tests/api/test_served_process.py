"""What a served process sets up for itself, and a test's app does not."""

import gc
from collections.abc import Iterator

import pytest

from aggregator.app import GC_THRESHOLDS, create_app
from aggregator.core.db import Database


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
async def test_a_served_app_freezes_its_startup_heap_and_collects_less_often(
    db: Database,
) -> None:
    gc.unfreeze()
    quiet = create_app(db=db, background=False)
    async with quiet.router.lifespan_context(quiet):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() != GC_THRESHOLDS
    served = create_app(db=db, background=True)
    async with served.router.lifespan_context(served):
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # the app, its routes, the model
