"""Alert test data written straight to the database, and a fixed clock.

Children, records and concerns are inserted directly (not through the intake
API) so that dates can be set exactly around each rule's thresholds; the API
tests in this folder go through HTTP as usual.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from aggregator.children.models import Child, HouseholdKey
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.concerns.vocab import AgencyType
from aggregator.core.db import Database
from aggregator.core.types import new_id
from aggregator.principals.models import Principal
from alerts.jobs import AlertJobs
from alerts.models import Alert, AlertNotification
from alerts.service import SweepStats

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

ALERT_SETTINGS: dict[str, Any] = {
    "webhook_allow_private": True,
    "delivery_backoff_seconds": 0.05,
    "delivery_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 5.0,
    "smtp_starttls": False,
    "base_url": "https://hub.example",
}


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def at(n_days_ago: float) -> datetime:
    return NOW - timedelta(days=n_days_ago)


@dataclass
class World:
    """Builds agencies, children and concerns with exact dates."""

    db: Database
    agencies: dict[str, str] = field(default_factory=dict)
    _n: int = 0

    async def agency(self, name: str, kind: str = "school") -> str:
        if name not in self.agencies:
            async with self.db.session() as s:
                p = Principal(kind="agency", name=name, agency_type=AgencyType(kind).value)
                s.add(p)
            self.agencies[name] = p.id
        return self.agencies[name]

    async def child(self) -> str:
        async with self.db.session() as s:
            c = Child(created_at=at(400), touched_at=NOW)
            s.add(c)
        return c.id

    async def concern(
        self,
        child_id: str,
        agency: str,
        category: str = "neglect",
        observed: date | None = None,
        *,
        kind: str = "school",
        received: datetime | None = None,
        outcome: str = "open",
        dob: str | None = "2015-04-01",
        mobile: bool | None = None,
        status: str | None = None,
        keys: tuple[tuple[str, str], ...] = (),
    ) -> str:
        """One concern and its child record; `keys` are (kind, key) household keys."""
        agency_id = await self.agency(agency, kind)
        self._n += 1
        observed = observed or TODAY
        received = received or datetime.combine(observed, datetime.min.time(), UTC) + timedelta(
            hours=10
        )
        async with self.db.session() as s:
            concern = Concern(
                agency_id=agency_id,
                external_ref=f"T-{self._n}-{new_id()[:6]}",
                body_hash=hashlib.sha256(str(self._n).encode()).hexdigest(),
                category=category,
                severity=2,
                observed_at=observed,
                summary="test concern",
                outcome=outcome,
                received_at=received,
            )
            s.add(concern)
            await s.flush()
            rec = ChildRecord(
                concern_id=concern.id,
                agency_id=agency_id,
                given_name="Test",
                family_name="Child",
                date_of_birth=dob,
                independently_mobile=mobile,
                status=status,
                created_at=received,
                child_id=child_id,
                link_outcome="linked",
            )
            s.add(rec)
            await s.flush()
            for kind_, key in keys:
                s.add(HouseholdKey(key=key, child_record_id=rec.id, kind=kind_, label="x"))
            child = await s.get(Child, child_id)
            assert child is not None
            child.touched_at = max(child.touched_at, received)
        return concern.id


def jobs_at(db: Database, when: datetime) -> AlertJobs:
    return AlertJobs(db, db.settings, clock=lambda: when, use_lease=False)


Sweep = Callable[..., Any]


async def sweep(db: Database, when: datetime = NOW, full: bool = True) -> SweepStats:
    return await jobs_at(db, when).sweep(full=full)


async def alerts(db: Database, child_id: str | None = None) -> list[Alert]:
    async with db.session() as s:
        stmt = select(Alert).order_by(Alert.opened_at)  # type: ignore[arg-type]
        if child_id:
            stmt = stmt.where(Alert.child_id == child_id)  # type: ignore[arg-type]
        return list((await s.scalars(stmt)).all())


async def notifications(db: Database) -> list[AlertNotification]:
    async with db.session() as s:
        return list(
            (
                await s.scalars(select(AlertNotification).order_by(AlertNotification.created_at))  # type: ignore[arg-type]
            ).all()
        )
