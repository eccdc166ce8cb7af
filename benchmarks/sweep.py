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
import os
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


CPU: list[tuple[float, float | None]] = []  # (service, PostgreSQL) CPU s of each sweep


def _proc_cpu(pids: list[int]) -> dict[int, float] | None:
    """CPU seconds so far of each process, from /proc (None if one is not here)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


async def _backend_cpu(db: Database) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend serving this database: only when
    the server runs on this machine (None otherwise)."""
    async with db.engine.connect() as conn:
        pids = (
            await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ).scalars()
        return _proc_cpu(list(pids))


async def _timed(db: Database, jobs: AlertJobs, full: bool) -> tuple[float, SweepStats]:
    """Wall seconds of one sweep; its CPU seconds go to CPU.

    On a shared machine the wall time mostly measures waiting for a core; the CPU
    time of the service's process and of its PostgreSQL backends is the work done.
    """
    before = await _backend_cpu(db)
    started, cpu = time.perf_counter(), time.process_time()
    stats = await jobs.sweep(full=full)
    wall, mine = time.perf_counter() - started, time.process_time() - cpu
    after = await _backend_cpu(db)
    server = None
    if before is not None and after is not None:
        server = sum(t - before.get(pid, 0.0) for pid, t in after.items())
    CPU.append((mine, server))
    return wall, stats


def _cpu(n: int) -> str:
    """The median CPU seconds of the last `n` timed sweeps, service and PostgreSQL."""
    mine = statistics.median(c for c, _ in CPU[-n:])
    servers = [s for _, s in CPU[-n:] if s is not None]
    server = f"{statistics.median(servers):.2f}" if servers else "n/a"
    return f"CPU {mine:.2f} s service + {server} s PostgreSQL"


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

        first, stats = await _timed(db, jobs, full=True)
        alerts = await _count(db, Alert)
        print(
            f"first full sweep: {first:.2f} s, {_cpu(1)} ({stats.children} children "
            f"evaluated, {stats.opened} alerts opened)"
        )
        fulls = []
        for _ in range(args.runs):
            seconds, again = await _timed(db, jobs, full=True)
            assert (again.opened, again.updated, again.reopened) == (0, 0, 0), again
            fulls.append(seconds)
        assert await _count(db, Alert) == alerts
        print(
            f"full sweep, unchanged data: median {statistics.median(fulls):.2f} s, "
            f"{_cpu(args.runs)} over {args.runs} runs "
            f"({', '.join(f'{s:.2f}' for s in fulls)}); {again.children} children evaluated, "
            "nothing changed"
        )
        rng = random.Random(args.seed)
        incs, evaluated = [], []
        for _ in range(args.runs):
            await _touch(db, args.touched, rng)
            seconds, inc = await _timed(db, jobs, full=False)
            incs.append(seconds)
            evaluated.append(inc.children)
        print(
            f"incremental sweep, {args.touched} children touched: median "
            f"{statistics.median(incs):.3f} s, {_cpu(args.runs)} over {args.runs} runs "
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
