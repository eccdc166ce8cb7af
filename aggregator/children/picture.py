"""Assembling the full picture of one child for the hub."""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.audit.service import Actor
from aggregator.children import repository as repo
from aggregator.children.display import best_value, display_identities
from aggregator.children.graph import Neighbourhood, build_graph, household_of, to_json
from aggregator.children.models import Child
from aggregator.children.schemas import (
    AgencyInvolved,
    AgencyRef,
    Graph,
    Household,
    HouseholdAdult,
    HouseholdMember,
    Identity,
    Picture,
    PractitionerOut,
    SharingOut,
    TimelineEntry,
    Variant,
)
from aggregator.concerns.models import ChildRecord, Concern, SharingRecord
from aggregator.concerns.service import WITHHELD
from aggregator.concerns.vocab import CIN_FACTOR, Category
from aggregator.principals.models import Principal

IDENTITY_FIELDS: dict[str, Callable[[ChildRecord], str | None]] = {
    "given_name": lambda r: r.given_name,
    "family_name": lambda r: r.family_name,
    "date_of_birth": lambda r: r.date_of_birth,
    "sex": lambda r: r.sex,
    "nhs_number": lambda r: r.nhs_number,
    "nhs_number_missing_reason": lambda r: r.nhs_number_missing_reason,
    "upn": lambda r: r.upn,
    "address": lambda r: ", ".join(p for p in (r.address_line1, r.town, r.postcode) if p) or None,
    "postcode": lambda r: r.postcode,
    "status": lambda r: r.status,
}

# A child with more distinct addresses and adults than this is a data problem;
# the picture asks for other children sharing the first ones only, so that the
# neighbourhood (and the query's parameter list) stays bounded.
MAX_HOUSEHOLD_KEYS = 200

# Open alerts of a child; the alerts package registers its provider here so that
# this module does not import it (data flows one way).
AlertProvider = Callable[[AsyncSession, str], Awaitable[list[dict[str, Any]]]]
alert_providers: list[AlertProvider] = []


def _best(records: Sequence[ChildRecord], get: Callable[[ChildRecord], str | None]) -> str | None:
    """Most often written value; among equals, the most recent (the rule of every view)."""
    return best_value([get(r) for r in records])


def _variants(
    records: Sequence[ChildRecord], agencies: dict[str, Principal]
) -> dict[str, list[Variant]]:
    out: dict[str, list[Variant]] = {}
    for name, get in IDENTITY_FIELDS.items():
        seen: dict[str, list[ChildRecord]] = defaultdict(list)
        for r in records:
            value = get(r)
            if value:
                seen[value].append(r)
        out[name] = [
            Variant(
                value=value,
                agencies=sorted(
                    {agencies[r.agency_id].name for r in rs if r.agency_id in agencies}
                ),
                first_seen=min(r.created_at for r in rs),
                last_seen=max(r.created_at for r in rs),
                count=len(rs),
            )
            for value, rs in sorted(seen.items(), key=lambda kv: -len(kv[1]))
        ]
    return out


def _agency_ref(agencies: dict[str, Principal], agency_id: str) -> AgencyRef:
    a = agencies.get(agency_id)
    return AgencyRef(
        id=agency_id, name=a.name if a else "unknown", type=a.agency_type if a else None
    )


# Built once: a picture runs about ten queries, and building each costs ~0.1 ms.
_PRINCIPALS = select(Principal).where(col(Principal.id).in_(repo.IDS))
_MEMBER_CONCERNS = (
    select(col(ChildRecord.child_id), col(Concern.category))
    .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
    .where(col(ChildRecord.child_id).in_(repo.IDS))
)
# Records, their concerns and sharing records in one round trip.
_RECORDS_CONCERNS_SHARING = (
    select(ChildRecord, Concern, SharingRecord)
    .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
    .join(SharingRecord, col(SharingRecord.concern_id) == col(Concern.id))
    .where(col(ChildRecord.child_id) == bindparam("child_id"))
    .order_by(col(ChildRecord.created_at))
)


async def _principals(session: AsyncSession, ids: set[str]) -> dict[str, Principal]:
    if not ids:
        return {}
    rows = (await session.scalars(_PRINCIPALS, {"ids": list(ids)})).all()
    return {p.id: p for p in rows}


async def _member_concerns(session: AsyncSession, child_ids: Sequence[str]) -> dict[str, list[str]]:
    if not child_ids:
        return {}
    rows = (await session.execute(_MEMBER_CONCERNS, {"ids": list(child_ids)})).all()
    out: dict[str, list[str]] = defaultdict(list)
    for child_id, category in rows:
        out[str(child_id)].append(category)
    return out


async def load_neighbourhood(
    session: AsyncSession, child: Child, viewer: Actor
) -> tuple[Neighbourhood, dict[str, SharingRecord]]:
    rows = (await session.execute(_RECORDS_CONCERNS_SHARING, {"child_id": child.id})).all()
    records = [r for r, _, _ in rows]
    record_ids = [r.id for r in records]
    concerns = sorted((c for _, c, _ in rows), key=lambda c: (c.observed_at, c.received_at))
    sharing = {s.concern_id: s for _, _, s in rows}
    own_keys = await repo.household_keys_of(session, record_ids)
    # Distinct keys, at most MAX_HOUSEHOLD_KEYS: each record repeats its household's.
    keys = list(dict.fromkeys(k.key for k in own_keys))[:MAX_HOUSEHOLD_KEYS]
    shared = await repo.records_sharing(session, keys, exclude_child=child.id)
    agencies = await _principals(
        session, {c.agency_id for c in concerns} | {r.agency_id for r in records}
    )
    protected = {
        cid
        for cid, s in sharing.items()
        if s.protect_reporter_identity and s.agency_id != viewer.id
    }
    n = Neighbourhood(
        child_id=child.id,
        records=records,
        concerns=concerns,
        agencies=agencies,
        related=await repo.related_people_of(session, record_ids),
        own_keys=own_keys,
        shared=shared,
        protected=protected,
    )
    return n, sharing


async def build_picture(
    session: AsyncSession, child: Child, requested_id: str, viewer: Actor
) -> Picture:
    n, sharing = await load_neighbourhood(session, child, viewer)
    g = build_graph(n)
    # Other children are labelled by their best-known identity, as everywhere else.
    others = await display_identities(
        session,
        [
            k.split(":", 1)[1]
            for k, d in g.nodes(data=True)
            if d["type"] == "child" and not d["focus"]
        ],
    )
    for other_id, other in others.items():
        g.nodes[f"child:{other_id}"]["label"] = other.name
    records = n.records
    best = {name: _best(records, get) for name, get in IDENTITY_FIELDS.items()}
    if best["nhs_number"]:
        best["nhs_number_missing_reason"] = None  # a reason is history once it is known
    identity = Identity(
        **best,
        independently_mobile=next(
            (
                r.independently_mobile
                for r in reversed(records)
                if r.independently_mobile is not None
            ),
            None,
        ),
    )
    timeline = []
    for c in n.concerns:
        s = sharing[c.id]
        withheld = c.id in n.protected
        timeline.append(
            TimelineEntry(
                concern_id=c.id,
                date=c.observed_at,
                received_at=c.received_at,
                agency=_agency_ref(n.agencies, c.agency_id),
                category=c.category,
                cin_code=CIN_FACTOR[Category(c.category)],
                severity=c.severity,
                summary=c.summary,
                outcome=c.outcome,
                practitioner=PractitionerOut(name=WITHHELD, withheld=True)
                if withheld
                else PractitionerOut(
                    name=c.practitioner_name or "",
                    role=c.practitioner_role,
                    email=c.practitioner_email,
                    phone=c.practitioner_phone,
                ),
                sharing=SharingOut(
                    lawful_basis=s.lawful_basis,
                    condition=s.condition,
                    consent=s.consent,
                    consent_reason=s.consent_reason,
                    family_informed=s.family_informed,
                    not_informed_reason=s.not_informed_reason,
                    purpose=s.purpose,
                    shared_at=s.shared_at,
                ),
            )
        )
    by_agency: dict[str, list[Concern]] = defaultdict(list)
    for c in n.concerns:
        by_agency[c.agency_id].append(c)
    involved = sorted(
        (
            AgencyInvolved(
                agency=_agency_ref(n.agencies, aid),
                concerns=len(cs),
                first_raised=min(c.observed_at for c in cs),
                last_raised=max(c.observed_at for c in cs),
                categories=sorted({c.category for c in cs}),
            )
            for aid, cs in by_agency.items()
        ),
        key=lambda a: a.last_raised,
        reverse=True,
    )
    members = household_of(g, f"child:{child.id}")
    member_ids = [m.split(":", 1)[1] for m in members]
    member_concerns = await _member_concerns(session, member_ids)
    member_records = {shared.child_id: shared for shared in n.shared}
    household = Household(
        members=[
            HouseholdMember(
                child_id=mid,
                name=g.nodes[f"child:{mid}"]["label"],
                date_of_birth=others[mid].date_of_birth
                if mid in others
                else (member_records[mid].date_of_birth if mid in member_records else None),
                via=sorted({g.nodes[h]["label"] for h in members[f"child:{mid}"]}),
                concern_count=len(member_concerns.get(mid, [])),
                categories=sorted(set(member_concerns.get(mid, []))),
            )
            for mid in member_ids
        ],
        adults=_adults(n),
        addresses=sorted({k.label for k in n.own_keys if k.kind == "address"}),
    )
    alerts: list[dict[str, Any]] = []
    for provider in alert_providers:
        alerts.extend(await provider(session, child.id))
    return Picture(
        child_id=child.id,
        requested_id=requested_id,
        provisional=child.provisional,
        identity=identity,
        variants=_variants(records, n.agencies),
        timeline=timeline,
        agencies=involved,
        household=household,
        alerts=alerts,
        open_review_items=await repo.open_items_for_records(session, [r.id for r in records]),
        graph=Graph(**to_json(g)),
    )


def _adults(n: Neighbourhood) -> list[HouseholdAdult]:
    record_agency = {r.id: r.agency_id for r in n.records}
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in n.related:
        name = " ".join(x for x in (p.given_name, p.family_name) if x)
        if name:
            agency = n.agencies.get(record_agency.get(p.child_record_id, ""))
            seen[(p.relationship, name)].add(agency.name if agency else "unknown")
    return [
        HouseholdAdult(relationship=rel, name=name, named_by=sorted(by))
        for (rel, name), by in sorted(seen.items())
    ]


def children_shown(p: Picture) -> list[str]:
    """Every other child the picture names: household members and the graph's children.

    Each is shown by name (and the household by date of birth), so each read of
    the picture is a read of them too (`audit.service.record_shown`).
    """
    ids = [m.child_id for m in p.household.members]
    for node in p.graph.nodes:
        node_id = str(node.get("id", ""))
        if node.get("type") == "child" and node_id.startswith("child:"):
            ids.append(node_id.split(":", 1)[1])
    return [i for i in ids if i != p.child_id]
