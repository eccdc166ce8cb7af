"""The scheduled jobs of the alerts domain, and the APScheduler that runs them.

Every process may run a scheduler (the API in the quick start, `aggregator
scheduler` in production); only the holder of the lease acts, and each unit of
work re-checks that inside its own transaction (`Lease.fence`). Jobs open,
commit and close their own sessions, and are idempotent: the watermark only
moves after a sweep finished, and re-evaluating a child changes nothing unless
its evidence changed. APScheduler's job store is per process and is not used to
coordinate processes.
"""

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.core.db import Database
from aggregator.core.logs import configure_logging
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from alerts import casework, service
from alerts import repository as repo
from alerts.lease import Lease, LeaseLost
from alerts.models import AlertJobState, SchedulerLease
from alerts.outbox import Deliverer, DeliveryStats, deliver_due
from alerts.rules import RuleSet, load_rules
from alerts.service import AlertConflict, SweepStats

log = logging.getLogger("aggregator.alerts")
BATCH = 500
INCREMENTAL, FULL = "incremental", "full"
# A nightly full sweep missed by more than this (every process down at 02:00)
# is run by the next incremental sweep instead.
FULL_SWEEP_OVERDUE = timedelta(hours=26)


@dataclass
class RunOnce:
    sweep: SweepStats
    escalated: int
    delivery: DeliveryStats


class AlertJobs:
    """Sweep, escalate, deliver; each a no-op unless this process holds the lease."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        rules: RuleSet | None = None,
        clock: Callable[[], datetime] = utcnow,
        use_lease: bool = True,
    ) -> None:
        self.db = db
        self.settings = settings
        self.rules = rules or load_rules(settings.rules_path)
        self.clock = clock
        self.use_lease = use_lease
        self.lease = Lease(db, ttl_seconds=max(settings.sweep_interval_seconds / 2, 0.5))
        self.wake: Callable[[str], None] = lambda job_id: None

    def active(self) -> bool:
        return not self.use_lease or self.lease.held()

    async def _fence(self, session: object) -> None:
        if self.use_lease:
            await self.lease.fence(session)  # type: ignore[arg-type]

    async def _holds_lease(self, session: AsyncSession) -> None:
        """Delivery's check: a plain read of the lease row, no lock.

        `fence` locks the lease row until commit, and a sweep batch holds that lock
        for its whole transaction: claims would wait for it. Claims need no lock to be
        safe (two processes never claim the same row); the lease only says who delivers.
        """
        row = (
            await session.execute(
                select(col(SchedulerLease.holder), col(SchedulerLease.expires_at)).where(
                    col(SchedulerLease.name) == self.lease.name
                )
            )
        ).first()
        if row is None or row[0] != self.lease.holder or row[1] < utcnow():
            raise LeaseLost(self.lease.name)

    async def heartbeat(self) -> None:
        """Take or renew the lease; a process that just took it sweeps at once."""
        was = self.lease.held()
        try:
            got = await self.lease.acquire()
        except Exception:  # a database blip: try again at the next beat
            log.exception("scheduler lease renewal failed")
            return
        if got and not was:
            self.wake("alerts.sweep")
            self.wake("alerts.deliver")

    async def _state(self) -> tuple[datetime | None, datetime | None]:
        async with self.db.session() as session:
            inc = await session.get(AlertJobState, INCREMENTAL)
            full = await session.get(AlertJobState, FULL)
            return (inc.watermark if inc else None), (full.finished_at if full else None)

    async def _batch(
        self,
        ids: list[str],
        now: datetime,
        agencies: dict[str, str | None],
        households: dict[str, set[str]] | None,
    ) -> SweepStats:
        for attempt in range(3):
            try:
                async with self.db.session() as session:
                    await self._fence(session)
                    return await service.sweep_batch(
                        session, self.settings, self.rules, ids, now, agencies, households
                    )
            except (AlertConflict, IntegrityError):
                # Someone acknowledged or resolved an alert meanwhile: re-read, redo.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def sweep(self, full: bool = False) -> SweepStats:
        """Incremental (children touched since the last sweep) or full; idempotent."""
        stats = SweepStats()
        if not self.active():
            return stats
        started = self.clock()
        mark, last_full = await self._state()
        if mark is None or last_full is None or started - last_full > FULL_SWEEP_OVERDUE:
            full = True
        since = None
        if not full and mark is not None:
            since = mark - timedelta(seconds=self.settings.sweep_overlap_seconds)
        async with self.db.session() as session:
            agencies = await repo.agency_types(session)
            households = await repo.household_map(session) if full else None
        after = ""
        while True:
            async with self.db.session() as session:
                page = await repo.live_child_ids(session, since, after, BATCH)
                extra = set() if full else await repo.household_neighbours(session, page)
            if not page:
                break
            after = page[-1]
            ids = page + sorted(extra - set(page))
            stats.add(await self._batch(ids, started, agencies, households))
        async with self.db.session() as session:
            await self._fence(session)
            await service.retire_merged(session, started)
            for name in (INCREMENTAL, FULL) if full else (INCREMENTAL,):
                state = await session.get(AlertJobState, name) or AlertJobState(name=name)
                state.watermark = started
                state.finished_at = self.clock()
                session.add(state)
        if stats.notifications:
            self.wake("alerts.deliver")
        log.info(
            "%s sweep: %d children, %d opened, %d updated, %d re-opened",
            "full" if full else "incremental",
            stats.children,
            stats.opened,
            stats.updated,
            stats.reopened,
        )
        return stats

    async def full_sweep(self) -> SweepStats:
        return await self.sweep(full=True)

    async def escalate(self) -> int:
        if not self.active():
            return 0
        async with self.db.session() as session:
            await self._fence(session)
            count = await service.escalate_due(session, self.settings, self.rules, self.clock())
            count += await casework.escalate_overdue(session, self.settings, self.clock())
        if count:
            self.wake("alerts.deliver")
        return count

    def deliverer(self, db: Database | None = None) -> Deliverer:
        """The continuous delivery worker of a scheduler; it acts only while the lease is ours."""
        return Deliverer(
            db or self.db,
            self.settings,
            fence=self._holds_lease if self.use_lease else None,
            active=self.active,
            now=self.clock,
        )

    async def deliver(self) -> DeliveryStats:
        """One delivery round (`alerts run-once`); a scheduler runs `deliverer()` instead."""
        if not self.active():
            return DeliveryStats()
        return await deliver_due(
            self.db, self.settings, fence=self._fence if self.use_lease else None, now=self.clock
        )

    async def run_once(self, full: bool = False) -> RunOnce:
        sweep = await self.sweep(full)
        escalated = await self.escalate()
        delivery = await self.deliver()
        return RunOnce(sweep, escalated, delivery)


class DeliveryThread:
    """The deliverer on its own thread, event loop and connection pool.

    A sweep evaluates hundreds of children per batch in Python on the scheduler's
    event loop; sharing that loop, deliveries waited for each batch to finish. On
    its own loop the deliverer gets its share of the interpreter meanwhile.
    """

    def __init__(self, jobs: AlertJobs, settings: Settings) -> None:
        self.jobs = jobs
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deliverer: Deliverer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._finished: asyncio.Event | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="alerts-delivery", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        db = Database(self.settings)
        try:
            self.loop = asyncio.get_running_loop()
            self._finished = asyncio.Event()
            self.deliverer = self.jobs.deliverer(db)
            self.deliverer.start()
            self._ready.set()
            await self._finished.wait()
        finally:
            self._ready.set()
            await db.dispose()

    def wake(self) -> None:
        if self.loop is not None and self.deliverer is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self.loop.call_soon_threadsafe(self.deliverer.wake)

    async def _stop_here(self) -> DeliveryStats:
        assert self.deliverer is not None and self._finished is not None
        try:
            return await self.deliverer.stop()
        finally:
            self._finished.set()

    async def stop(self) -> DeliveryStats:
        """Settle or release in-flight deliveries on the delivery loop, then end the thread."""
        if self._thread is None or self.loop is None or self.deliverer is None:
            return DeliveryStats()
        future = asyncio.run_coroutine_threadsafe(self._stop_here(), self.loop)
        try:
            return await asyncio.wrap_future(future)
        finally:
            await asyncio.to_thread(self._thread.join, 30)


def _logged(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A failed run is logged (type only: messages may hold data) and retried next time."""

    async def run() -> None:
        try:
            await job()
        except LeaseLost:
            log.warning("%s stopped: the scheduler lease moved to another process", name)
        except Exception as exc:
            log.error("%s failed: %s", name, type(exc).__name__)

    return run


class SchedulerRunner:
    """APScheduler 3 (asyncio) with the alert jobs; start in a running event loop."""

    def __init__(self, db: Database, settings: Settings, rules: RuleSet | None = None) -> None:
        self.jobs = AlertJobs(db, settings, rules=rules)
        self.settings = settings
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,  # a backlog of missed runs is one run
                "max_instances": 1,  # a slow sweep is never overlapped by the next
                "misfire_grace_time": max(int(settings.sweep_interval_seconds), 1),
            },
        )
        self.jobs.wake = self._wake
        self.delivery = DeliveryThread(self.jobs, settings)

    def _wake(self, job_id: str) -> None:
        if job_id == "alerts.deliver":
            self.delivery.wake()
            return
        job = self.scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def start(self) -> None:
        s, interval = self.settings, self.settings.sweep_interval_seconds
        now = datetime.now(UTC)
        add = self.scheduler.add_job
        add(
            _logged("lease", self.jobs.heartbeat),
            "interval",
            seconds=interval / 4,
            id="alerts.lease",
            next_run_time=now,
        )
        add(_logged("sweep", self.jobs.sweep), "interval", seconds=interval, id="alerts.sweep")
        add(
            _logged("full sweep", self.jobs.full_sweep),
            "cron",
            hour=s.full_sweep_hour_utc,
            minute=0,
            id="alerts.full_sweep",
            misfire_grace_time=3600,
        )
        add(
            _logged("escalation", self.jobs.escalate),
            "interval",
            seconds=s.escalation_interval_seconds,
            id="alerts.escalate",
        )
        # Delivery is not an interval job: it runs while there is work (issue 15).
        self.delivery.start()
        self.scheduler.start()
        log.info("alert scheduler started (holder %s)", self.jobs.lease.holder)

    async def stop(self) -> None:
        """Settle or release deliveries in flight first (a sent one is marked delivered,
        a claimed unsent one is free at once), then stop the jobs and give up the lease."""
        try:
            stats = await self.delivery.stop()
            if stats.released:
                log.info("delivery stopped: %d released for another process", stats.released)
        except Exception as exc:
            log.error("delivery did not stop cleanly: %s", type(exc).__name__)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with contextlib.suppress(Exception):
            await self.jobs.lease.release()


async def run_forever(settings: Settings) -> int:
    """`aggregator scheduler`: only the jobs, until SIGTERM or SIGINT."""
    configure_logging()  # JSON lines; exceptions as type and frames only (core.logs)
    # APScheduler logs every run at INFO; warnings (a run skipped behind a slow one) stay.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    db = Database(settings)
    runner = SchedulerRunner(db, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop()
        await db.dispose()
    return 0
