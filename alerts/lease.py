"""One active scheduler across processes: a lease in terms, each with an epoch.

A row rather than a PostgreSQL advisory lock, so that the same code runs on
SQLite and PostgreSQL and a lease survives a dropped connection without being
silently lost. The holder renews its term every eighth of an interval for three
eighths; a term that lapsed more than `grace` ago is over, and another process
takes the lease by inserting the next term (epoch + 1). The takeover never
updates, and so never waits for, the old term's row: a holder that hangs inside
a transaction (SIGSTOP, a stalled network) may keep that row locked, and the
other process still takes over within two intervals.

Every write of the holder is fenced: `fence` is the last statement before its
commit, and renews the holder's term only if it is unexpired and no later term
exists. On PostgreSQL the lease work runs under `SET LOCAL` lock, statement and
idle-in-transaction timeouts, so a fenced transaction either commits within
`timeout + idle` of its fence or is aborted by the server. `grace` is longer than
that: by the time another process may take over, a stale holder's last fenced
commit has landed or never will, and its later writes are refused by the fence.
"""

import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.core.db import Database
from aggregator.core.types import new_id, utcnow
from alerts.models import SchedulerLease

log = logging.getLogger("aggregator.alerts")
# Earlier terms kept for inspection; older ones are pruned at a takeover.
KEEP_TERMS = 10


class LeaseLost(Exception):
    """Another process holds the scheduler lease; this one must stop acting."""


class Lease:
    def __init__(
        self,
        db: Database,
        ttl_seconds: float,
        name: str = "alerts",
        timeout_seconds: float | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        # Lock and statement timeouts of the lease work, and how long a fenced
        # transaction may sit idle between its fence and its commit (not less than
        # half a second: a busy event loop must not get healthy commits killed).
        self.timeout = timeout_seconds or min(max(ttl_seconds / 6, 0.25), 10.0)
        self.idle = max(self.timeout, 0.5)
        # A fenced commit lands within timeout + idle of its fence, or never; a
        # little more absorbs clock differences between hosts.
        self.grace = timedelta(seconds=self.timeout + self.idle + 0.1)
        # A unit of work of the holder may wait for a lock, run a statement or sit
        # idle this long, so that a hung holder's locks are released by the server
        # and the next holder's work never waits on them for ever.
        self.work_timeout = min(max(ttl_seconds * 4 / 3, 5.0), 60.0)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.epoch = 0
        self._valid_until = 0.0

    def held(self) -> bool:
        """Held as far as this process knows; `fence` is the authoritative check."""
        return time.monotonic() < self._valid_until

    async def limit(
        self, session: AsyncSession, seconds: float | None = None, idle: float | None = None
    ) -> None:
        """Bound how long the rest of this transaction may wait for a lock or run a
        statement (and, if `idle` is given, sit idle between statements).

        PostgreSQL only (`SET LOCAL`, so the pool's connection is unchanged after
        the transaction); SQLite serialises writers with its busy timeout instead.
        """
        if self.db.dialect != "postgresql":
            return
        ms = str(max(int((seconds or self.timeout) * 1000), 1))
        idle_ms = str(max(int(idle * 1000), 1)) if idle else "0"
        await session.execute(
            text(
                "SELECT set_config('lock_timeout', :ms, true),"
                " set_config('statement_timeout', :ms, true),"
                " set_config('idle_in_transaction_session_timeout', :idle, true)"
            ),
            {"ms": ms, "idle": idle_ms},
        )

    async def acquire(self) -> bool:
        """Renew our term if it is unexpired, or start the next term if the last one is
        over (lapsed for longer than `grace`, ours included: a lone process that was
        paused takes the lease again); True if the lease is ours now."""
        started = time.monotonic()
        now = utcnow()
        got = False
        try:
            async with self.db.session() as session:
                await self.limit(session)
                current = await session.scalar(
                    select(SchedulerLease)
                    .where(col(SchedulerLease.name) == self.name)
                    .order_by(col(SchedulerLease.epoch).desc())
                    .limit(1)
                )
                ours = current is not None and (current.holder, current.epoch) == (
                    self.holder,
                    self.epoch,
                )
                if current is not None and ours and current.expires_at >= now:
                    got = await self._renew(session, now)
                elif current is None or current.expires_at < now - self.grace:
                    epoch = current.epoch + 1 if current is not None else 1
                    session.add(
                        SchedulerLease(
                            name=self.name,
                            epoch=epoch,
                            holder=self.holder,
                            acquired_at=now,
                            expires_at=now + self.ttl,
                        )
                    )
                    await session.flush()
                    self.epoch, got = epoch, True
        except IntegrityError:  # another process started the same term first
            got = False
        except DBAPIError as exc:  # a lock or statement timeout: not ours this beat
            code = getattr(exc.orig, "sqlstate", None) or type(exc.orig).__name__
            log.warning("scheduler lease %s not renewed: database error %s", self.name, code)
            got = False
        was = self.held()
        # Count from before the round trip, and keep a margin, so that our local
        # view expires before the row does.
        self._valid_until = started + self.ttl.total_seconds() * 0.9 if got else 0.0
        if got and not was:
            log.info(
                "scheduler lease %s taken by %s (epoch %d)", self.name, self.holder, self.epoch
            )
            await self._prune()
        elif was and not got:
            log.warning("scheduler lease %s lost by %s", self.name, self.holder)
        return got

    async def _renew(self, session: AsyncSession, now: object) -> bool:
        later = exists().where(
            col(SchedulerLease.name) == self.name, col(SchedulerLease.epoch) > self.epoch
        )
        result = await session.execute(
            update(SchedulerLease)
            .where(
                col(SchedulerLease.name) == self.name,
                col(SchedulerLease.epoch) == self.epoch,
                col(SchedulerLease.holder) == self.holder,
                col(SchedulerLease.expires_at) >= now,
                ~later,
            )
            .values(expires_at=utcnow() + self.ttl)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def fence(self, session: AsyncSession) -> None:
        """Renew our term inside the caller's transaction, or raise LeaseLost.

        Call it last, just before the commit: the timeouts it sets then bound the
        time from the check to the commit, which is what makes the check hold.
        """
        started = time.monotonic()
        try:
            await self.limit(session, idle=self.idle)
            ok = self.epoch > 0 and await self._renew(session, utcnow())
        except DBAPIError as exc:  # the term's row is locked or the database stalls
            self._valid_until = 0.0
            raise LeaseLost(self.name) from exc
        if not ok:
            self._valid_until = 0.0
            raise LeaseLost(self.name)
        # Renewed once this commits (a long `alerts run-once` has no heartbeat); if
        # it never does, our view may outlast the row, and the fence still refuses.
        self._valid_until = max(self._valid_until, started + self.ttl.total_seconds() * 0.9)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """A unit of work of the holder: fenced at its end, then committed."""
        async with self.db.session() as session:
            await self.limit(session, self.work_timeout, idle=self.work_timeout)
            yield session
            await self.fence(session)

    async def _prune(self) -> None:
        """Drop terms older than the last KEEP_TERMS; a locked one is skipped."""
        try:
            async with self.db.session() as session:
                await self.limit(session)
                old = (
                    select(col(SchedulerLease.epoch))
                    .where(
                        col(SchedulerLease.name) == self.name,
                        col(SchedulerLease.epoch) <= self.epoch - KEEP_TERMS,
                    )
                    .with_for_update(skip_locked=True)
                )
                epochs = list((await session.scalars(old)).all())
                if epochs:
                    await session.execute(
                        delete(SchedulerLease).where(
                            col(SchedulerLease.name) == self.name,
                            col(SchedulerLease.epoch).in_(epochs),
                        )
                    )
        except DBAPIError as exc:
            log.warning("scheduler lease %s: pruning skipped (%s)", self.name, type(exc).__name__)

    async def release(self) -> None:
        """On a clean shutdown: end our term now, so another process need not wait."""
        if not self.held():
            return
        self._valid_until = 0.0
        with contextlib.suppress(DBAPIError):  # best effort: the term lapses anyway
            await self._end_term()

    async def _end_term(self) -> None:
        async with self.db.session() as session:
            await self.limit(session)
            await session.execute(
                update(SchedulerLease)
                .where(
                    col(SchedulerLease.name) == self.name,
                    col(SchedulerLease.epoch) == self.epoch,
                    col(SchedulerLease.holder) == self.holder,
                )
                .values(expires_at=utcnow() - self.grace - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )
