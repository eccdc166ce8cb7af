"""What a verification of the audit chain reads: a full walk against the incremental one.

    python benchmarks/audit_verify.py --events 50000 --new 100 --runs 3

Builds a SQLite database (a temporary file, through the migrations) holding
`--events` sealed events, with an anchor file, then prints for each kind of
verification the median time of `--runs` and how many events it read:

* full: `verify_chain(full=True)`, what `aggregator audit verify --full` does;
* incremental: after `--new` more events are sealed, `verify_chain()` from the
  checkpoint the previous verification left, what the audit page does;
* a new process: the same, in a process that has to find its checkpoint in the
  anchor file first (the `aggregator audit verify` command).

The ratio full/incremental is the figure that matters: the audit page's cost
follows the events since its last view, not the length of the trail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aggregator.audit.chain import seal_pending, verify_chain
from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from aggregator.core.migrate import upgrade_async
from aggregator.core.settings import Settings


async def _add(db: Database, n: int) -> None:
    for start in range(0, n, 5000):
        async with db.session() as session:
            session.add_all(
                AuditEvent(action="bench.event", purpose="bench", outcome="ok", object_id=str(i))
                for i in range(start, min(n, start + 5000))
            )


async def main(events: int, new: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment="test",
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            audit_key="bench-audit-key-" + "x" * 32,
            audit_anchor_path=Path(tmp) / "anchor.jsonl",
        )
        await upgrade_async(settings)
        db = Database(settings)
        await _add(db, events)
        await seal_pending(db)
        figures: dict[str, list[tuple[float, int]]] = {"full": [], "incremental": [], "new": []}
        for _ in range(runs):
            started = time.perf_counter()
            full = await verify_chain(db, full=True)
            figures["full"].append((time.perf_counter() - started, full.checked))
            await _add(db, new)
            await seal_pending(db)
            started = time.perf_counter()
            step = await verify_chain(db)
            figures["incremental"].append((time.perf_counter() - started, step.checked))
            await _add(db, new)
            await seal_pending(db)
            fresh = Database(settings)
            started = time.perf_counter()
            resumed = await verify_chain(fresh)
            figures["new"].append((time.perf_counter() - started, resumed.checked))
            await fresh.dispose()
            assert full.ok and step.ok and resumed.ok
        await db.dispose()
    medians = {k: statistics.median(t for t, _ in v) for k, v in figures.items()}
    for name, label in (
        ("full", "full walk"),
        ("incremental", "incremental (same process)"),
        ("new", "incremental (new process, checkpoint from the anchor file)"),
    ):
        read = figures[name][-1][1]
        print(f"{label:<60} {medians[name] * 1000:9.1f} ms  {read:>7} events read")
    print(f"full / incremental: {medians['full'] / medians['incremental']:.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.new, args.runs))
