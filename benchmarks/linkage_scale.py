"""Linkage accuracy as the population grows: issue 17's yardstick, through the API.

    python benchmarks/linkage_scale.py --sizes 10000                     # SQLite
    python benchmarks/linkage_scale.py --sizes 10000,50000,100000 --backend postgresql
    python benchmarks/linkage_scale.py --order 2000                      # arrival order
    python benchmarks/linkage_scale.py --sizes 2000 --json

For each size, `realistic_population.generate(size)` makes a city's children and
the concerns seven agencies raise about them (see that module: common names,
twins, siblings, step-families, moves, sparse records, per-agency habits). The
service runs as its own process (`intake_load.start_server`: uvicorn, 2 workers,
scheduler off) on a fresh database (a SQLite file, or the PostgreSQL database
`bench_linkbench`, dropped and recreated), each agency with its own token, and
the records are posted through POST /api/v1/concerns in the order they were
observed by `--concurrency` keep-alive clients (`intake_load.closed_loop`), so
that each is linked online as in service, with the shipped model.

Afterwards the database is read directly (the cheapest honest read: the concern's
external_ref is the record's ref, its child_record row says which child the
record landed on, `child.merged_into` is followed), and the children formed are
scored pair by pair against the truth:

- precision, recall and F1 of the automatic links (pairs of records on one child;
  a record sent to review waits on a provisional child of its own, so it counts
  as not linked);
- twin merges (twin pairs with records on one child), children holding two
  different NHS numbers or UPNs;
- review items open, as a share of records;
- wrong pairs by kind (a pair may be of several kinds): twins, siblings, cousins
  (households of one surname, often in one street), the same name with different
  dates of birth and postcodes (of the true children), the two records' given and
  family names both differ, a sparse record joined, a chain (the two records
  share no name, date of birth, postcode or identifier: only other records hold
  them together), in a child with two NHS numbers, a hostel's postcode, other.

`--order N` posts one population of N children twice, in two random orders, into
two fresh databases and reports the pairwise F1 between the two results (the
issue's target is >= 0.995), and each against the truth.

Targets (issue 17): precision >= 0.995 and recall >= 0.97 at every size, flat as
the population grows; twin merges 0; review items <= 3% of records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from intake_load import Request, closed_loop, start_server, stop_server  # noqa: E402
from realistic_population import AGENCY_NAMES, HABITS, Population, generate  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_linkbench"
TARGETS = {"precision": 0.995, "recall": 0.97, "twin_merges": 0, "review_pct": 3.0}
# A child formed of more records than this is scored by counting only (its pairs
# are not enumerated into kinds): a sign of a runaway merge in itself.
MAX_ENUMERATED = 400


@dataclass
class Placement:
    """Where the service put each record: ref -> child, and the open review items."""

    child_of_ref: dict[str, str]
    open_items: int
    refs_with_open_item: int
    statuses: dict[str, int]
    seconds: float


# -- posting -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(database_url: str) -> dict[str, str]:
    """A migrated database with one agency (and token) per kind of agency."""
    from aggregator.concerns.vocab import AgencyType
    from aggregator.core.db import Database
    from aggregator.core.migrate import upgrade_async
    from aggregator.core.settings import Settings
    from aggregator.principals.service import add_agency

    settings = Settings(database_url=database_url)
    await upgrade_async(settings)
    db = Database(settings)
    tokens: dict[str, str] = {}
    try:
        async with db.session() as session:
            for key, habit in HABITS.items():
                agency = await add_agency(session, AGENCY_NAMES[key], AgencyType(habit.agency_type))
                tokens[key] = agency.token
    finally:
        await db.dispose()
    return tokens


async def _read_back(database_url: str) -> tuple[dict[str, str], int, int]:
    """ref -> the child (after merges) its record is on; open review items."""
    from sqlalchemy import select

    from aggregator.children.models import Child, ReviewItem
    from aggregator.concerns.models import ChildRecord, Concern
    from aggregator.core.db import Database
    from aggregator.core.settings import Settings

    db = Database(Settings(database_url=database_url))
    try:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(Concern.external_ref, ChildRecord.id, ChildRecord.child_id).join(
                        ChildRecord, ChildRecord.concern_id == Concern.id
                    )
                )
            ).all()
            merged = dict(
                (
                    await session.execute(
                        select(Child.id, Child.merged_into).where(Child.merged_into.is_not(None))
                    )
                ).all()
            )
            items = (
                await session.execute(
                    select(ReviewItem.record_id).where(ReviewItem.state == "open")
                )
            ).all()
    finally:
        await db.dispose()

    def resolve(child: str) -> str:
        for _ in range(50):
            if child not in merged:
                break
            child = merged[child]
        return child

    ref_of_record = {record_id: ref for ref, record_id, _ in rows}
    placed = {ref: resolve(child_id) for ref, _, child_id in rows}
    with_item = {ref_of_record[r] for (r,) in items if r in ref_of_record}
    return placed, len(items), len(with_item)


def post(
    population: Population,
    order: list[int],
    backend: str,
    concurrency: int,
    workers: int,
    keep: bool = False,
) -> Placement:
    """Post the records (in `order`) to a served process on a fresh database
    (`keep`: leave the SQLite file for inspection; PostgreSQL's stays anyway)."""
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if backend == "postgresql":
        from population import recreate_database

        asyncio.run(recreate_database(PG_URL))
        url = PG_URL
    elif keep:
        path = Path(tempfile.mkdtemp(prefix="linkage_scale_")) / "linkage.db"
        print(f"  keeping the SQLite database: {path}", file=sys.stderr, flush=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="linkage_scale_")
        url = f"sqlite+aiosqlite:///{tmp.name}/linkage.db"
    try:
        tokens = asyncio.run(_prepare(url))
        raw = [
            Request(
                "POST",
                "/api/v1/concerns",
                tokens[population.records[i].agency],
                json.dumps(population.records[i].body).encode(),
            ).encode()
            for i in order
        ]
        port = _free_port()
        server = start_server(url, port, workers)
        try:
            started = time.perf_counter()
            result = asyncio.run(closed_loop(port, raw, concurrency, duration=86_400))
            seconds = time.perf_counter() - started
        finally:
            stop_server(server)
        placed, open_items, refs_with_item = asyncio.run(_read_back(url))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return Placement(placed, open_items, refs_with_item, result["statuses"], seconds)


# -- scoring -------------------------------------------------------------------------


def _clusters(assignment: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for ref, cluster in assignment.items():
        out[cluster].append(ref)
    return out


def pairwise(predicted: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of `predicted` against `truth`, counted (no
    pair enumerated): pairs on one predicted child that are on one true child."""
    refs = predicted.keys() & truth.keys()
    cells: Counter[tuple[str, str]] = Counter((predicted[r], truth[r]) for r in refs)
    pred_sizes: Counter[str] = Counter(predicted[r] for r in refs)
    true_sizes: Counter[str] = Counter(truth[r] for r in refs)
    hits = sum(comb(n, 2) for n in cells.values())
    pred_pairs = sum(comb(n, 2) for n in pred_sizes.values())
    true_pairs = sum(comb(n, 2) for n in true_sizes.values())
    precision = hits / pred_pairs if pred_pairs else 1.0
    recall = hits / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "linked_pairs": pred_pairs,
        "true_pairs": true_pairs,
        "wrong_pairs": pred_pairs - hits,
        "missed_pairs": true_pairs - hits,
    }


def _norm(value: Any) -> str:
    return str(value).casefold().replace(" ", "").replace("-", "") if value else ""


def _facts(body: dict[str, Any]) -> dict[str, str]:
    c = body["child"]
    return {
        "name": _norm(c.get("given_name")) + "|" + _norm(c.get("family_name")),
        "dob": c.get("date_of_birth") or "",
        "postcode": (c.get("address") or {}).get("postcode") or "",
        "nhs": c.get("nhs_number") or "",
        "upn": c.get("upn") or "",
    }


def wrong_link_kinds(population: Population, placed: dict[str, str]) -> dict[str, Any]:
    """Wrong pairs by kind, and children holding two NHS numbers or UPNs."""
    records = {r.ref: r for r in population.records}
    children = population.children
    households = population.households
    facts = {ref: _facts(r.body) for ref, r in records.items()}
    kinds: Counter[str] = Counter()
    clusters = _clusters({ref: c for ref, c in placed.items() if ref in records})
    two_nhs = two_upn = mixed_children = 0
    not_enumerated = 0
    twin_pairs_merged: set[tuple[str, str]] = set()
    for members in clusters.values():
        true_ids = {records[ref].child_id for ref in members}
        nhs = {facts[ref]["nhs"] for ref in members} - {""}
        upns = {facts[ref]["upn"] for ref in members} - {""}
        two_nhs += len(nhs) > 1
        two_upn += len(upns) > 1
        if len(true_ids) < 2:
            continue
        mixed_children += 1
        for a in true_ids:
            twin = children[a].twin_of
            if twin in true_ids:
                twin_pairs_merged.add((min(a, twin), max(a, twin)))  # type: ignore[type-var]
        if len(members) > MAX_ENUMERATED:
            by_true = Counter(records[ref].child_id for ref in members)
            not_enumerated += comb(len(members), 2) - sum(comb(n, 2) for n in by_true.values())
            continue
        for i, a in enumerate(members):
            ra, fa = records[a], facts[a]
            for b in members[i + 1 :]:
                rb = records[b]
                if ra.child_id == rb.child_id:
                    continue
                fb = facts[b]
                ca, cb = children[ra.child_id], children[rb.child_id]
                kinds["all"] += 1
                found = False
                if ca.twin_of == cb.id or cb.twin_of == ca.id:
                    kinds["twins"] += 1
                    found = True
                elif ca.household == cb.household:
                    kinds["siblings"] += 1
                    found = True
                home_a = households[ca.household].addresses[0][1].postcode
                home_b = households[cb.household].addresses[0][1].postcode
                if (
                    (ca.given_name, ca.family_name) == (cb.given_name, cb.family_name)
                    and ca.date_of_birth != cb.date_of_birth
                    and home_a != home_b
                ):
                    kinds["same_name_other_dob_and_postcode"] += 1
                    found = True
                na, nb = fa["name"].split("|"), fb["name"].split("|")
                if na[0] != nb[0] and na[1] != nb[1]:
                    kinds["given_and_family_names_differ"] += 1
                    found = True
                if ra.sparse or rb.sparse:
                    kinds["sparse_record_joined"] += 1
                    found = True
                if not any(fa[k] and fa[k] == fb[k] for k in fa):
                    kinds["chain"] += 1
                    found = True
                if len(nhs) > 1:
                    kinds["child_with_two_nhs_numbers"] += 1
                    found = True
                if "hostel" in ra.tags or "hostel" in rb.tags:
                    kinds["hostel_postcode"] += 1
                    found = True
                if households[ca.household].cousins_of == cb.household or (
                    households[cb.household].cousins_of == ca.household
                ):
                    kinds["cousins"] += 1
                    found = True
                if not found:
                    kinds["other"] += 1
    if not_enumerated:
        kinds["in_runaway_children_not_enumerated"] = not_enumerated
    return {
        "wrong_pair_kinds": dict(kinds.most_common()),
        "twin_merges": len(twin_pairs_merged),
        "twin_pairs": len(population.twin_pairs()),
        "children_formed": len(clusters),
        "children_mixing_two_or_more": mixed_children,
        "children_with_two_nhs_numbers": two_nhs,
        "children_with_two_upns": two_upn,
    }


def wrong_examples(population: Population, placed: dict[str, str], limit: int) -> list[str]:
    """Up to `limit` children formed of records of two or more true children, as text."""
    records = {r.ref: r for r in population.records}
    clusters = _clusters({ref: c for ref, c in placed.items() if ref in records})
    mixed = [m for m in clusters.values() if len({records[r].child_id for r in m}) > 1]
    random.Random(0).shuffle(mixed)
    out = []
    for members in mixed[:limit]:
        lines = [f"a child of {len(members)} records:"]
        for ref in sorted(members, key=lambda r: records[r].child_id):
            r = records[ref]
            c = r.body["child"]
            lines.append(
                f"  {r.child_id} {r.agency:<10} {c.get('given_name', '')} "
                f"{c.get('family_name', '')} dob={c.get('date_of_birth', '')} "
                f"pc={(c.get('address') or {}).get('postcode', '')} "
                f"nhs={c.get('nhs_number', '')} upn={c.get('upn', '')} {sorted(r.tags)}"
            )
        out.append("\n".join(lines))
    return out


def score(population: Population, placement: Placement) -> dict[str, Any]:
    truth = population.child_of()
    n = len(population.records)
    out: dict[str, Any] = {
        "children": len(population.children),
        "records": n,
        "posted_seconds": round(placement.seconds, 1),
        "records_per_second": round(n / placement.seconds, 1) if placement.seconds else 0.0,
        "statuses": placement.statuses,
        "stored": len(placement.child_of_ref),
        **pairwise(placement.child_of_ref, truth),
        "review_items_open": placement.open_items,
        "review_pct": round(100 * placement.open_items / n, 2) if n else 0.0,
        "records_with_open_review_pct": round(100 * placement.refs_with_open_item / n, 2)
        if n
        else 0.0,
    }
    out.update(wrong_link_kinds(population, placement.child_of_ref))
    return out


# -- the runs ------------------------------------------------------------------------


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    population = generate(size, seed=args.seed)
    generated = time.perf_counter() - t
    print(
        f"[{size:,} children] {len(population.records):,} records generated in "
        f"{generated:.0f} s; posting ...",
        file=sys.stderr,
        flush=True,
    )
    placement = post(
        population,
        list(range(len(population.records))),
        args.backend,
        args.concurrency,
        args.workers,
        keep=args.keep_db,
    )
    t = time.perf_counter()
    result = score(population, placement)
    result["generate_seconds"] = round(generated, 1)
    result["score_seconds"] = round(time.perf_counter() - t, 1)
    result["population"] = population.describe()
    if args.show_wrong:
        for text in wrong_examples(population, placement.child_of_ref, args.show_wrong):
            print(text, file=sys.stderr)
    return result


def rescore(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Score what an earlier (or interrupted) PostgreSQL run stored, without posting:
    the population is regenerated from the same seed; only stored records count."""
    population = generate(size, seed=args.seed)
    placed, open_items, with_item = asyncio.run(_read_back(PG_URL))
    stored = set(placed)
    population.records = [r for r in population.records if r.ref in stored]
    result = score(
        population, Placement(placed, open_items, with_item, {"stored": len(placed)}, 0.0)
    )
    result["generate_seconds"] = result["score_seconds"] = 0.0
    result["population"] = population.describe()
    return result


def run_order(size: int, args: argparse.Namespace) -> dict[str, Any]:
    population = generate(size, seed=args.seed)
    truth = population.child_of()
    runs = []
    for k in (1, 2):
        order = list(range(len(population.records)))
        random.Random(args.seed * 1000 + k).shuffle(order)
        print(f"[order {k}] posting {len(order):,} records ...", file=sys.stderr, flush=True)
        runs.append(post(population, order, args.backend, args.concurrency, args.workers))
    first, second = runs
    return {
        "children": size,
        "records": len(population.records),
        "between_orders": pairwise(second.child_of_ref, first.child_of_ref),
        "first_vs_truth": pairwise(first.child_of_ref, truth),
        "second_vs_truth": pairwise(second.child_of_ref, truth),
        "posted_seconds": [round(r.seconds, 1) for r in runs],
        "target_f1_between_orders": 0.995,
    }


def _mark(ok: bool) -> str:
    return "" if ok else " *"


def print_table(rows: Iterable[dict[str, Any]], backend: str) -> None:
    rows = list(rows)
    print(f"\nLinkage as the population grows ({backend}, shipped model; * misses a target)")
    print(
        f"{'children':>9} {'records':>8} {'precision':>9} {'recall':>7} {'f1':>7} "
        f"{'twin merges':>11} {'review %':>8} {'2 NHS':>6} {'post s':>7} {'rec/s':>6}"
    )
    for r in rows:
        print(
            f"{r['children']:>9,} {r['records']:>8,} "
            f"{r['precision']:>7.4f}{_mark(r['precision'] >= TARGETS['precision']):<2} "
            f"{r['recall']:>5.4f}{_mark(r['recall'] >= TARGETS['recall']):<2}"
            f"{r['f1']:>7.4f} "
            f"{r['twin_merges']:>9}{_mark(r['twin_merges'] == 0):<2} "
            f"{r['review_pct']:>6.2f}{_mark(r['review_pct'] <= TARGETS['review_pct']):<2} "
            f"{r['children_with_two_nhs_numbers']:>6} {r['posted_seconds']:>7.0f} "
            f"{r['records_per_second']:>6.0f}"
        )
    for r in rows:
        total = r["wrong_pair_kinds"].get("all", 0)
        kinds = ", ".join(
            f"{k} {v} ({100 * v / total:.0f}%)" if total else f"{k} {v}"
            for k, v in r["wrong_pair_kinds"].items()
            if k != "all"
        )
        print(
            f"\n{r['children']:,} children: {r['wrong_pairs']:,} wrong pairs in "
            f"{r['children_mixing_two_or_more']:,} children formed of two or more; "
            f"{r['missed_pairs']:,} missed pairs; statuses {r['statuses']}"
        )
        print(f"  wrong pairs by kind (a pair can be of several): {kinds or 'none'}")
        print(
            f"  twin pairs {r['twin_pairs']}, merged {r['twin_merges']}; children with two "
            f"UPNs {r['children_with_two_upns']}; review items open {r['review_items_open']:,}"
            f" (records with one: {r['records_with_open_review_pct']}%); generated in "
            f"{r['generate_seconds']} s, posted in {r['posted_seconds']} s, scored in "
            f"{r['score_seconds']} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000", help="children, comma-separated")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=8, help="clients posting at once")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--order", type=int, default=0, help="children: the two-orders test instead of sizes"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per result")
    parser.add_argument(
        "--show-wrong", type=int, default=0, help="print N wrongly formed children (stderr)"
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score what bench_linkbench holds (a run of --sizes N, perhaps interrupted)",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the SQLite file (its path on stderr)"
    )
    parser.add_argument(
        "--table-from", metavar="FILE", help="print the table of a saved --json run and stop"
    )
    args = parser.parse_args()
    # A stopped run stops its service too (the `finally` of `post`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.table_from:
        lines = Path(args.table_from).read_text().splitlines()
        print_table([json.loads(line) for line in lines if line.startswith("{")], args.backend)
        return
    if args.order:
        result = run_order(args.order, args)
        if args.json:
            print(json.dumps(result))
        else:
            b = result["between_orders"]
            print(
                f"\nTwo random orders, {result['children']:,} children / {result['records']:,} "
                f"records ({args.backend}): pairwise F1 between them {b['f1']:.4f} "
                f"(precision {b['precision']:.4f}, recall {b['recall']:.4f}; target >= 0.995)"
                f"{_mark(b['f1'] >= 0.995)}"
            )
            for k in ("first_vs_truth", "second_vs_truth"):
                s = result[k]
                print(
                    f"  {k}: precision {s['precision']:.4f} recall {s['recall']:.4f} "
                    f"f1 {s['f1']:.4f}"
                )
            print(f"  posted in {result['posted_seconds']} s")
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = rescore(size, args) if args.rescore else run_size(size, args)
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
    if not args.json:
        print_table(results, args.backend)


if __name__ == "__main__":
    main()
