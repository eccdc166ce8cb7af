"""Service CPU per submission, in one process, without HTTP or a second process.

    python benchmarks/population.py --children 100000 --concerns 1000000   # once
    python benchmarks/intake_inprocess.py [--submissions 3000] [--concurrency 4]

Calls the real app (`create_app`, background work off) through ASGI directly with
fresh bodies about children of the population, as `intake_load.py` sends them,
and prints the process's CPU microseconds per submission. Without uvicorn, the
load generator and other processes on the machine it moves less between runs
than the closed-loop figures, so a change to the submission path shows sooner.

`--callgrind` counts instructions instead (repeatable to about 1.5%, whatever
the machine is doing); it needs valgrind and about two minutes for 300:

    valgrind --tool=callgrind --instr-atstart=no \\
        python benchmarks/intake_inprocess.py --submissions 300 --concurrency 1 --callgrind

The script switches instrumentation on around the measured submissions only
(`callgrind_control`) and prints instructions per submission.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WARMUP = 200  # submissions before measuring: plans prepared, caches filled
# The API rate limit is checked on every request, as served, but never reached.
BENCH_RATE_LIMIT = 10**9


def _scope(auth: bytes, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/concerns",
        "raw_path": b"/api/v1/concerns",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", auth),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _call(app: Any, auth: bytes, body: bytes) -> int:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(_scope(auth, body), receive, send)
    return statuses[0]


def _callgrind(command: str) -> None:
    subprocess.run(
        ["callgrind_control", command, str(os.getpid())], check=True, capture_output=True
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import intake_load
    import population

    from aggregator.app import create_app, settle_heap
    from aggregator.core.db import Database
    from aggregator.core.settings import Settings

    prepared = await intake_load._prepare(args)
    tokens = prepared["tokens"]
    truth = population.cached_truth(args.children, args.concerns, args.seed, date.today())
    run_id = f"{int(time.time() * 1000) % 10**9:09d}"
    subs = population.new_submissions(
        truth,
        args.submissions + WARMUP,
        agencies=args.agencies,
        seed=args.bodies_seed if args.bodies_seed is not None else int(run_id) % 100_000,
        ref_prefix=f"INPROC-{run_id}",
    )
    bodies = [(f"Bearer {tokens[s.agency]}".encode(), json.dumps(s.body).encode()) for s in subs]
    settings = Settings(
        database_url=population.sqlalchemy_url(args.database_url),
        run_scheduler=False,
        rate_limit_api_per_minute=BENCH_RATE_LIMIT,
    )
    app = create_app(db=Database(settings), background=False)
    statuses: dict[int, int] = {}
    async with app.router.lifespan_context(app):
        for auth, body in bodies[:WARMUP]:
            await _call(app, auth, body)
        if not args.default_gc:
            settle_heap()  # as a served process does (background work on)
        queue = iter(bodies[WARMUP:])

        async def worker() -> None:
            for auth, body in queue:
                status = await _call(app, auth, body)
                statuses[status] = statuses.get(status, 0) + 1

        if args.callgrind:
            _callgrind("--instr=on")
        collections = [g["collections"] for g in gc.get_stats()]
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        collections = [
            g["collections"] - c for g, c in zip(gc.get_stats(), collections, strict=True)
        ]
        if args.callgrind:
            _callgrind("--instr=off")
            _callgrind("--dump")
    n = args.submissions
    return {
        "submissions": n,
        "concurrency": args.concurrency,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "cpu_us_per_submission": round(cpu / n * 1e6),
        "wall_us_per_submission": round(wall / n * 1e6),
        # Cyclic garbage collections per 1,000 submissions, by generation.
        "gc_per_1000": [round(c * 1000 / n, 1) for c in collections],
    }


def _instructions(pid: int, n: int) -> int | None:
    """Instructions per submission from the dump callgrind wrote for this process."""
    dumps = sorted(Path.cwd().glob(f"callgrind.out.{pid}.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        return None
    for line in reversed(dumps[-1].read_text().splitlines()):
        if line.startswith("totals:"):  # the header's "summary:" is 0 in a dump
            return int(line.split()[1]) // n
    return None


def main() -> None:
    from population import DEFAULT_URL

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_URL)
    ap.add_argument("--children", type=int, default=100_000, help="as loaded")
    ap.add_argument("--concerns", type=int, default=1_000_000, help="as loaded")
    ap.add_argument("--agencies", type=int, default=8, help="as loaded")
    ap.add_argument("--seed", type=int, default=1, help="as loaded")
    ap.add_argument("--submissions", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--callgrind", action="store_true", help="run under callgrind (see above)")
    ap.add_argument(
        "--bodies-seed",
        type=int,
        help="the same submission bodies every run (fresh references), for comparing two versions",
    )
    ap.add_argument(
        "--default-gc", action="store_true", help="leave the garbage collector as Python sets it"
    )
    args = ap.parse_args()
    try:
        import uvloop  # the event loop uvicorn serves on
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    if args.callgrind:
        result["instructions_per_submission"] = _instructions(os.getpid(), args.submissions)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
