"""Every query of the alerts domain, batched so that a full sweep stays cheap.

Facts are loaded for a batch of children in a handful of queries (records,
concerns, household keys, household members' concerns) instead of a picture per
child; concern text is never read.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.models import Child, HouseholdKey
from aggregator.concerns.models import ChildRecord, Concern
from aggregator.concerns.vocab import AgencyType
from aggregator.principals.models import Principal
from alerts.engine import AdultFact, ChildFacts, ConcernFact
from alerts.models import Alert, AlertSilence, AlertSubscription, SweepRetry

# An address shared by more children than this is a block of flats or a
# hostel, not a household; such keys are not used for the household rule.
HOUSEHOLD_KEY_CAP = 12


async def agency_types(session: AsyncSession) -> dict[str, str | None]:
    rows = await session.execute(
        select(col(Principal.id), col(Principal.agency_type)).where(col(Principal.kind) == "agency")
    )
    return {pid: atype for pid, atype in rows.all()}


async def live_child_ids(
    session: AsyncSession, touched_since: datetime | None = None, after: str = "", limit: int = 500
) -> list[str]:
    """Children not merged away, in id order (keyset pages), optionally touched since."""
    stmt = (
        select(col(Child.id))
        .where(col(Child.merged_into).is_(None), col(Child.id) > after)
        .order_by(col(Child.id))
        .limit(limit)
    )
    if touched_since is not None:
        stmt = stmt.where(col(Child.touched_at) >= touched_since)
    return list((await session.scalars(stmt)).all())


async def snapshot(session: AsyncSession) -> None:
    """Make the session's transaction one consistent, read-only snapshot (PostgreSQL).

    Must be its first statement. SQLite needs nothing: its transactions read one
    snapshot already, and this project begins them IMMEDIATE, so no writer runs.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


async def active_child_ids(session: AsyncSession, since: datetime) -> list[str]:
    """Live children with a record created, or a concern observed or received, since
    `since`: the only ones whose rules can fire or whose alerts can gain evidence."""
    recent = (
        select(col(ChildRecord.child_id))
        .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
        .where(
            or_(
                col(Concern.received_at) >= since,
                col(Concern.observed_at) >= since.date(),
                col(ChildRecord.created_at) >= since,
            )
        )
    )
    rows = await session.scalars(
        select(col(Child.id))
        .where(col(Child.merged_into).is_(None), col(Child.id).in_(recent))
        .order_by(col(Child.id))
    )
    return list(rows.all())


async def touched_children(
    session: AsyncSession, since: datetime, limit: int = 5000
) -> list[tuple[str, datetime]]:
    """Live children touched at or after `since`, oldest touch first (the touched_at index)."""
    rows = await session.execute(
        select(col(Child.id), col(Child.touched_at))
        .where(col(Child.touched_at) >= since, col(Child.merged_into).is_(None))
        .order_by(col(Child.touched_at))
        .limit(limit)
    )
    return [(cid, at) for cid, at in rows.all()]


async def retry_ids(session: AsyncSession, limit: int = 5000) -> list[str]:
    """Children an earlier sweep could not evaluate, least recently tried first."""
    return list(
        (
            await session.scalars(
                select(col(SweepRetry.child_id))
                .order_by(col(SweepRetry.last_failed_at))
                .limit(limit)
            )
        ).all()
    )


async def record_failures(session: AsyncSession, failed: dict[str, str], now: datetime) -> None:
    """Remember children whose evaluation failed (error type only), for the next sweep."""
    if not failed:
        return
    known = {
        r.child_id: r
        for r in (
            await session.scalars(
                select(SweepRetry).where(col(SweepRetry.child_id).in_(list(failed)))
            )
        ).all()
    }
    for cid, error in failed.items():
        row = known.get(cid)
        if row is None:
            session.add(
                SweepRetry(child_id=cid, error=error[:80], first_failed_at=now, last_failed_at=now)
            )
        else:
            row.failures += 1
            row.error = error[:80]
            row.last_failed_at = now
    await session.flush()


async def clear_retries(session: AsyncSession, child_ids: Sequence[str]) -> None:
    if child_ids:
        await session.execute(
            delete(SweepRetry).where(col(SweepRetry.child_id).in_(list(child_ids)))
        )


async def household_neighbours(session: AsyncSession, child_ids: Sequence[str]) -> set[str]:
    """Children sharing an address or adult with these: the household rule looks at them too."""
    if not child_ids:
        return set()
    keys = (
        select(col(HouseholdKey.key))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .where(col(ChildRecord.child_id).in_(list(child_ids)))
    )
    rows = await session.execute(
        select(col(HouseholdKey.key), col(ChildRecord.child_id))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .where(col(HouseholdKey.key).in_(keys.scalar_subquery()))
    )
    by_key: dict[str, set[str]] = defaultdict(set)
    for key, cid in rows.all():
        if cid:
            by_key[key].add(cid)
    return {c for members in by_key.values() if len(members) <= HOUSEHOLD_KEY_CAP for c in members}


def _day(observed: Any) -> datetime:
    """An observed date as the start of that day in UTC, comparable with sweep times."""
    day = observed if isinstance(observed, date) else date.fromisoformat(str(observed)[:10])
    return datetime.combine(day, datetime.min.time(), UTC)


async def load_facts(
    session: AsyncSession,
    child_ids: Sequence[str],
    now: datetime,
    lookback_days: int,
    agencies: dict[str, str | None],
    households: dict[str, set[str]] | None = None,
) -> dict[str, ChildFacts]:
    """Facts of each child in one batch: concerns within the lookback and the household.

    Every query carries the columns it needs itself, so a record or key committed
    between two of them (when the caller has no snapshot) is seen by one query
    and simply not by the other: nothing read later is looked up in what was
    read earlier. `households` (from `household_map`) saves a full sweep from
    looking members up batch by batch; without it they are looked up for this
    batch only.
    """
    if not child_ids:
        return {}
    ids = list(child_ids)
    cutoff = now - timedelta(days=lookback_days + 1)
    records: Sequence[Any] = (
        await session.execute(
            select(
                col(ChildRecord.child_id),
                col(ChildRecord.agency_id),
                col(ChildRecord.date_of_birth),
                col(ChildRecord.independently_mobile),
                col(ChildRecord.status),
                col(ChildRecord.created_at),
                col(Concern.observed_at),
            )
            .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
            .where(col(ChildRecord.child_id).in_(ids))
            .order_by(col(ChildRecord.created_at))
        )
    ).all()

    hk_rows = (
        await session.execute(
            select(
                col(HouseholdKey.key),
                col(HouseholdKey.kind),
                col(ChildRecord.child_id),
                col(Concern.observed_at),
                col(ChildRecord.concern_id),
                col(ChildRecord.agency_id),
            )
            .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
            .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
            .where(col(ChildRecord.child_id).in_(ids))
        )
    ).all()
    keys_of: dict[str, set[str]] = defaultdict(set)
    adults: dict[str, list[AdultFact]] = defaultdict(list)
    for key, kind, cid, observed, concern_id, agency_id in hk_rows:
        if cid is None:  # a record unlinked meanwhile
            continue
        keys_of[cid].add(key)
        if kind == "adult":
            # By the date the concern was observed, not received: an authority that
            # loads its history at go-live must not see every adult as new today.
            adults[cid].append(AdultFact(key, _day(observed), concern_id, agency_id))

    if households is None:
        members = await members_of_keys(session, {k for ks in keys_of.values() for k in ks})
    else:
        mine = {k for ks in keys_of.values() for k in ks}
        members = {k: households[k] for k in mine if k in households}
    other_ids = {m for ms in members.values() for m in ms} - set(ids)
    # One query for the batch's and their household members' concerns.
    all_concerns = await _concerns_of(session, [*ids, *sorted(other_ids)], cutoff, agencies)
    concerns = {cid: all_concerns.get(cid, []) for cid in ids}

    by_child: dict[str, list[Any]] = defaultdict(list)
    for r in records:
        by_child[r.child_id].append(r)
    out: dict[str, ChildFacts] = {}
    for cid in ids:
        recs = by_child.get(cid, [])
        household_ids = {m for k in keys_of.get(cid, ()) for m in members.get(k, ()) if m != cid}
        out[cid] = ChildFacts(
            child_id=cid,
            concerns=tuple(concerns.get(cid, ())),
            dates_of_birth=tuple({r.date_of_birth for r in recs if r.date_of_birth}),
            independently_mobile=next(
                (
                    r.independently_mobile
                    for r in reversed(recs)
                    if r.independently_mobile is not None
                ),
                None,
            ),
            status=next(
                (
                    r.status
                    for r in reversed(recs)
                    if r.status and agencies.get(r.agency_id) == AgencyType.CHILDRENS_SOCIAL_CARE
                ),
                None,
            ),
            first_record_at=min(_day(r.observed_at) for r in recs) if recs else None,
            adults=tuple(adults.get(cid, ())),
            household={m: tuple(all_concerns.get(m, ())) for m in sorted(household_ids)},
        )
    return out


async def _concerns_of(
    session: AsyncSession, child_ids: list[str], cutoff: datetime, agencies: dict[str, str | None]
) -> dict[str, list[ConcernFact]]:
    if not child_ids:
        return {}
    rows = (
        await session.execute(
            select(
                col(ChildRecord.child_id),
                col(Concern.id),
                col(Concern.agency_id),
                col(Concern.category),
                col(Concern.observed_at),
                col(Concern.received_at),
                col(Concern.outcome),
            )
            .join(ChildRecord, col(ChildRecord.concern_id) == col(Concern.id))
            .where(col(ChildRecord.child_id).in_(child_ids))
            .where(
                or_(col(Concern.observed_at) >= cutoff.date(), col(Concern.received_at) >= cutoff)
            )
            .order_by(col(Concern.observed_at), col(Concern.id))
        )
    ).all()
    out: dict[str, list[ConcernFact]] = defaultdict(list)
    for child_id, cid, agency_id, category, observed, received, outcome in rows:
        out[str(child_id)].append(
            ConcernFact(
                cid, agency_id, agencies.get(agency_id), category, observed, received, outcome
            )
        )
    return out


async def members_of_keys(session: AsyncSession, keys: Collection[str]) -> dict[str, set[str]]:
    """The children of each household key shared by at most HOUSEHOLD_KEY_CAP children.

    The keys come from the caller's own read of the batch's keys, so the index on
    household_key's primary key serves each one; crowded keys are dropped here.
    """
    if not keys:
        return {}
    rows = await session.execute(
        select(col(HouseholdKey.key), col(ChildRecord.child_id))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .where(col(HouseholdKey.key).in_(sorted(keys)), col(ChildRecord.child_id).is_not(None))
    )
    out: dict[str, set[str]] = defaultdict(set)
    for key, cid in rows.all():
        if cid:
            out[key].add(cid)
    return {k: m for k, m in out.items() if len(m) <= HOUSEHOLD_KEY_CAP}


async def household_map(session: AsyncSession) -> dict[str, set[str]]:
    """Every household key shared by 2 to HOUSEHOLD_KEY_CAP children, with those children.

    One pass over the keys for a full sweep, instead of a lookup per batch.
    """
    shared = (
        select(col(HouseholdKey.key))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .group_by(col(HouseholdKey.key))
        .having(func.count(col(ChildRecord.child_id).distinct()).between(2, HOUSEHOLD_KEY_CAP))
    )
    rows = await session.execute(
        select(col(HouseholdKey.key), col(ChildRecord.child_id))
        .join(ChildRecord, col(ChildRecord.id) == col(HouseholdKey.child_record_id))
        .where(col(HouseholdKey.key).in_(shared))
        .distinct()
    )
    out: dict[str, set[str]] = defaultdict(set)
    for key, cid in rows.all():
        if cid:
            out[key].add(cid)
    return out


async def alerts_of(session: AsyncSession, child_ids: Sequence[str]) -> list[Alert]:
    if not child_ids:
        return []
    return list(
        (await session.scalars(select(Alert).where(col(Alert.child_id).in_(list(child_ids))))).all()
    )


async def alert_evidence(session: AsyncSession, child_ids: Sequence[str]) -> Sequence[Any]:
    """The columns that tell whether a child's alerts would change, without their notes."""
    if not child_ids:
        return []
    return (
        await session.execute(
            select(
                col(Alert.child_id),
                col(Alert.rule_id),
                col(Alert.state),
                col(Alert.evidence),
                col(Alert.opened_at),
            ).where(col(Alert.child_id).in_(list(child_ids)))
        )
    ).all()


async def active_silences(session: AsyncSession, now: datetime) -> list[AlertSilence]:
    return list(
        (
            await session.scalars(
                select(AlertSilence).where(
                    col(AlertSilence.expires_at) > now, col(AlertSilence.lifted_at).is_(None)
                )
            )
        ).all()
    )


async def subscriptions(
    session: AsyncSession, level: int, principal_id: str | None = None
) -> list[AlertSubscription]:
    stmt = select(AlertSubscription).where(
        col(AlertSubscription.level) == level, col(AlertSubscription.disabled_at).is_(None)
    )
    if principal_id:
        stmt = stmt.where(col(AlertSubscription.principal_id) == principal_id)
    return list((await session.scalars(stmt.order_by(col(AlertSubscription.created_at)))).all())


async def due_for_escalation(session: AsyncSession, limit: int = 500) -> list[Alert]:
    """Open (unacknowledged) alerts; the service decides which have waited too long."""
    return list(
        (
            await session.scalars(
                select(Alert)
                .where(col(Alert.state) == "open")
                .order_by(col(Alert.opened_at))
                .limit(limit)
            )
        ).all()
    )


def silenced_by(silences: Sequence[AlertSilence], child_id: str, rule_id: str) -> bool:
    return any(
        (s.child_id is None or s.child_id == child_id)
        and (s.rule_id is None or s.rule_id == rule_id)
        for s in silences
    )
