"""Submissions per second with online matching, submission and picture latency, memory.

    python benchmarks/population.py --children 100000 --concerns 1000000   # once
    python benchmarks/intake_load.py --children 100000 --concerns 1000000 [--json]

Runs the service as its own process (uvicorn, 2 workers, the app factory
`aggregator.app:create_app`, no access log, scheduler off) against the PostgreSQL
database `population.py` loaded, and drives it from a separate load-generator
process (this script with `--client`): a minimal HTTP/1.1 keep-alive client on
uvloop, so that the client costs the shared 2-core machine as little as possible.
Every phase is bounded in requests and in seconds, on 127.0.0.1 only:

- `reference`: POST /validate of the submission bodies to `reference_app.py`, a
  FastAPI app that only validates them (2 uvicorn workers, served beside the
  service): the issue's own yardstick ("about 8,600 requests/s on this machine"),
  measured in the same run, so that figures from faster or slower machines compare;
- `healthz`: GET /healthz, the endpoint-free baseline (framework and client);
- `invalid_422`: POST /api/v1/concerns with a body that fails validation, with an
  agency token (the token, from the intake's caller cache, and validation; nothing stored);
- `submit`: POST /api/v1/concerns of fresh bodies about children of the population
  (`population.new_submissions`: nicknames, typos, swapped dates, old addresses),
  closed loop at `--concurrency` connections: sustained submissions per second;
- `submit_rate`: the same at a fixed offered rate (open loop, latency measured from
  each request's scheduled time): the latency an agency sees below saturation;
- `picture`: GET /api/v1/children/{id}/picture of random children, hub token.

Peak RSS of each service process is sampled throughout (psutil), and CPU seconds of
the service, PostgreSQL and the client are counted per phase. Afterwards the links
the service made for the submitted records are checked against the synthetic truth.
Needs the `bench` extra (psutil).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HOST = "127.0.0.1"  # loopback only
PHASES = ("reference", "healthz", "invalid_422", "submit", "submit_rate", "picture")
# The issue's figures: its yardstick's rate on its machine, and the target there.
ISSUE_REFERENCE_PER_SECOND = 8600
ISSUE_TARGET_PER_SECOND = 500


# -- the load generator (runs in its own process) ----------------------------------------


@dataclass
class Request:
    method: str
    path: str
    token: str | None
    body: bytes | None = None

    def encode(self) -> bytes:
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}"]
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        if self.body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + (self.body or b"")


class Connection:
    """One keep-alive HTTP/1.1 connection; enough HTTP for uvicorn's replies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> int:
        status = await self._send(raw)
        if status == -1:  # the server closed an idle keep-alive connection: once more
            status = await self._send(raw)
        return max(status, 0)

    async def _send(self, raw: bytes) -> int:
        reused = self.writer is not None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await self.reader.readexactly(length)
            if close:
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.close()
            empty = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
            return -1 if reused and (empty or isinstance(exc, ConnectionError)) else 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def summarise(latencies: list[float], statuses: Counter[int], elapsed: float) -> dict[str, Any]:
    lat = sorted(latencies)
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300 or s == 422)
    return {
        "requests": len(lat),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "per_second": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(_percentile(lat, 0.50) * 1000, 2),
        "p95_ms": round(_percentile(lat, 0.95) * 1000, 2),
        "p99_ms": round(_percentile(lat, 0.99) * 1000, 2),
        "max_ms": round(lat[-1] * 1000, 2) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else None,
    }


async def closed_loop(
    port: int, requests: list[bytes], concurrency: int, duration: float
) -> dict[str, Any]:
    """`concurrency` connections, each sending its next request when the last answers."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue = iter(requests)
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        conn = Connection(port)
        try:
            for raw in queue:
                if time.perf_counter() >= deadline:
                    return
                t = time.perf_counter()
                status = await conn.send(raw)
                latencies.append(time.perf_counter() - t)
                statuses[status] += 1
        finally:
            conn.close()

    async def staggered(i: int) -> None:
        # Connections opened in one burst are all accepted by whichever worker
        # wakes first and stay there (keep-alive); open them 20 ms apart.
        await asyncio.sleep(0.02 * i)
        await worker()

    start = time.perf_counter()
    await asyncio.gather(*(staggered(i) for i in range(concurrency)))
    return summarise(latencies, statuses, time.perf_counter() - start)


async def open_loop(
    port: int, requests: list[bytes], rate: float, duration: float, max_inflight: int
) -> dict[str, Any]:
    """Requests at a fixed rate; latency from each request's scheduled start, so a
    stall is charged to every request it delays (no coordinated omission)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    idle: list[Connection] = [Connection(port) for _ in range(max_inflight)]
    slots = asyncio.Semaphore(max_inflight)
    tasks: set[asyncio.Task[None]] = set()
    dropped = 0

    async def one(raw: bytes, scheduled: float) -> None:
        conn = idle.pop()
        try:
            status = await conn.send(raw)
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] += 1
        finally:
            idle.append(conn)
            slots.release()

    start = time.perf_counter()
    n = min(len(requests), int(rate * duration))
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if slots.locked():
            dropped += 1  # the service is this far behind: count it, do not queue it
            continue
        await slots.acquire()
        task = asyncio.create_task(one(requests[i], scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for conn in idle:
        conn.close()
    out = summarise(latencies, statuses, time.perf_counter() - start)
    out["offered_per_second"] = rate
    out["dropped_over_inflight_limit"] = dropped
    return out


def client_main(spec_path: str) -> None:
    """Entry point of the load-generator process: one phase, JSON on stdout."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    spec = json.loads(Path(spec_path).read_text())
    with open(spec["requests"], "rb") as f:
        requests = [json.loads(line) for line in f]
    raw = [
        Request(
            r["method"], r["path"], r.get("token"), r["body"].encode() if r.get("body") else None
        ).encode()
        for r in requests
    ]
    if spec["mode"] == "closed":
        result = asyncio.run(closed_loop(spec["port"], raw, spec["concurrency"], spec["duration"]))
    else:
        result = asyncio.run(
            open_loop(spec["port"], raw, spec["rate"], spec["duration"], spec["concurrency"])
        )
    print(json.dumps(result))


# -- the orchestrator --------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    peak_rss: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def processes(self) -> list[Any]:
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample_forever(self) -> None:
        import psutil

        while not self.stop.is_set():
            for p in self.processes():
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss = p.memory_info().rss
                    self.peak_rss[p.pid] = max(self.peak_rss.get(p.pid, 0), rss)
                    if p.pid not in self.roles:
                        cmd = " ".join(p.cmdline())
                        self.roles[p.pid] = (
                            "supervisor"
                            if p.pid == self.process.pid
                            else "helper"
                            if "resource_tracker" in cmd
                            else "worker"
                        )
            self.stop.wait(0.2)


def start_server(
    database_url: str,
    port: int,
    workers: int,
    app: str = "aggregator.app:create_app",
    app_dir: Path | None = None,
) -> Server:
    """Uvicorn serving the app factory `app`, imported from `app_dir` if given."""
    env = {
        **os.environ,
        "AGGREGATOR_DATABASE_URL": database_url,
        "AGGREGATOR_RUN_SCHEDULER": "false",
        "AGGREGATOR_ENVIRONMENT": "development",
        # The load is many agencies' worth: the rate limit is checked, never reached.
        "AGGREGATOR_RATE_LIMIT_API_PER_MINUTE": str(10**9),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *(["--app-dir", str(app_dir)] if app_dir else []),
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(cmd, env=env, cwd=Path(__file__).resolve().parent.parent)
    server = Server(process)
    threading.Thread(target=server.sample_forever, daemon=True).start()
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200:
                time.sleep(1.0)  # let both workers finish starting
                return server
        if process.poll() is not None:
            raise SystemExit("the service exited at start")
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit("the service did not answer /healthz within 60 s")


def stop_server(server: Server) -> None:
    server.stop.set()
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def _postgres_pids(database: str) -> list[int]:
    """Backends serving this database (their title names it), not other people's work."""
    import psutil

    pids = []
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.info["name"] == "postgres" and f" {database} " in " ".join(p.info["cmdline"]):
                pids.append(p.pid)
    return pids


def run_phase(
    name: str,
    server: Server,
    port: int,
    database: str,
    requests: list[dict[str, Any]],
    mode: str,
    concurrency: int,
    duration: float,
    rate: float = 0.0,
    workdir: Path = Path("/tmp"),
) -> dict[str, Any]:
    req_file = workdir / f"{name}.requests.jsonl"
    spec_file = workdir / f"{name}.spec.json"
    with req_file.open("w") as f:
        for r in requests:
            f.write(json.dumps(r) + "\n")
    spec_file.write_text(
        json.dumps(
            {
                "requests": str(req_file),
                "port": port,
                "mode": mode,
                "concurrency": concurrency,
                "duration": duration,
                "rate": rate,
            }
        )
    )
    service = [p.pid for p in server.processes()]
    pg = _postgres_pids(database)
    pg_before = {pid: _cpu_seconds([pid]) for pid in pg}
    before = (_cpu_seconds(service), 0.0)
    per_worker = {pid: _cpu_seconds([pid]) for pid in service}
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", str(spec_file)], stdout=subprocess.PIPE
    )
    import psutil

    client_ps = psutil.Process(client.pid)
    client_cpu = 0.0
    while client.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = client_ps.cpu_times()
            client_cpu = t.user + t.system
        time.sleep(0.2)
    out, _ = client.communicate(timeout=duration + 60)
    result = json.loads(out)
    # Per backend, so one that closed during the phase (a pool's overflow connection)
    # is left out instead of subtracted; one opened during it counts from zero.
    pg_now = {pid: _cpu_seconds([pid]) for pid in set(pg) | set(_postgres_pids(database))}
    pg_used = sum(max(t - pg_before.get(pid, 0.0), 0.0) for pid, t in pg_now.items())
    after = (_cpu_seconds(service), pg_used)
    n = max(result["requests"], 1)
    result["cpu_seconds_by_service_process"] = {
        f"{server.roles.get(pid, 'process')}:{pid}": round(_cpu_seconds([pid]) - t0, 2)
        for pid, t0 in per_worker.items()
    }
    result["cpu_ms_per_request"] = {
        "service": round((after[0] - before[0]) * 1000 / n, 2),
        "postgres": round((after[1] - before[1]) * 1000 / n, 2),
        "client": round(client_cpu * 1000 / n, 2),
    }
    req_file.unlink()
    spec_file.unlink()
    return result


async def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh tokens for the agencies and a hub user, and a check that the database
    holds the population these arguments describe."""
    from population import agency_specs, child_db_id, sqlalchemy_url
    from sqlalchemy import func, select, text
    from sqlmodel import col

    from aggregator.children.models import Child
    from aggregator.concerns.models import Concern
    from aggregator.core.db import Database
    from aggregator.core.settings import Settings
    from aggregator.principals.models import Principal
    from aggregator.principals.service import issue_token

    db = Database(Settings(database_url=sqlalchemy_url(args.database_url)))
    tokens: dict[str, str] = {}
    try:
        async with db.session() as session:
            names = [s.name for s in agency_specs(args.agencies)] + ["hub@bench.example"]
            found = {
                p.name: p
                for p in (
                    await session.scalars(select(Principal).where(col(Principal.name).in_(names)))
                ).all()
            }
            missing = [n for n in names if n not in found]
            if missing:
                raise SystemExit(
                    f"not a population database (missing {missing[0]!r}); run population.py"
                )
            for name in names:
                tokens[name] = (await issue_token(session, found[name])).token
            children = await session.scalar(select(func.count()).select_from(Child))
            shared_buffers = await session.scalar(text("SHOW shared_buffers"))
            sample = await session.get(Child, child_db_id(args.seed, "c0"))
            concerns = await session.scalar(select(func.count()).select_from(Concern))
        warmed = await _prewarm(db)
    finally:
        await db.dispose()
    if sample is None:
        raise SystemExit("the database holds another population (seed); pass --seed")
    return {
        "tokens": tokens,
        "children_in_db": children,
        "concerns_in_db": concerns,
        "shared_buffers": shared_buffers,
        "prewarmed_mb": warmed,
    }


async def _prewarm(db: Any) -> int | None:
    """Vacuum and analyze, then load every table and index into PostgreSQL's buffer cache
    (pg_prewarm), as a service that has been running a while has them. Returns MB
    read, None if the extension is not installed. With shared_buffers smaller than
    the database, the later pages push earlier ones out again: the report shows
    shared_buffers."""
    from sqlalchemy import text

    # What autovacuum does for a running service, where it is off or behind: fresh
    # planner statistics (earlier runs added rows; with stale counts the picture's
    # review-item query took a plan 10x too slow), and the visibility map of the
    # pages they wrote, without which index-only scans of blocking keys read the heap.
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE)"))
    async with db.session() as session:
        try:
            async with session.begin_nested():
                await session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        except Exception:  # contrib not installed: measure cold
            return None
        blocks = await session.scalar(
            text(
                "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
            )
        )
    return int(blocks or 0) * 8 // 1024


async def _link_accuracy(database_url: str, expected: dict[str, str]) -> dict[str, Any]:
    """Which child the service linked each submitted record to, against the truth."""
    import asyncpg
    from population import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT c.external_ref, r.child_id, r.link_outcome, k.merged_into "
            "FROM concern c JOIN child_record r ON r.concern_id = c.id "
            "LEFT JOIN child k ON k.id = r.child_id WHERE c.external_ref = ANY($1::text[])",
            list(expected),
        )
        merged = dict(
            await conn.fetch("SELECT id, merged_into FROM child WHERE merged_into IS NOT NULL")
        )
    finally:
        await conn.close()

    def resolve(child: str) -> str:
        for _ in range(10):
            if child not in merged:
                break
            child = merged[child]
        return child

    outcomes: Counter[str] = Counter()
    right = wrong = 0
    for ref, child_id, outcome, _ in rows:
        outcomes[outcome] += 1
        if outcome in ("linked", "merged"):
            if resolve(child_id) == resolve(expected[ref]):
                right += 1
            else:
                wrong += 1
    n = max(len(rows), 1)
    return {
        "stored": len(rows),
        "outcomes": dict(outcomes),
        "linked_to_true_child": round(right / n, 4),
        "linked_to_wrong_child": round(wrong / n, 4),
        "new_or_review_of_known_child": round((n - right - wrong) / n, 4),
    }


def _median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[0])
    for key in ("per_second", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key] = statistics.median(values)
    out["cpu_ms_per_request"] = {
        k: statistics.median(r["cpu_ms_per_request"][k] for r in runs)
        for k in runs[0]["cpu_ms_per_request"]
    }
    out["repeats"] = [{k: r[k] for k in ("per_second", "p50_ms", "p95_ms")} for r in runs]
    return out


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import population

    if args.load:
        summary = asyncio.run(
            population.load_population(
                args.database_url, args.children, args.concerns, args.agencies, args.seed
            )
        )
        print(
            f"loaded {summary.children:,} children, {summary.concerns:,} concerns "
            f"in {summary.seconds:.0f} s",
            file=sys.stderr,
        )
    prepared = asyncio.run(_prepare(args))
    tokens = prepared["tokens"]
    hub = tokens["hub@bench.example"]
    truth = population.cached_truth(args.children, args.concerns, args.seed, date.today())
    run_id = f"{int(time.time()) % 10**8:08d}"
    rate_bodies = int(args.rate * args.rate_duration) if args.rate else 0
    # No more bodies than a phase can send at a generous 1,000/s within its bound.
    per_repeat = min(args.submissions, int(1000 * args.duration)) + rate_bodies
    print(f"making {per_repeat * args.repeats:,} submission bodies", file=sys.stderr)
    subs = list(
        population.new_submissions(
            truth,
            per_repeat * args.repeats,
            agencies=args.agencies,
            seed=args.seed * 1000 + int(run_id) % 1000,
            ref_prefix=f"LOAD-{run_id}",
        )
    )
    expected = {s.body["external_ref"]: s.child_id for s in subs}
    rng = random.Random(args.seed)
    picture_children = [
        population.child_db_id(args.seed, rng.choice(truth.children).id)
        for _ in range(args.pictures)
    ]
    invalid = json.dumps({"external_ref": "INVALID-1", "child": {"given_name": "A"}})
    some_agency = next(iter(tokens.values()))

    def submit_requests(batch: list[population.NewSubmission]) -> list[dict[str, Any]]:
        return [
            {
                "method": "POST",
                "path": "/api/v1/concerns",
                "token": tokens[s.agency],
                "body": json.dumps(s.body),
            }
            for s in batch
        ]

    server = start_server(population.sqlalchemy_url(args.database_url), args.port, args.workers)
    try:
        here = Path(__file__).resolve().parent
        reference = start_server("", args.port + 1, args.workers, "reference_app:create_app", here)
    except SystemExit:
        stop_server(server)
        raise
    served_by = {"reference": (reference, args.port + 1)}  # else the service
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}
    try:
        for rep in range(args.repeats):
            mine = subs[rep * per_repeat : (rep + 1) * per_repeat]
            valid = [dict(r, path="/validate", token=None) for r in submit_requests(mine)]
            phases: list[tuple[str, list[dict[str, Any]], str, int, float, float]] = [
                (
                    "reference",
                    list(itertools.islice(itertools.cycle(valid), args.baseline_requests)),
                    "closed",
                    args.concurrency,
                    args.baseline_duration,
                    0,
                ),
                (
                    "healthz",
                    [{"method": "GET", "path": "/healthz", "token": None}] * args.baseline_requests,
                    "closed",
                    args.concurrency,
                    args.baseline_duration,
                    0,
                ),
                (
                    "invalid_422",
                    [
                        {
                            "method": "POST",
                            "path": "/api/v1/concerns",
                            "token": some_agency,
                            "body": invalid,
                        }
                    ]
                    * args.baseline_requests,
                    "closed",
                    args.concurrency,
                    args.baseline_duration,
                    0,
                ),
                (
                    "submit",
                    submit_requests(mine[: per_repeat - rate_bodies]),
                    "closed",
                    args.concurrency,
                    args.duration,
                    0,
                ),
            ]
            if args.rate:
                phases.append(
                    (
                        "submit_rate",
                        submit_requests(mine[per_repeat - rate_bodies :]),
                        "rate",
                        args.concurrency * 4,
                        args.rate_duration,
                        args.rate,
                    )
                )
            phases.append(
                (
                    "picture",
                    [
                        {"method": "GET", "path": f"/api/v1/children/{c}/picture", "token": hub}
                        for c in picture_children
                    ],
                    "closed",
                    args.picture_concurrency,
                    args.picture_duration,
                    0,
                )
            )
            for name, requests, mode, conc, duration, rate in phases:
                served, port = served_by.get(name, (server, args.port))
                result = run_phase(
                    name,
                    served,
                    port,
                    population.database_name(args.database_url),
                    requests,
                    mode,
                    conc,
                    duration,
                    rate,
                    workdir,
                )
                results[name].append(result)
                print(
                    f"[{rep + 1}/{args.repeats}] {name}: {result['per_second']}/s "
                    f"p50 {result['p50_ms']} ms p95 {result['p95_ms']} ms "
                    f"statuses {result['statuses']}",
                    file=sys.stderr,
                )
    finally:
        stop_server(reference)
        stop_server(server)
    accuracy = asyncio.run(_link_accuracy(args.database_url, expected))
    phases_out = {name: _median_result(runs) for name, runs in results.items() if runs}
    base = phases_out["healthz"]
    submit = phases_out["submit"]
    yardstick = phases_out["reference"]["per_second"]
    return {
        "database_url": population.sqlalchemy_url(args.database_url),
        "children_in_db": prepared["children_in_db"],
        "concerns_in_db_before": prepared["concerns_in_db"],
        "workers": args.workers,
        "postgresql_shared_buffers": prepared["shared_buffers"],
        "prewarmed_mb": prepared["prewarmed_mb"],
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "load_average_before": os.getloadavg(),
        "phases": phases_out,
        "ratios": {
            "submit_throughput_vs_healthz": round(submit["per_second"] / base["per_second"], 4),
            "submit_p50_vs_healthz_p50": round(submit["p50_ms"] / base["p50_ms"], 1),
            "submit_vs_invalid_422_throughput": round(
                submit["per_second"] / phases_out["invalid_422"]["per_second"], 4
            ),
            "submit_vs_reference_throughput": round(submit["per_second"] / yardstick, 4),
            "reference_vs_issue_machine": round(yardstick / ISSUE_REFERENCE_PER_SECOND, 3),
        },
        # The issue's 500/s, as a share of its yardstick, applied to this machine's.
        "target_scaled_to_this_machine": round(
            ISSUE_TARGET_PER_SECOND * yardstick / ISSUE_REFERENCE_PER_SECOND, 1
        ),
        "peak_rss_mb": {
            f"{server.roles.get(pid, 'process')}:{pid}": round(rss / 2**20, 1)
            for pid, rss in sorted(server.peak_rss.items())
        },
        "links": accuracy,
    }


def print_table(report: dict[str, Any]) -> None:
    print(
        f"\nservice: {report['workers']} uvicorn workers; database "
        f"{report['children_in_db']:,} children, {report['concerns_in_db_before']:,} concerns; "
        f"closed-loop concurrency {report['concurrency']}; repeats {report['repeats']} (medians); "
        f"PostgreSQL shared_buffers {report['postgresql_shared_buffers']}, "
        f"prewarmed {report['prewarmed_mb']} MB"
    )
    print(
        f"{'phase':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'svc cpu':>8} {'pg cpu':>7} {'cl cpu':>7}  statuses"
    )
    for name, r in report["phases"].items():
        cpu = r["cpu_ms_per_request"]
        print(
            f"{name:<12} {r['per_second']:>8.1f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['max_ms'] or 0:>8.1f} {cpu['service']:>8.2f} "
            f"{cpu['postgres']:>7.2f} {cpu['client']:>7.2f}  {r['statuses']}"
        )
    print(
        "(cpu columns: CPU milliseconds per request of the service processes, all "
        "PostgreSQL backends, and the load generator)"
    )
    print("ratios:", json.dumps(report["ratios"]))
    print(
        f"the issue's {ISSUE_TARGET_PER_SECOND}/s at its yardstick's "
        f"{ISSUE_REFERENCE_PER_SECOND:,}/s, scaled to this run's reference: "
        f"{report['target_scaled_to_this_machine']}/s"
    )
    print("peak RSS MB:", json.dumps(report["peak_rss_mb"]))
    print("links of submitted records:", json.dumps(report["links"]))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
        return
    from population import DEFAULT_URL

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--children", type=int, default=100_000, help="as loaded")
    parser.add_argument("--concerns", type=int, default=1_000_000, help="as loaded")
    parser.add_argument("--agencies", type=int, default=8, help="as loaded")
    parser.add_argument("--seed", type=int, default=1, help="as loaded")
    parser.add_argument("--load", action="store_true", help="(re)load the population first")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--submissions", type=int, default=20_000, help="bound of `submit`")
    parser.add_argument("--duration", type=float, default=60.0, help="bound of `submit`, s")
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="offered rate of `submit_rate` per second (0 skips it)",
    )
    parser.add_argument("--rate-duration", type=float, default=30.0)
    parser.add_argument("--baseline-requests", type=int, default=100_000)
    parser.add_argument("--baseline-duration", type=float, default=10.0)
    parser.add_argument("--pictures", type=int, default=2_000)
    parser.add_argument("--picture-concurrency", type=int, default=4)
    parser.add_argument("--picture-duration", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1, help="medians over this many runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = orchestrate(args)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
