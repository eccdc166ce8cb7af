"""Bulk-load a synthetic population of children and concerns into PostgreSQL.

    python benchmarks/population.py --children 100000 --concerns 1000000 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_population

Creates the database afresh (dropped and recreated; only a name starting with
``bench`` is ever dropped), runs the Alembic migrations, creates the agencies and
hub staff through the service functions (so they hold real tokens), and then
bulk-inserts children, child records, concerns, sharing records, related people,
blocking keys and household keys with ``COPY``.

This is a *bulk path*: each record's ``child_id`` comes from the synthetic truth,
not from online matching (which is what ``intake_load.py`` then measures on top).
Everything else is what the intake service would have stored for the same body:
identifiers and postcodes are normalised by the API's own checks (values the API
would refuse are left out, as an agency would have to), blocking keys come from
``matching.blocking_keys`` on the same ``matching.ChildRecord`` the service builds,
and household keys from ``aggregator.children.identity``. Bulk rows carry no audit
events and no review items, and ``body_hash`` is a placeholder digest (a bulk row
is never retried).

Identities come from ``matching.synthetic`` (nicknames, typos, initials, swapped
names, day and month swapped, partial dates, moves, siblings and twins). Its birth
years are shifted by whole years so that every child is under 18 during the last
``months`` months (the API refuses concerns about adults).

``load_population`` is the reusable entry point (the alerts sweep benchmark imports
it); ``new_submissions`` yields fresh, valid request bodies about children of the
same population for a load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import dataclasses
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from aggregator import synthetic
from aggregator.children.identity import address_key, adult_key, to_match_record
from aggregator.concerns import checks
from aggregator.concerns.models import ChildRecord as StoredRecord
from aggregator.concerns.schemas import ConcernSubmission
from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.db import Database
from aggregator.core.migrate import upgrade
from aggregator.core.settings import Settings
from aggregator.principals.service import add_agency, add_user
from aggregator.synthetic import CATEGORIES, PRACTITIONERS, SUMMARIES
from matching import ChildRecord as MatchRecord
from matching import blocking_keys
from matching.synthetic import Child as TrueChild
from matching.synthetic import _RecordMaker, generate_population

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_population"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# matching.synthetic draws births in 2007..2024; shifted so the youngest are born
# last year and the oldest are still under 18 during the concern window.
_GENERATED_LAST_BIRTH_YEAR = 2024
_CHUNK = 25_000

# -- what agencies say -------------------------------------------------------------------

# (name, type, share of all concerns)
AGENCY_TEMPLATES: list[tuple[str, AgencyType, int]] = [
    ("Bench Northgate Primary School", AgencyType.SCHOOL, 18),
    ("Bench Riverside Academy", AgencyType.SCHOOL, 16),
    ("Bench City Hospitals Trust", AgencyType.HEALTH, 14),
    ("Bench Community Health", AgencyType.HEALTH, 10),
    ("Bench County Police", AgencyType.POLICE, 16),
    ("Bench Housing Services", AgencyType.HOUSING, 6),
    ("Bench Children's Social Care", AgencyType.CHILDRENS_SOCIAL_CARE, 10),
    ("Bench Youth Service", AgencyType.YOUTH_SERVICE, 10),
]
# What agencies notice, what they write and who writes it: shared with the demo.
SEVERITIES = ((1, 2, 3, 4), (30, 40, 22, 8))
CONSENT_REASON = "Seeking consent could place the child at risk"
NOT_INFORMED_REASON = "Informing the family could increase the risk"


@dataclass(frozen=True)
class AgencySpec:
    name: str
    agency_type: AgencyType
    weight: int


def agency_specs(n: int) -> list[AgencySpec]:
    """n agencies cycling through the templates (numbered after the first round)."""
    out = []
    for i in range(n):
        name, kind, weight = AGENCY_TEMPLATES[i % len(AGENCY_TEMPLATES)]
        rnd = i // len(AGENCY_TEMPLATES)
        out.append(AgencySpec(f"{name} {rnd + 1}" if rnd else name, kind, weight))
    return out


# -- the synthetic truth -----------------------------------------------------------------


@dataclass
class Truth:
    """True children (birth years shifted) and their records, with the true child of each."""

    seed: int
    today: date
    children: list[TrueChild]
    records: list[MatchRecord]
    child_of: dict[str, str]
    by_id: dict[str, TrueChild] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.children}


def child_db_id(seed: int, true_child_id: str) -> str:
    """The `child.id` the bulk load gives a true child: load generators can check links."""
    return _hex_id(f"{seed}:child:{true_child_id}")


def _hex_id(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _shift_date(value: str | None, years: int) -> str | None:
    """Add whole years to the year part only, so typos and swaps survive."""
    if not value or not years or not value[:4].isdigit():
        return value
    shifted = f"{int(value[:4]) + years:04d}{value[4:]}"
    if shifted[4:] == "-02-29" and not calendar.isleap(int(shifted[:4])):
        shifted = shifted[:4] + "-02-28"
    return shifted


def _year_shift(today: date) -> int:
    return today.year - 1 - _GENERATED_LAST_BIRTH_YEAR


def synthetic_truth(
    children: int, concerns: int, seed: int = 1, today: date | None = None, spare: int = 0
) -> Truth:
    """Exactly `children` children and `concerns` records, deterministic from the seed.

    `matching.synthetic.generate_population` draws 1..k records per child uniformly;
    the surplus is trimmed at random (never a child's only record) or topped up
    with more records of random children from the same record maker.
    """
    today = today or date.today()
    ratio = max(1.0, concerns / max(children, 1))
    population = generate_population(
        children, records_per_child=(1, max(1, round(2 * ratio - 1))), seed=seed
    )
    shift = _year_shift(today)
    kids = [
        dataclasses.replace(c, date_of_birth=_shift_date(c.date_of_birth, shift) or c.date_of_birth)
        for c in population.children
    ]
    records = [
        dataclasses.replace(r, date_of_birth=_shift_date(r.date_of_birth, shift))
        for r in population.records
    ]
    child_of = dict(population.child_of)
    rng = random.Random(seed * 7919 + 1)
    # The spare records come after the trim, so the children (and so every child
    # id) do not depend on `spare`.
    concerns += spare
    if len(records) > concerns:
        seen: set[str] = set()
        spare = []
        for i, r in enumerate(records):
            cid = child_of[r.id]
            if cid in seen:
                spare.append(i)
            seen.add(cid)
        drop = set(rng.sample(spare, len(records) - concerns))
        records = [r for i, r in enumerate(records) if i not in drop]
        child_of = {r.id: child_of[r.id] for r in records}
    maker = _RecordMaker(rng)
    while len(records) < concerns:
        child = rng.choice(kids)
        rid = f"t{len(records)}"
        records.append(maker.record(rid, child))
        child_of[rid] = child.id
    return Truth(seed, today, kids, records, child_of)


# -- from a record to what the API would store -------------------------------------------


def _valid(check: Callable[[str], str], value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check(value)
    except ValueError:
        return None


def _eighteenth(born: date) -> date:
    try:
        return born.replace(year=born.year + 18)
    except ValueError:  # 29 February
        return date(born.year + 18, 3, 1)


def stored_child(record: MatchRecord) -> dict[str, Any] | None:
    """The record's fields as the API stores them; None if the API would refuse it.

    Values failing the API's checks (a mistyped NHS number, an impossible date) are
    left out, as the agency would have had to; a record with no name at all gets
    the family name "Unknown", as agencies do.
    """
    given = (record.given_name or "").strip()[:100] or None
    family = (record.family_name or "").strip()[:100] or None
    if not (given or family):
        family = "Unknown"
    child = {
        "given_name": given,
        "family_name": family,
        "other_names": [n.strip()[:200] for n in record.other_names if n and n.strip()][:10],
        "date_of_birth": _valid(checks.partial_date, record.date_of_birth),
        "sex": record.sex,
        "nhs_number": _valid(checks.nhs_number, record.nhs_number),
        "upn": _valid(checks.upn, record.upn),
        "line1": (record.address_line1 or "").strip()[:200] or None,
        "town": (record.town or "").strip()[:100] or None,
        "postcode": _valid(checks.postcode, record.postcode),
    }
    if not (child["date_of_birth"] or child["postcode"] or child["nhs_number"] or child["upn"]):
        return None
    return child


def observation_window(
    child: dict[str, Any], true_dob: str, start: date, end: date
) -> tuple[date, date] | None:
    """Days on which the API accepts a concern: after birth and before 18, by the
    record's own date of birth and the true one. Clears a recorded date that leaves
    no day (a typo'd year) when the child stays identifiable without it."""
    lo, hi = start, end
    for dob in (true_dob, child["date_of_birth"]):
        if dob:
            lo = max(lo, checks.earliest(dob) + timedelta(days=1))
            hi = min(hi, _eighteenth(checks.latest(dob)) - timedelta(days=1))
    if lo <= hi:
        return lo, hi
    if child["date_of_birth"] and (child["postcode"] or child["nhs_number"] or child["upn"]):
        child["date_of_birth"] = None
        return observation_window(child, true_dob, start, end)
    return None


def to_matching(rid: str, child: dict[str, Any]) -> MatchRecord:
    """The same `matching.ChildRecord` that `identity.to_match_record` builds from the row."""
    return MatchRecord(
        id=rid,
        given_name=child["given_name"],
        family_name=child["family_name"],
        other_names=tuple(child["other_names"]),
        date_of_birth=child["date_of_birth"],
        sex=child["sex"],
        nhs_number=child["nhs_number"],
        upn=child["upn"],
        postcode=child["postcode"],
        address_line1=child["line1"],
        town=child["town"],
    )


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def related_people(child: TrueChild, rng: random.Random) -> list[dict[str, Any]]:
    """Parents as agencies write them: often the mother, sometimes the father, a few typos."""
    people = []
    if rng.random() < 0.6:
        given, _, family = child.mother_name.partition(" ")
        if rng.random() < 0.04:
            given = _typo(given, rng)
        people.append({"relationship": "mother", "given_name": given, "family_name": family})
    if child.father_name and rng.random() < 0.25:
        given, _, family = child.father_name.partition(" ")
        people.append({"relationship": "father", "given_name": given, "family_name": family})
    return people


def _outcome(age_days: int, rng: random.Random) -> str:
    if age_days < 60:
        return "open" if rng.random() < 0.8 else "referred"
    return rng.choices(("open", "no_further_action", "referred", "closed"), (35, 30, 15, 20))[0]


@dataclass(frozen=True)
class _Plan:
    """Everything decided about one bulk record before its rows are built."""

    rid: str
    child: dict[str, Any]
    agency: int
    observed: date
    received: datetime


# -- loading -----------------------------------------------------------------------------


@dataclass
class LoadSummary:
    database_url: str
    agency_tokens: dict[str, str]
    agency_ids: dict[str, str]
    hub_token: str
    lead_token: str
    seed: int
    children: int
    concerns: int
    related_people: int
    blocking_keys: int
    household_keys: int
    refused_records: int
    seconds: float
    phases: dict[str, float]

    def as_dict(self, tokens: bool = False) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not tokens:
            out["agency_tokens"] = {k: "<redacted>" for k in self.agency_tokens}
            out["hub_token"] = out["lead_token"] = "<redacted>"
        return out


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    return database_url


def database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[1].split("?", 1)[0]


async def recreate_database(database_url: str, admin_dsn: str = ADMIN_DSN) -> None:
    name = database_name(database_url)
    if not name.startswith("bench") or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to drop database {name!r}: its name must start with 'bench'")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def create_principals(
    database_url: str, agencies: Sequence[AgencySpec]
) -> tuple[dict[str, str], dict[str, str], str, str]:
    """Agencies, a hub user and a lead through the service functions (real tokens)."""
    db = Database(Settings(database_url=sqlalchemy_url(database_url)))
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    try:
        async with db.session() as session:
            for spec in agencies:
                issued = await add_agency(session, spec.name, spec.agency_type)
                tokens[spec.name] = issued.token
                ids[spec.name] = issued.principal.id
            hub = await add_user(session, "hub@bench.example", Role.HUB)
            lead = await add_user(session, "lead@bench.example", Role.LEAD)
    finally:
        await db.dispose()
    return tokens, ids, hub.token, lead.token


def plan_records(
    truth: Truth, agencies: Sequence[AgencySpec], months: int, target: int | None = None
) -> tuple[list[_Plan], int]:
    """Agency, dates and stored fields of records; returns (plans, refused).

    A record the API would refuse is skipped (and counted); a child left with no
    record gets fresh ones from the record maker until one is accepted; surplus
    records beyond `target` are dropped from children that keep another.
    """
    rng = random.Random(truth.seed * 31 + 5)
    today = truth.today
    start = today - timedelta(days=round(months * 30.44))
    end = today - timedelta(days=1)
    weights = [a.weight for a in agencies]
    now = datetime.now(UTC)
    plans: list[_Plan] = []
    refused = 0

    def plan(rec: MatchRecord) -> _Plan | None:
        child = stored_child(rec)
        true_child = truth.by_id[truth.child_of[rec.id]]
        window = observation_window(child, true_child.date_of_birth, start, end) if child else None
        if child is None or window is None:
            return None
        lo, hi = window
        observed = lo + timedelta(days=rng.randint(0, (hi - lo).days))
        lag = rng.choices((0, 1, 2, 3, 7), (50, 30, 10, 6, 4))[0]
        received = datetime(
            observed.year,
            observed.month,
            observed.day,
            rng.randint(8, 18),
            rng.randint(0, 59),
            rng.randint(0, 59),
            tzinfo=UTC,
        ) + timedelta(days=lag)
        return _Plan(
            rec.id,
            child,
            rng.choices(range(len(agencies)), weights)[0],
            observed,
            min(received, now),
        )

    for rec in truth.records:
        made = plan(rec)
        if made is None:
            refused += 1
        else:
            plans.append(made)
    covered: Counter[str] = Counter(truth.child_of[p.rid] for p in plans)
    maker = _RecordMaker(rng)
    for child in truth.children:
        for attempt in range(50):
            if covered[child.id]:
                break
            rid = f"u{child.id}-{attempt}"
            truth.child_of[rid] = child.id
            made = plan(maker.record(rid, child))
            if made is not None:
                plans.append(made)
                covered[child.id] += 1
    if target is not None and len(plans) > target:
        surplus = len(plans) - target
        keep: list[_Plan] = []
        for p in reversed(plans):
            cid = truth.child_of[p.rid]
            if surplus and covered[cid] > 1:
                covered[cid] -= 1
                surplus -= 1
            else:
                keep.append(p)
        plans = keep[::-1]
    return plans, refused


def _self_check(plans: Sequence[_Plan], truth: Truth) -> None:
    """The bulk path must index exactly like the service: compare on a sample."""
    for plan in plans[:: max(1, len(plans) // 200)]:
        c = plan.child
        row = StoredRecord(
            id=plan.rid,
            concern_id="x",
            agency_id="x",
            given_name=c["given_name"],
            family_name=c["family_name"],
            other_names=c["other_names"],
            date_of_birth=c["date_of_birth"],
            sex=c["sex"],
            nhs_number=c["nhs_number"],
            upn=c["upn"],
            address_line1=c["line1"],
            town=c["town"],
            postcode=c["postcode"],
        )
        if blocking_keys(to_match_record(row)) != blocking_keys(to_matching(plan.rid, c)):
            raise AssertionError("bulk blocking keys differ from the service's")
        bulk = SimpleNamespace(postcode=c["postcode"], address_line1=c["line1"])
        if address_key(row) != address_key(bulk):
            raise AssertionError("bulk household keys differ from the service's")


CONCERN_COLUMNS = [
    "id",
    "agency_id",
    "external_ref",
    "body_hash",
    "category",
    "severity",
    "observed_at",
    "summary",
    "outcome",
    "practitioner_name",
    "practitioner_role",
    "practitioner_email",
    "practitioner_phone",
    "received_at",
]
RECORD_COLUMNS = [
    "id",
    "concern_id",
    "agency_id",
    "given_name",
    "family_name",
    "other_names",
    "date_of_birth",
    "sex",
    "nhs_number",
    "upn",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "status",
    "independently_mobile",
    "created_at",
    "child_id",
    "link_outcome",
    "link_probability",
]
SHARING_COLUMNS = [
    "concern_id",
    "agency_id",
    "lawful_basis",
    "condition",
    "consent",
    "consent_reason",
    "family_informed",
    "not_informed_reason",
    "protect_reporter_identity",
    "purpose",
    "shared_at",
]
RELATED_COLUMNS = [
    "id",
    "child_record_id",
    "position",
    "relationship",
    "given_name",
    "family_name",
    "date_of_birth",
]
# Tables filled here, in foreign-key order.
TABLES = [
    "child",
    "concern",
    "child_record",
    "sharing_record",
    "related_person",
    "blocking_key",
    "household_key",
]


class _Rows:
    def __init__(self) -> None:
        self.tables: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES[1:]}


def _rows_for(
    plan: _Plan,
    truth: Truth,
    agencies: Sequence[AgencySpec],
    agency_ids: Sequence[str],
    outcome_of: dict[str, str],
    rng: random.Random,
    out: _Rows,
) -> None:
    seed = truth.seed
    spec = agencies[plan.agency]
    agency_id = agency_ids[plan.agency]
    true_child = truth.by_id[truth.child_of[plan.rid]]
    concern_id = _hex_id(f"{seed}:concern:{plan.rid}")
    record_id = _hex_id(f"{seed}:record:{plan.rid}")
    cats, weights = zip(*CATEGORIES[spec.agency_type], strict=True)
    category = rng.choices(cats, weights)[0]
    practitioner, role = rng.choice(PRACTITIONERS[spec.agency_type])
    age_days = (truth.today - plan.observed).days
    out.tables["concern"].append(
        (
            concern_id,
            agency_id,
            f"BULK-{seed}-{plan.rid}",
            hashlib.sha256(f"bulk:{seed}:{plan.rid}".encode()).hexdigest(),
            category,
            rng.choices(*SEVERITIES)[0],
            plan.observed,
            rng.choice(SUMMARIES[category]),
            _outcome(age_days, rng),
            practitioner,
            role,
            f"{practitioner.lower().replace(' ', '.').replace('..', '.')}@{spec.agency_type.value}.example",
            None,
            plan.received,
        )
    )
    c = plan.child
    status = None
    if spec.agency_type == AgencyType.CHILDRENS_SOCIAL_CARE and rng.random() < 0.3:
        status = rng.choice(("child_in_need", "child_protection_plan", "looked_after"))
    baby = c["date_of_birth"] and (plan.observed - checks.earliest(c["date_of_birth"])).days < 300
    out.tables["child_record"].append(
        (
            record_id,
            concern_id,
            agency_id,
            c["given_name"],
            c["family_name"],
            json.dumps(c["other_names"]),
            c["date_of_birth"],
            c["sex"],
            c["nhs_number"],
            c["upn"],
            c["line1"],
            None,
            c["town"],
            c["postcode"],
            status,
            False if baby else None,
            plan.received,
            child_db_id(seed, true_child.id),
            outcome_of[plan.rid],
            None,
        )
    )
    consent = rng.choice(("not_sought", "not_sought", "given", "refused"))
    informed = rng.random() < 0.5
    out.tables["sharing_record"].append(
        (
            concern_id,
            agency_id,
            "public_task",
            "dpa2018_sch8_para4"
            if spec.agency_type == AgencyType.POLICE
            else "dpa2018_sch1_para18",
            consent,
            None if consent == "given" else CONSENT_REASON,
            informed,
            None if informed else NOT_INFORMED_REASON,
            rng.random() < 0.05,
            "safeguarding",
            plan.received,
        )
    )
    people = related_people(true_child, rng)
    household: dict[str, tuple[Any, ...]] = {}
    addr = address_key(SimpleNamespace(postcode=c["postcode"], address_line1=c["line1"]))
    if addr:
        household[addr[0]] = (addr[0][:120], record_id, "address", addr[1][:300])
    for position, p in enumerate(people):
        out.tables["related_person"].append(
            (
                _hex_id(f"{seed}:person:{plan.rid}:{position}"),
                record_id,
                position,
                p["relationship"],
                p["given_name"],
                p["family_name"],
                None,
            )
        )
        adult = adult_key(SimpleNamespace(**p), SimpleNamespace(postcode=c["postcode"]))
        if adult and adult[0] not in household:
            household[adult[0]] = (adult[0][:120], record_id, "adult", adult[1][:300])
    out.tables["household_key"].extend(household.values())
    for key in sorted(blocking_keys(to_matching(record_id, c))):
        out.tables["blocking_key"].append((key[:80], record_id))


async def _copy(conn: asyncpg.Connection, rows: _Rows, counts: dict[str, int]) -> None:
    columns = {
        "concern": CONCERN_COLUMNS,
        "child_record": RECORD_COLUMNS,
        "sharing_record": SHARING_COLUMNS,
        "related_person": RELATED_COLUMNS,
        "blocking_key": ["key", "child_record_id"],
        "household_key": ["key", "child_record_id", "kind", "label"],
    }
    for table in TABLES[1:]:
        batch = rows.tables[table]
        if batch:
            await conn.copy_records_to_table(table, records=batch, columns=columns[table])
            counts[table] += len(batch)


async def _deferred_constraints(conn: asyncpg.Connection) -> list[str]:
    """Drop foreign keys and secondary indexes of the bulk tables; returns the DDL
    that restores them (building an index once is far cheaper than row by row)."""
    restore: list[str] = []
    fks = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1::text[])",
        TABLES,
    )
    for fk in fks:
        await conn.execute(f'ALTER TABLE "{fk["tbl"]}" DROP CONSTRAINT "{fk["conname"]}"')
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND i.tablename = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conname = i.indexname)",
        TABLES,
    )
    for ix in indexes:
        await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        restore.append(ix["indexdef"])
    restore.extend(
        f'ALTER TABLE "{fk["tbl"]}" ADD CONSTRAINT "{fk["conname"]}" {fk["def"]}' for fk in fks
    )
    return restore


async def bulk_insert(
    database_url: str,
    truth: Truth,
    plans: list[_Plan],
    agencies: Sequence[AgencySpec],
    agency_ids: Sequence[str],
    log: Callable[[str], None],
) -> dict[str, int]:
    first: dict[str, tuple[datetime, str]] = {}
    last: dict[str, datetime] = {}
    for plan in plans:
        cid = truth.child_of[plan.rid]
        if cid not in first or plan.received < first[cid][0]:
            first[cid] = (plan.received, plan.rid)
        if cid not in last or plan.received > last[cid]:
            last[cid] = plan.received
    firsts = {rid for _, rid in first.values()}
    outcome_of = {p.rid: "new" if p.rid in firsts else "linked" for p in plans}
    counts: dict[str, int] = dict.fromkeys(TABLES, 0)
    rng = random.Random(truth.seed * 131 + 3)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        restore = await _deferred_constraints(conn)
        await conn.copy_records_to_table(
            "child",
            records=[
                (child_db_id(truth.seed, cid), created, last[cid], False, None)
                for cid, (created, _) in first.items()
            ],
            columns=["id", "created_at", "touched_at", "provisional", "merged_into"],
        )
        counts["child"] = len(first)
        started = time.perf_counter()

        def build(chunk: Sequence[_Plan]) -> _Rows:
            rows = _Rows()
            for plan in chunk:
                _rows_for(plan, truth, agencies, agency_ids, outcome_of, rng, rows)
            return rows

        # Build chunk n+1 in a thread while PostgreSQL ingests chunk n.
        pending: asyncio.Task[None] | None = None
        for start in range(0, len(plans), _CHUNK):
            rows = await asyncio.to_thread(build, plans[start : start + _CHUNK])
            if pending is not None:
                await pending
            pending = asyncio.create_task(_copy(conn, rows, counts))
            done = min(start + _CHUNK, len(plans))
            if done % (_CHUNK * 8) == 0 or done == len(plans):
                log(
                    f"  copying {done:,} concerns ({done / (time.perf_counter() - started):,.0f}/s)"
                )
        if pending is not None:
            await pending
        log(f"  rebuilding {len(restore)} indexes and foreign keys")
        for ddl in restore:
            await conn.execute(ddl)
        # VACUUM too: it sets the visibility map, so index-only scans (blocking keys)
        # skip the heap, as they do in a database that autovacuum keeps.
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return counts


async def load_population(
    database_url: str = DEFAULT_URL,
    children: int = 100_000,
    concerns: int = 1_000_000,
    agencies: int = 8,
    seed: int = 1,
    months: int = 18,
    *,
    admin_dsn: str = ADMIN_DSN,
    today: date | None = None,
    log: Callable[[str], None] = print,
) -> LoadSummary:
    """Drop and recreate the database, migrate it, and bulk-load the population.

    Returns the database URL, fresh tokens of every agency and of a hub and a lead
    user, and the counts. The database name must start with "bench".
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    url = sqlalchemy_url(database_url)

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 2)
        log(f"{name}: {phases[name]:.1f} s")
        return now

    await recreate_database(url, admin_dsn)
    await asyncio.to_thread(upgrade, Settings(database_url=url), "heads")
    specs = agency_specs(agencies)
    tokens, ids, hub, lead = await create_principals(url, specs)
    t = phase("create and migrate", started)
    # A few records in a thousand are ones the API would refuse: make some spare.
    truth = synthetic_truth(children, concerns, seed, today, spare=concerns // 400 + 10)
    t = phase("generate identities", t)
    plans, refused = plan_records(truth, specs, months, target=concerns)
    _self_check(plans, truth)
    t = phase("plan records", t)
    counts = await bulk_insert(url, truth, plans, specs, [ids[s.name] for s in specs], log)
    phase("copy, index and analyse", t)
    return LoadSummary(
        database_url=url,
        agency_tokens=tokens,
        agency_ids=ids,
        hub_token=hub,
        lead_token=lead,
        seed=seed,
        children=counts["child"],
        concerns=counts["concern"],
        related_people=counts["related_person"],
        blocking_keys=counts["blocking_key"],
        household_keys=counts["household_key"],
        refused_records=refused,
        seconds=round(time.perf_counter() - started, 1),
        phases=phases,
    )


# -- new submissions for a load generator ------------------------------------------------


@lru_cache(maxsize=2)
def cached_truth(children: int, concerns: int, seed: int, today: date) -> Truth:
    return synthetic_truth(children, concerns, seed, today)


@dataclass(frozen=True)
class NewSubmission:
    agency: str  # agency name (as in LoadSummary.agency_tokens)
    child_id: str  # the child.id the bulk load gave the true child
    body: dict[str, Any]


def new_submissions(
    truth: Truth,
    n: int,
    *,
    agencies: int = 8,
    seed: int = 2,
    ref_prefix: str = "LOAD",
    recent_days: int = 14,
    validate: bool = True,
) -> Iterator[NewSubmission]:
    """`n` fresh concern bodies about random children of the population.

    Each is a new noisy record of a true child from `matching.synthetic`'s record
    maker (nickname, typo, swapped day and month, old address...), with parents,
    observed in the last `recent_days` days, sent by an agency chosen by weight.
    Bodies are valid for POST /api/v1/concerns (checked with the API's own schema
    when `validate`).
    """
    rng = random.Random(seed)
    maker = _RecordMaker(rng)
    specs = agency_specs(agencies)
    weights = [a.weight for a in specs]
    today = truth.today
    start = today - timedelta(days=recent_days)
    made = 0
    attempts = 0
    while made < n:
        attempts += 1
        if attempts > 10 * n + 100:
            raise RuntimeError("could not make valid submissions from this population")
        true_child = rng.choice(truth.children)
        record = maker.record(f"{ref_prefix}-{made}", true_child)
        child = stored_child(record)
        window = (
            observation_window(child, true_child.date_of_birth, start, today) if child else None
        )
        if child is None or window is None:
            continue
        lo, hi = window
        observed = lo + timedelta(days=rng.randint(0, (hi - lo).days))
        spec = specs[rng.choices(range(len(specs)), weights)[0]]
        body = submission_body(
            f"{ref_prefix}-{made}",
            child,
            observed,
            spec.agency_type,
            related_people(true_child, rng),
            rng,
        )
        if validate:
            try:
                ConcernSubmission.model_validate(body)
            except ValueError:
                continue
        made += 1
        yield NewSubmission(spec.name, child_db_id(truth.seed, true_child.id), body)


def submission_body(
    ref: str,
    child: dict[str, Any],
    observed: date,
    agency_type: AgencyType,
    related: list[dict[str, Any]],
    rng: random.Random,
) -> dict[str, Any]:
    """A request body from stored-form child fields (see `stored_child`)."""
    cats, weights = zip(*CATEGORIES[agency_type], strict=True)
    category = rng.choices(cats, weights)[0]
    body_child: dict[str, Any] = {
        k: child[k]
        for k in (
            "given_name",
            "family_name",
            "other_names",
            "date_of_birth",
            "sex",
            "nhs_number",
            "upn",
        )
    }
    if child["line1"] or child["postcode"] or child["town"]:
        body_child["address"] = {
            "line1": child["line1"],
            "town": child["town"],
            "postcode": child["postcode"],
        }
    return synthetic.body(ref, body_child, category, observed, rng, agency_type, related)


# -- command line ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--concerns", type=int, default=1_000_000)
    parser.add_argument("--agencies", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--summary-file", type=Path, help="also write the summary, tokens included, here"
    )
    args = parser.parse_args()
    summary = asyncio.run(
        load_population(
            args.database_url,
            args.children,
            args.concerns,
            args.agencies,
            args.seed,
            args.months,
            admin_dsn=args.admin_dsn,
            log=(lambda _m: None) if args.json else print,
        )
    )
    if args.summary_file:
        args.summary_file.write_text(json.dumps(summary.as_dict(tokens=True), indent=2))
    out = summary.as_dict()
    if args.json:
        print(json.dumps(out))
    else:
        for key in (
            "database_url",
            "children",
            "concerns",
            "related_people",
            "blocking_keys",
            "household_keys",
            "refused_records",
            "seconds",
        ):
            print(f"{key:>16}: {out[key]}")


if __name__ == "__main__":
    main()
