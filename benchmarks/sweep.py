"""Time the alert sweeps over a large population in PostgreSQL.

    python benchmarks/sweep.py --children 100000 --concerns 1000000 --runs 3

Loads the population with `benchmarks/population.py` (bulk COPY; identities from
`matching.synthetic`) into a database whose name starts with "bench" (dropped and
recreated; `--reuse` keeps an existing one), then times:

* the first full sweep, which creates every alert the population warrants;
* full sweeps on the unchanged data (medians of `--runs`), which must change
  nothing: the sweep is idempotent;
* incremental sweeps (medians of `--runs`) after touching `--touched` random
  children, as new concerns would, which evaluates them and their households.

No subscriptions exist, so no outbox rows are written; each sweep runs exactly as
the scheduler's job does (batches of 500 children, one transaction per batch).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text, update

from aggregator.children.models import Child
from aggregator.core.db import Database
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from alerts.jobs import INCREMENTAL, AlertJobs
from alerts.models import Alert, AlertJobState
from alerts.service import SweepStats
from benchmarks.population import ADMIN_DSN, load_population, sqlalchemy_url

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_alerts_sweep"


async def _count(db: Database, what: object) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


CPU: list[float] = []  # this process's CPU seconds of each timed sweep, in order


async def _timed(jobs: AlertJobs, full: bool) -> tuple[float, SweepStats]:
    """Wall seconds of one sweep; its CPU seconds (this process only) go to CPU.

    On a shared machine the wall time includes waiting for a core; the CPU time
    of the service's own process is steadier, and PostgreSQL's work is in neither.
    """
    started, cpu = time.perf_counter(), time.process_time()
    stats = await jobs.sweep(full=full)
    CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started, stats


def _cpu(n: int) -> str:
    """The median CPU seconds of the last `n` timed sweeps."""
    return f"{statistics.median(CPU[-n:]):.2f}"


async def _touch(db: Database, n: int, rng: random.Random) -> None:
    """Mark `n` random children as changed, after moving the watermark to now."""
    async with db.session() as s:
        ids = list((await s.scalars(select(Child.id))).all())  # type: ignore[call-overload]
        state = await s.get(AlertJobState, INCREMENTAL) or AlertJobState(name=INCREMENTAL)
        state.watermark = utcnow() - timedelta(milliseconds=1)
        s.add(state)
    chosen = rng.sample(ids, min(n, len(ids)))
    async with db.session() as s:
        await s.execute(
            update(Child).where(Child.id.in_(chosen)).values(touched_at=utcnow())  # type: ignore[attr-defined]
        )


async def run(args: argparse.Namespace) -> None:
    url = sqlalchemy_url(args.database_url)
    if not args.reuse:
        summary = await load_population(
            url, args.children, args.concerns, seed=args.seed, admin_dsn=args.admin_dsn
        )
        print(
            f"loaded {summary.children} children, {summary.concerns} concerns in {summary.seconds} s"
        )
    # No overlap: the benchmark moves the watermark itself, so that an incremental
    # sweep sees exactly the children it touched.
    settings = Settings(database_url=url, sweep_overlap_seconds=0, database_pool_size=4)
    db = Database(settings)
    try:
        async with db.session() as s:
            await s.execute(text("TRUNCATE alert_notification, alert, alert_job_state"))
        children = await _count(db, Child)
        concerns = await _count(db, text("concern"))
        print(f"population: {children} children, {concerns} concerns")
        jobs = AlertJobs(db, settings, use_lease=False)

        first, stats = await _timed(jobs, full=True)
        alerts = await _count(db, Alert)
        print(
            f"first full sweep: {first:.2f} s, {_cpu(1)} s CPU ({stats.children} children "
            f"evaluated, {stats.opened} alerts opened)"
        )
        fulls = []
        for _ in range(args.runs):
            seconds, again = await _timed(jobs, full=True)
            assert (again.opened, again.updated, again.reopened) == (0, 0, 0), again
            fulls.append(seconds)
        assert await _count(db, Alert) == alerts
        print(
            f"full sweep, unchanged data: median {statistics.median(fulls):.2f} s, "
            f"{_cpu(args.runs)} s CPU over {args.runs} runs "
            f"({', '.join(f'{s:.2f}' for s in fulls)}); {again.children} children evaluated, "
            "nothing changed"
        )
        rng = random.Random(args.seed)
        incs, evaluated = [], []
        for _ in range(args.runs):
            await _touch(db, args.touched, rng)
            seconds, inc = await _timed(jobs, full=False)
            incs.append(seconds)
            evaluated.append(inc.children)
        print(
            f"incremental sweep, {args.touched} children touched: median "
            f"{statistics.median(incs):.3f} s, {_cpu(args.runs)} s CPU over {args.runs} runs "
            f"({', '.join(f'{s:.3f}' for s in incs)}); "
            f"median {statistics.median(evaluated):.0f} children evaluated with their households"
        )
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT rule_id, count(*) FROM alert GROUP BY rule_id ORDER BY 2 DESC")
                )
            ).all()
        print("alerts by rule: " + ", ".join(f"{r}={n}" for r, n in rows))
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--concerns", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--touched", type=int, default=1_000, help="children per incremental sweep")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
