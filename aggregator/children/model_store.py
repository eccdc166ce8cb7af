"""The match model in force: shipped defaults until the hub trains one on its own records.

Every process must decide alike, so the model lives in the database, versioned;
each process loads the newest at start and checks for a newer one every few
minutes. Training (`aggregator matching train`) estimates u from random pairs and
m by EM over the service's own child records, without labels.
"""

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from aggregator.children.identity import to_match_record
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.types import BigIntId, UTCDateTime, utcnow
from matching import MatchModel


class MatchModelVersion(SQLModel, table=True):
    """One trained parameter set; the newest row is the one in force."""

    __tablename__ = "match_model"

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    records_used: int
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, max_length=200)


@dataclass
class _Active:
    model: MatchModel
    version: int | None = None


_active = _Active(MatchModel.default())


def current() -> MatchModel:
    return _active.model


def current_version() -> int | None:
    return _active.version


def _safe(trained: MatchModel) -> MatchModel:
    """Never weaker on twins than the shipped model: data with few families would
    otherwise teach that different given names at one home mean little."""
    shipped = MatchModel.default()
    trained.sibling_penalty = min(trained.sibling_penalty, shipped.sibling_penalty)
    trained.link_threshold = shipped.link_threshold
    trained.review_threshold = shipped.review_threshold
    trained._refresh()
    return trained


async def refresh(session: AsyncSession) -> bool:
    """Load the newest stored model if it is newer than the one in force."""
    newest = (
        await session.scalars(
            select(MatchModelVersion).order_by(col(MatchModelVersion.id).desc()).limit(1)
        )
    ).first()
    if newest is None or newest.id == _active.version:
        return False
    _active.model = _safe(MatchModel.from_dict(newest.params))
    _active.version = newest.id
    return True


async def train(db: Database, sample: int = 50_000, seed: int = 0, note: str | None = None) -> int:
    """Fit the model on up to `sample` stored records and store it as the newest."""
    async with db.session() as session:
        total = int(await session.scalar(select(func.count()).select_from(ChildRecord)) or 0)
        stmt = select(ChildRecord)
        if total > sample:
            stmt = stmt.order_by(func.random()).limit(sample)
        records = [to_match_record(r) for r in (await session.scalars(stmt)).all()]
    if len(records) < 100:
        raise ValueError(f"only {len(records)} records stored; train once there are at least 100")
    random.Random(seed).shuffle(records)  # noqa: S311 - sampling order, not secrecy

    def fit() -> dict[str, Any]:
        model = MatchModel.default()
        model.estimate_u(records, seed=seed)
        model.estimate_m(records, seed=seed)
        return _safe(model).to_dict()

    params = await asyncio.to_thread(fit)
    async with db.session() as session:
        version = MatchModelVersion(records_used=len(records), params=params, note=note)
        session.add(version)
        await session.flush()
        assert version.id is not None
        return version.id
