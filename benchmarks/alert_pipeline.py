"""The alert pipeline under load and a receiver outage: concern to alert to delivery.

    python benchmarks/alert_pipeline.py                      # pipeline mode (~4 min)
    python benchmarks/alert_pipeline.py --mode throughput    # delivery capacity (~1.5 min)

Both modes build a fresh PostgreSQL database (`bench_alert_pipeline`), run two
`aggregator scheduler` processes against it (one holds the lease and acts, as in
production) and a webhook receiver process on 127.0.0.1 that logs every request
it gets (delivery id, time). Everything is on loopback and bounded in time.

`pipeline`: `aggregator serve`'s app (uvicorn, scheduler off, via
`intake_load.start_server`) takes concerns at a steady offered rate (open loop,
`intake_load.open_loop`). Some children get a second police "missing" report a
few seconds after the first (red: `missing_exploitation`), some a school and a
health concern (amber: `multi_agency_7d`, `accumulation`); the rest one concern
each. Two subscriptions: receiver A, which is down (connection refused) from
`--down-at` for `--down-for` seconds, and receiver B, which stays up. After the
intake the outbox is given `--drain` seconds to empty. Reported:

- concern to alert: from the `received_at` of the concern that crossed the
  threshold (the last evidence concern received before the alert was written) to
  the alert's first outbox row (written with the alert change, same transaction),
  p50/p95/max for red and amber;
- delivery: from the outbox row to its first receipt at the receiver, for B (up
  throughout) and for A (with the outage), p50/p95/max; deliveries per second;
- duplicates (receipts beyond the first per delivery id) and lost deliveries
  (outbox rows never received: must be 0), dead letters, rows still pending.

`throughput`: receivers that stay up. A backlog of `--backlog` outbox rows over
`--subscriptions` subscriptions on `--receivers` ports is drained (first to last
receipt: notifications per second); then rows are written at `--offered`
per second for `--steady` seconds while delivery runs, and the time from each
row to its receipt is reported (p50/p95/max).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HOST = "127.0.0.1"  # loopback only
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_alert_pipeline"
ROOT = Path(__file__).resolve().parent.parent


# -- the receiver (its own process) -------------------------------------------------------


async def _receiver(
    ports: list[int], out: Any, down: dict[int, tuple[float, float]], hanging: list[int]
) -> None:
    """HTTP/1.1 keep-alive; answers 204 to every POST and logs `time port delivery-id`.

    A port in `down` refuses connections (its listening socket closed, open
    connections dropped) between the two wall-clock times given."""
    conns: dict[int, set[asyncio.StreamWriter]] = defaultdict(set)

    def handler(port: int) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conns[port].add(writer)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length, delivery = 0, "-"
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        name = name.strip().lower()
                        if name == b"content-length":
                            length = int(value)
                        elif name == b"x-aggregator-delivery":
                            delivery = value.strip().decode()
                    if length:
                        await reader.readexactly(length)
                    out.write(f"{time.time():.6f} {port} {delivery}\n")
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                conns[port].discard(writer)
                writer.close()

        return handle

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):  # never answers: a receiver that hangs
                pass
        writer.close()

    for p in hanging:
        await asyncio.start_server(hang, HOST, p, backlog=1024)
    servers = {p: await asyncio.start_server(handler(p), HOST, p, backlog=1024) for p in ports}
    for port, (start, end) in down.items():
        await asyncio.sleep(max(start - time.time(), 0))
        servers[port].close()
        for w in list(conns[port]):
            w.close()
        out.write(f"{time.time():.6f} {port} DOWN\n")
        await asyncio.sleep(max(end - time.time(), 0))
        servers[port] = await asyncio.start_server(handler(port), HOST, port, backlog=1024)
        out.write(f"{time.time():.6f} {port} UP\n")
    await asyncio.Event().wait()


def receiver_main(spec: str) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    s = json.loads(spec)
    down = {int(k): tuple(v) for k, v in s["down"].items()}
    with open(s["log"], "a", buffering=1) as out:
        asyncio.run(_receiver(s["ports"], out, down, s.get("hanging", [])))  # type: ignore[arg-type]


def read_receipts(path: Path) -> list[tuple[float, int, str]]:
    out = []
    for line in path.read_text().splitlines():
        t, port, delivery = line.split(" ", 2)
        if delivery not in ("DOWN", "UP"):
            out.append((float(t), int(port), delivery))
    return out


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def scheduler_env(url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "AGGREGATOR_DATABASE_URL": url,
        "AGGREGATOR_ENVIRONMENT": "development",
        "AGGREGATOR_SWEEP_INTERVAL_SECONDS": str(args.sweep_interval),
        "AGGREGATOR_WEBHOOK_ALLOW_PRIVATE": "true",
        "AGGREGATOR_DELIVERY_BACKOFF_SECONDS": str(args.backoff),
        "AGGREGATOR_WEBHOOK_TIMEOUT_SECONDS": "5",
    }


def start_schedulers(
    url: str, args: argparse.Namespace, logdir: Path
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(2):
        out = (logdir / f"scheduler-{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "aggregator.cli", "scheduler"],
                env=scheduler_env(url, args),
                cwd=ROOT,
                stdout=out,
                stderr=out,
            )
        )
    return procs


def scheduler_cpu(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds used so far by the scheduler processes (both; one delivers)."""
    import psutil

    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
    return total


def stop_all(procs: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(30))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(None)
    return codes


def start_receiver(
    ports: list[int],
    log: Path,
    down: dict[int, tuple[float, float]],
    hanging: list[int] | None = None,
) -> Any:
    spec = json.dumps({"ports": ports, "log": str(log), "down": down, "hanging": hanging or []})
    proc = subprocess.Popen([sys.executable, __file__, "--receiver", spec], cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            for p in ports:
                socket.create_connection((HOST, p), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the receiver did not start")


# -- database ----------------------------------------------------------------------------


async def fresh_database(url: str) -> None:
    from population import recreate_database

    from aggregator.core.migrate import upgrade_async
    from aggregator.core.settings import Settings

    await recreate_database(url)
    await upgrade_async(Settings(database_url=url))


async def setup_principals(url: str, targets: list[str]) -> tuple[dict[str, str], list[str]]:
    """Agency tokens by agency type, and one subscription per target."""
    from aggregator.concerns.vocab import AgencyType
    from aggregator.core.db import Database
    from aggregator.core.settings import Settings
    from aggregator.principals.models import Principal
    from aggregator.principals.service import add_agency
    from alerts import webhook
    from alerts.models import AlertSubscription

    db = Database(Settings(database_url=url))
    tokens: dict[str, str] = {}
    subs: list[str] = []
    try:
        async with db.session() as s:
            for kind in ("police", "school", "health"):
                issued = await add_agency(s, f"Bench {kind}", AgencyType(kind))
                tokens[kind] = issued.token
            lead = Principal(kind="person", name="lead@bench.example", role="lead")
            s.add(lead)
            await s.flush()
            for target in targets:
                sub = AlertSubscription(
                    principal_id=lead.id,
                    channel="webhook",
                    target=target,
                    secret=webhook.new_secret(),
                )
                s.add(sub)
                await s.flush()
                subs.append(sub.id)
    finally:
        await db.dispose()
    return tokens, subs


async def outbox_counts(url: str) -> Counter[str]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT state, count(*) FROM alert_notification GROUP BY state")
    finally:
        await conn.close()
    return Counter({r[0]: r[1] for r in rows})


async def fetch(url: str, query: str, *params: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(query, *params))
    finally:
        await conn.close()


class Watcher:
    """Polls the outbox every 0.25 s from its own thread and keeps when each row was
    first seen committed: the moment an alert change became visible (to 0.25 s plus
    a query), which `created_at` is not (it is set before the sweep's batch commits)."""

    def __init__(self, url: str) -> None:
        import threading

        self.url = url
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            while not self.stop.is_set():
                now = time.time()
                for r in await conn.fetch("SELECT id FROM alert_notification"):
                    self.seen.setdefault(r["id"], now)
                await asyncio.sleep(0.25)
        finally:
            await conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


# -- figures -----------------------------------------------------------------------------


def pct(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def q(p: float) -> float:
        return round(v[min(len(v) - 1, round(p * (len(v) - 1)))], 3)

    return {"n": len(v), "p50": q(0.5), "p95": q(0.95), "max": round(v[-1], 3)}


def duplicates(receipts: list[tuple[float, int, str]]) -> dict[str, int]:
    seen = Counter(d for _, _, d in receipts)
    return {
        "ids": len(seen),
        "duplicate_receipts": sum(n - 1 for n in seen.values()),
        "max_per_id": max(seen.values(), default=0),
    }


# -- pipeline mode -----------------------------------------------------------------------


@dataclass
class Planned:
    slot: int
    agency: str
    body: dict[str, Any]


def plan_intake(rate: float, duration: float, seed: int) -> list[Planned]:
    """Singles, red pairs (two police 'missing') and amber pairs (school + health)."""
    from aggregator import synthetic
    from aggregator.concerns.schemas import ConcernSubmission
    from aggregator.concerns.vocab import AgencyType
    from matching.synthetic import generate_population

    rng = random.Random(seed)
    slots = int(rate * duration)
    population = generate_population(slots * 2, records_per_child=(1, 1), seed=seed)
    children = [c for c in (synthetic.child_part(r) for r in population.records) if c]
    rng.shuffle(children)
    today = date.today()
    plan: dict[int, Planned] = {}
    free = list(range(slots))
    taken: set[int] = set()
    n = 0

    def body(child: dict[str, Any], kind: str, category: str) -> dict[str, Any]:
        nonlocal n
        n += 1
        observed = today - timedelta(days=rng.randint(0, 3))
        return synthetic.body(
            f"PIPE-{seed}-{n}", child, category, observed, rng, AgencyType(kind), severity=2
        )

    def valid(child: dict[str, Any]) -> bool:
        try:
            ConcernSubmission.model_validate(body(child, "school", "neglect"))
        except ValueError:
            return False
        return True

    it = iter(c for c in children if valid(c))
    for slot in free:
        if slot in taken:
            continue
        child = next(it)
        taken.add(slot)
        roll = rng.random()
        gap = int(rng.uniform(2, 8) * rate)
        second = slot + gap
        while second in taken and second < slots:
            second += 1
        if roll < 0.08 and second < slots:
            plan[slot] = Planned(slot, "police", body(child, "police", "missing"))
            plan[second] = Planned(second, "police", body(child, "police", "missing"))
            taken.add(second)
        elif roll < 0.16 and second < slots:
            plan[slot] = Planned(slot, "school", body(child, "school", "neglect"))
            plan[second] = Planned(second, "health", body(child, "health", "physical"))
            taken.add(second)
        else:
            kind = rng.choice(("school", "health"))
            plan[slot] = Planned(slot, kind, body(child, kind, "neglect"))
    return [plan[s] for s in sorted(plan)]


async def concern_to_alert(url: str, seen: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per severity: from the crossing concern's received_at to the alert's first outbox
    row being written (`written`) and being seen committed (`visible`)."""
    rows = await fetch(
        url,
        """
        SELECT a.id, a.severity, a.rule_id, a.evidence, min(n.created_at) AS written,
               array_agg(n.id) AS notes
        FROM alert a JOIN alert_notification n ON n.alert_id = a.id
        WHERE n.event = 'opened'
        GROUP BY a.id
        """,
    )
    ids = {c for r in rows for c in json.loads(r["evidence"]).get("concern_ids", [])}
    received = {
        r["id"]: r["received_at"]
        for r in await fetch(
            url, "SELECT id, received_at FROM concern WHERE id = ANY($1::varchar[])", list(ids)
        )
    }
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        times = [
            received[c]
            for c in json.loads(r["evidence"]).get("concern_ids", [])
            if c in received and received[c] <= r["written"]
        ]
        if not times:
            continue
        crossing = max(times)
        out[f"{r['severity']}_written"].append((r["written"] - crossing).total_seconds())
        visible = min((seen[n] for n in r["notes"] if n in seen), default=None)
        if visible is not None:
            out[f"{r['severity']}_visible"].append(visible - crossing.timestamp())
    return {k: pct(v) for k, v in sorted(out.items())}


def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from intake_load import Request, open_loop, start_server, stop_server

    url = args.database_url
    asyncio.run(fresh_database(url))
    port_a, port_b, svc_port = free_port(), free_port(), free_port()
    targets = [f"http://{HOST}:{port_a}/hook", f"http://{HOST}:{port_b}/hook"]
    tokens, _ = asyncio.run(setup_principals(url, targets))
    print(f"planning {int(args.rate * args.duration):,} submissions", file=sys.stderr)
    plan = plan_intake(args.rate, args.duration, args.seed)
    raw = [
        Request("POST", "/api/v1/concerns", tokens[p.agency], json.dumps(p.body).encode()).encode()
        for p in plan
    ]
    logdir = Path(tempfile.mkdtemp(prefix="alert_pipeline_"))
    receipts_log = logdir / "receipts.log"
    t0 = time.time() + 15  # the intake starts about now, once everything is up
    down = {port_a: (t0 + args.down_at, t0 + args.down_at + args.down_for)}
    receiver = start_receiver([port_a, port_b], receipts_log, down)
    server = start_server(url, svc_port, args.workers)
    schedulers = start_schedulers(url, args, logdir)
    watcher = Watcher(url)
    codes: list[int | None] = []
    try:
        time.sleep(max(t0 - time.time(), 0))
        print(
            f"intake at {args.rate}/s for {args.duration:.0f} s; receiver A down "
            f"{args.down_at:.0f}-{args.down_at + args.down_for:.0f} s",
            file=sys.stderr,
        )
        intake = asyncio.run(open_loop(svc_port, raw, args.rate, args.duration, 64))
        intake_end = time.time()
        print("draining the outbox", file=sys.stderr)
        drained_at = None
        while time.time() < intake_end + args.drain:
            # A red pair's second concern can be the last request: give a sweep time.
            counts = asyncio.run(outbox_counts(url))
            if time.time() > intake_end + args.sweep_interval * 1.5 and not counts["pending"]:
                drained_at = time.time()
                break
            time.sleep(1.0)
        cpu = scheduler_cpu(schedulers)
    finally:
        codes = stop_all(schedulers)
        stop_server(server)
        receiver.terminate()
        receiver.wait(10)
        watcher.close()
    receipts = read_receipts(receipts_log)
    first: dict[str, tuple[float, int]] = {}
    for t, port, d in receipts:
        if d not in first or t < first[d][0]:
            first[d] = (t, port)
    notes = asyncio.run(
        fetch(url, "SELECT id, state, created_at, attempts FROM alert_notification")
    )
    lat: dict[int, list[float]] = defaultdict(list)  # from the row being seen committed
    written: dict[int, list[float]] = defaultdict(list)  # from its created_at
    for n in notes:
        if n["id"] in first:
            t, port = first[n["id"]]
            written[port].append(t - n["created_at"].timestamp())
            if n["id"] in watcher.seen:
                lat[port].append(max(t - watcher.seen[n["id"]], 0.0))
    states = Counter(n["state"] for n in notes)
    delivered_ids = {n["id"] for n in notes if n["state"] == "delivered"}
    lost = sum(1 for n in notes if n["id"] not in first)
    times = sorted(t for t, _ in first.values())
    return {
        "mode": "pipeline",
        "intake": {
            k: intake[k]
            for k in (
                "requests",
                "statuses",
                "per_second",
                "p50_ms",
                "p95_ms",
                "max_ms",
                "offered_per_second",
            )
        },
        "concern_to_alert_seconds": asyncio.run(concern_to_alert(url, watcher.seen)),
        "delivery_seconds_visible_to_receipt_B_up": pct(lat[port_b]),
        "delivery_seconds_visible_to_receipt_A_down_a_while": pct(lat[port_a]),
        "delivery_seconds_written_to_receipt_B_up": pct(written[port_b]),
        "deliveries": len(first),
        "deliveries_per_second": round(len(first) / (times[-1] - times[0]), 1)
        if len(times) > 1
        else None,
        "duplicates": duplicates(receipts),
        "outbox_states": dict(states),
        "lost_deliveries": lost,
        "delivered_but_never_received": len(delivered_ids - set(first)),
        "drained_seconds_after_intake": round(drained_at - intake_end, 1) if drained_at else None,
        "scheduler_cpu_seconds": round(cpu, 1),
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "scheduler_exit_codes": codes,
        "settings": {
            "rate": args.rate,
            "duration": args.duration,
            "down_at": args.down_at,
            "down_for": args.down_for,
            "sweep_interval": args.sweep_interval,
            "backoff": args.backoff,
        },
        "logs": str(logdir),
    }


# -- throughput mode ---------------------------------------------------------------------


async def write_outbox(url: str, subs: list[str], n: int, tag: str) -> None:
    """`n` pending outbox rows spread over `subs`, as alert changes would write them."""
    import asyncpg

    from aggregator.core.types import new_id

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        alert = await conn.fetchval("SELECT id FROM alert LIMIT 1")
        now = datetime.now(UTC)
        rows = []
        for i in range(n):
            nid = new_id()
            payload = json.dumps(
                {"delivery_id": nid, "event": "alert.opened", "alert": {"id": alert}}
            )
            rows.append(
                (
                    nid,
                    alert,
                    subs[i % len(subs)],
                    "opened",
                    f"{tag}-{i}",
                    payload,
                    "pending",
                    0,
                    now,
                    now,
                )
            )
        await conn.copy_records_to_table(
            "alert_notification",
            records=rows,
            columns=[
                "id",
                "alert_id",
                "subscription_id",
                "event",
                "dedupe_key",
                "payload",
                "state",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
        )
    finally:
        await conn.close()


async def healthy_pending(url: str, hanging_subs: set[str]) -> int:
    rows = await fetch(
        url,
        "SELECT count(*) FROM alert_notification WHERE state = 'pending' "
        "AND NOT (subscription_id = ANY($1::varchar[]))",
        list(hanging_subs),
    )
    return int(rows[0][0])


async def seed_alert(url: str) -> None:
    import asyncpg

    from aggregator.core.types import new_id

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        child = new_id()
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO child (id, created_at, touched_at, provisional) VALUES ($1, $2, $2, false)",
            child,
            now,
        )
        await conn.execute(
            "INSERT INTO alert (id, rule_id, child_id, severity, state, version, text, "
            "rules_version, evidence, notes, opened_at, updated_at, escalation_level) VALUES "
            "($1, 'bench', $2, 'red', 'open', 1, 'bench', 'bench', '{}', '[]', $3, $3, 0)",
            new_id(),
            child,
            now,
        )
    finally:
        await conn.close()


def run_throughput(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    asyncio.run(fresh_database(url))
    ports = [free_port() for _ in range(args.receivers)]
    hanging = [free_port() for _ in range(args.hanging)]
    targets = [f"http://{HOST}:{ports[i % len(ports)]}/hook/{i}" for i in range(args.subscriptions)]
    # One more subscription per hanging receiver: its rows are interleaved with the rest.
    targets += [f"http://{HOST}:{p}/hook/hang" for p in hanging]
    _, subs = asyncio.run(setup_principals(url, targets))
    hanging_subs = set(subs[args.subscriptions :])
    asyncio.run(seed_alert(url))
    asyncio.run(write_outbox(url, subs, args.backlog, "backlog"))
    logdir = Path(tempfile.mkdtemp(prefix="alert_throughput_"))
    log = logdir / "receipts.log"
    receiver = start_receiver(ports, log, {}, hanging)
    schedulers = start_schedulers(url, args, logdir)
    load_before = os.getloadavg()[0]
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if asyncio.run(healthy_pending(url, hanging_subs)) == 0:
                break
            time.sleep(0.5)
        backlog = read_receipts(log)
        print(f"steady: {args.offered}/s for {args.steady:.0f} s", file=sys.stderr)
        steady_start = time.time()

        async def steady() -> None:
            tick = 0.1
            per_tick = args.offered * tick
            owed = 0.0
            for k in range(int(args.steady / tick)):
                owed += per_tick
                batch, owed = int(owed), owed - int(owed)
                if batch:
                    await write_outbox(url, subs, batch, f"steady-{k}")
                await asyncio.sleep(max(steady_start + (k + 1) * tick - time.time(), 0))

        asyncio.run(steady())
        deadline = time.time() + 60
        while time.time() < deadline and asyncio.run(healthy_pending(url, hanging_subs)):
            time.sleep(0.5)
        cpu = scheduler_cpu(schedulers)
        load_after = os.getloadavg()[0]
    finally:
        codes = stop_all(schedulers)
        receiver.terminate()
        receiver.wait(10)
    receipts = read_receipts(log)
    every = asyncio.run(
        fetch(
            url,
            "SELECT id, state, created_at, dedupe_key, attempts, subscription_id "
            "FROM alert_notification",
        )
    )
    notes = [n for n in every if n["subscription_id"] not in hanging_subs]
    stuck = [n for n in every if n["subscription_id"] in hanging_subs]
    first: dict[str, float] = {}
    for t, _, d in receipts:
        first[d] = min(first.get(d, t), t)
    backlog_times = sorted(t for t, _, _ in backlog)
    steady_lat = [
        first[n["id"]] - n["created_at"].timestamp()
        for n in notes
        if n["dedupe_key"].startswith("steady") and n["id"] in first
    ]
    b = len({d for _, _, d in backlog})
    span = backlog_times[-1] - backlog_times[0] if len(backlog_times) > 1 else 0
    return {
        "mode": "throughput",
        "backlog": args.backlog,
        "backlog_delivered": b,
        "backlog_per_second": round(b / span, 1) if span else None,
        "steady_offered_per_second": args.offered,
        "steady_row_to_receipt_seconds": pct(steady_lat),
        "duplicates": duplicates(receipts),
        "outbox_states": dict(Counter(n["state"] for n in notes)),
        "lost_deliveries": sum(1 for n in notes if n["id"] not in first),
        "hanging_receiver_rows": {
            "rows": len(stuck),
            "states": dict(Counter(n["state"] for n in stuck)),
            "attempts_total": sum(n["attempts"] for n in stuck),
        },
        "scheduler_cpu_ms_per_delivery": round(cpu * 1000 / max(len(first), 1), 2),
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "cpus": os.cpu_count(),
        "scheduler_exit_codes": codes,
        "receivers": args.receivers,
        "subscriptions": args.subscriptions,
        "logs": str(logdir),
    }


# -- command line ------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        receiver_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("pipeline", "throughput"), default="pipeline")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rate", type=float, default=20.0, help="concerns per second offered")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of intake")
    parser.add_argument("--down-at", type=float, default=40.0, help="receiver A down after (s)")
    parser.add_argument("--down-for", type=float, default=30.0, help="receiver A down for (s)")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds to empty the outbox")
    parser.add_argument("--sweep-interval", type=float, default=30.0)
    parser.add_argument("--backoff", type=float, default=10.0, help="delivery backoff base (s)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the service")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backlog", type=int, default=6000)
    parser.add_argument("--offered", type=float, default=200.0)
    parser.add_argument("--steady", type=float, default=30.0)
    parser.add_argument("--receivers", type=int, default=4)
    parser.add_argument("--subscriptions", type=int, default=8)
    parser.add_argument(
        "--hanging", type=int, default=1, help="receivers that accept and never answer"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run_pipeline(args) if args.mode == "pipeline" else run_throughput(args)
    if args.json:
        print(json.dumps(report, default=str))
        return
    for key, value in report.items():
        print(f"{key:>44}: {json.dumps(value, default=str)}")


if __name__ == "__main__":
    main()
