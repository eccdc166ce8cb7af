"""One active scheduler across processes: a lease row with an expiry.

A row rather than a PostgreSQL advisory lock, so that the same code runs on
SQLite and PostgreSQL and a lease survives a dropped connection without being
silently lost. The holder renews it every quarter interval for half an interval;
if the holder dies, the lease lapses and another process takes it at its next
attempt, which is within one interval.

Every unit of work of a job starts with `fence`, which renews the lease inside
that transaction and fails if the lease is no longer ours. On PostgreSQL the
renewal locks the lease row until commit, so a process that lost the lease can
never commit sweep or delivery work after another took over.
"""

import logging
import os
import socket
import time
from datetime import timedelta

from sqlalchemy import case, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.core.db import Database
from aggregator.core.types import new_id, utcnow
from alerts.models import SchedulerLease

log = logging.getLogger("aggregator.alerts")


class LeaseLost(Exception):
    """Another process holds the scheduler lease; this one must stop acting."""


class Lease:
    def __init__(self, db: Database, ttl_seconds: float, name: str = "alerts") -> None:
        self.db = db
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._valid_until = 0.0

    def held(self) -> bool:
        """Held as far as this process knows; `fence` is the authoritative check."""
        return time.monotonic() < self._valid_until

    async def acquire(self) -> bool:
        """Take the lease if free or lapsed, or renew it if ours; True if ours now."""
        started = time.monotonic()
        now = utcnow()
        try:
            async with self.db.session() as session:
                result = await session.execute(
                    update(SchedulerLease)
                    .where(
                        col(SchedulerLease.name) == self.name,
                        or_(
                            col(SchedulerLease.holder) == self.holder,
                            col(SchedulerLease.expires_at) < now,
                        ),
                    )
                    .values(
                        holder=self.holder,
                        expires_at=now + self.ttl,
                        acquired_at=case(
                            (
                                col(SchedulerLease.holder) == self.holder,
                                col(SchedulerLease.acquired_at),
                            ),
                            else_=now,
                        ),
                    )
                )
                got = result.rowcount == 1  # type: ignore[attr-defined]
                if not got and await session.get(SchedulerLease, self.name) is None:
                    session.add(
                        SchedulerLease(
                            name=self.name,
                            holder=self.holder,
                            acquired_at=now,
                            expires_at=now + self.ttl,
                        )
                    )
                    await session.flush()
                    got = True
        except IntegrityError:  # another process created the row first
            got = False
        was = self.held()
        # Count from before the round trip, and keep a margin, so that our local
        # view expires before the row does.
        self._valid_until = started + self.ttl.total_seconds() * 0.9 if got else 0.0
        if got and not was:
            log.info("scheduler lease %s taken by %s", self.name, self.holder)
        elif was and not got:
            log.warning("scheduler lease %s lost by %s", self.name, self.holder)
        return got

    async def fence(self, session: AsyncSession) -> None:
        """Renew inside the caller's transaction, or raise LeaseLost."""
        now = utcnow()
        result = await session.execute(
            update(SchedulerLease)
            .where(
                col(SchedulerLease.name) == self.name,
                col(SchedulerLease.holder) == self.holder,
                col(SchedulerLease.expires_at) >= now,
            )
            .values(expires_at=now + self.ttl)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            self._valid_until = 0.0
            raise LeaseLost(self.name)

    async def release(self) -> None:
        """On a clean shutdown, so another process need not wait for the expiry."""
        if not self.held():
            return
        self._valid_until = 0.0
        async with self.db.session() as session:
            await session.execute(
                delete(SchedulerLease).where(
                    col(SchedulerLease.name) == self.name, col(SchedulerLease.holder) == self.holder
                )
            )
