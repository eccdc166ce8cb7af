"""Every query of identity resolution and the picture."""

import json
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter, SQLCoreOperations
from sqlmodel import col

from aggregator.children.models import BlockingKey, Child, HouseholdKey, PairDecision, ReviewItem
from aggregator.concerns.models import ChildRecord, RelatedPerson
from aggregator.core.deferred import Touch
from aggregator.core.driver import Fast
from aggregator.core.types import utcnow

# A key shared by more records than this says little (a common name in a big
# city); capping keeps a submission's work bounded whatever the data.
CANDIDATE_CAP = 400
# Keys shared by more records than this are skipped when fetching candidates.
MAX_BLOCK = 300
# A candidate shares at least this many of the record's usable keys, or an
# identifier (fewer only when the record has fewer usable keys): one shared key
# alone is mostly coincidence (a birthday and a sound-alike initial, one postcode).
MIN_SHARED_KEYS = 2
# ...but the records sharing the most keys are candidates whatever they share, up to
# this many: where few records share two keys (a record full of typos), the best of
# the one-key records still get scored.
MIN_CANDIDATES = 12
# A household key shared by more children than this joins strangers, not siblings.
HOUSEHOLD_MAX_CHILDREN = 8


def lock_ids(keys: Iterable[str]) -> list[int]:
    """The advisory locks that serialise submissions which could be about one child.

    Without them two first-ever concerns about one child, sent at the same moment,
    would each find nothing and create two children. The concern's insert takes
    them (`rows.insert_unless_exists`, which sorts them so two submissions never
    deadlock) before the candidates are read; SQLite already serialises writers.
    """
    return list({zlib.crc32(key.encode()) for key in keys})


# The record's id, the `MatchRecord` fields in their order, then its child.
# Hot-path statements are built once, on the tables (Core, no ORM compilation).
# A list of ids, bound as `{"ids": [...]}` (one statement text whatever its length).
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_rec = ChildRecord.__table__.c  # type: ignore[attr-defined]
_keys = BlockingKey.__table__  # type: ignore[attr-defined]
_key = _keys.c
_records = ChildRecord.__table__  # type: ignore[attr-defined]
_MATCH_COLUMNS = (
    _rec.id,
    _rec.given_name,
    _rec.family_name,
    # As text, NULL when empty (most records): decoding '[]' per candidate through
    # the JSON type costs more than the few real lists decoded below.
    func.nullif(cast(_rec.other_names, Text), "[]"),
    _rec.date_of_birth,
    _rec.sex,
    _rec.nhs_number,
    _rec.upn,
    _rec.postcode,
    _rec.address_line1,
    _rec.town,
)


def _candidates(one_of_keys: ColumnElement[bool]) -> Select[Any]:
    """The candidate query, given how the record's keys are bound (a list for
    SQLite's IN, one array parameter on PostgreSQL).

    The uncrowded keys are a CTE read twice (joined, and counted), so the database
    looks them up once; the ranking is one window over the records sharing them.
    """
    uncrowded = (
        select(_key.key)
        .where(one_of_keys)
        .group_by(_key.key)
        .having(func.count() <= MAX_BLOCK)
        .cte("uncrowded")
    )
    identifier = func.max(case((or_(_key.key.like("nhs:%"), _key.key.like("upn:%")), 1), else_=0))
    sharing = (
        select(
            _key.child_record_id.label("id"),
            func.count().label("shared"),
            identifier.label("identifier"),
        )
        .join_from(_keys, uncrowded, _key.key == uncrowded.c.key)
        .where(_key.child_record_id != bindparam("exclude"))
        .group_by(_key.child_record_id)
        .subquery()
    )
    usable = select(func.count()).select_from(uncrowded).scalar_subquery()
    rank = func.row_number().over(order_by=(sharing.c.identifier.desc(), sharing.c.shared.desc()))
    ranked = select(sharing, rank.label("rank"), usable.label("usable")).subquery()
    enough = case((ranked.c.usable >= MIN_SHARED_KEYS, MIN_SHARED_KEYS), else_=1)
    return (
        select(*_MATCH_COLUMNS, _rec.child_id)
        .join_from(ranked, _records, _rec.id == ranked.c.id)
        .where(
            or_(
                ranked.c.shared >= enough,
                ranked.c.identifier == 1,
                ranked.c.rank <= MIN_CANDIDATES,
            ),
            _rec.child_id.is_not(None),
        )
        .order_by(ranked.c.rank)
        .limit(CANDIDATE_CAP)
    )


_CANDIDATES = Fast(
    _candidates(_key.key.in_(bindparam("keys", expanding=True))),
    pg=_candidates(_key.key == any_(bindparam("keys", type_=ARRAY(Text)))),
)


async def candidate_records(
    session: AsyncSession, keys: Sequence[str], exclude: str
) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(record id, child id, match values) of the records sharing enough of `keys`.

    The values are `MatchRecord`'s fields after the id (see `identity.features_of`).
    A key shared by more than MAX_BLOCK records ("George Smith", a big estate's
    postcode) says little and would crowd out the keys that do; it is skipped, as
    Splink-style blocking does, so one submission's work stays bounded. Of the rest,
    a candidate shares MIN_SHARED_KEYS of them or an identifier, or is among the
    MIN_CANDIDATES sharing the most; those sharing the most come first, up to
    CANDIDATE_CAP.
    """
    if not keys:
        return []
    rows = await _CANDIDATES.all(session, keys=list(keys), exclude=exclude)
    return [
        (row[0], row[11], (*row[1:3], tuple(json.loads(row[3])) if row[3] else (), *row[4:11]))
        for row in rows
    ]


# Everything known about a child, for whole-child matching: its records' distinct
# identity values (one child's records mostly repeat them), at most this many rows
# for one submission so a child with thousands of concerns keeps it bounded.
PROFILE_CAP = 600


def _profiles(children: ColumnElement[bool]) -> Select[Any]:
    return select(_rec.child_id, *_MATCH_COLUMNS).where(children).limit(PROFILE_CAP)


_PROFILES = Fast(
    _profiles(_rec.child_id.in_(bindparam("children", expanding=True))),
    pg=_profiles(_rec.child_id == any_(bindparam("children", type_=ARRAY(Text)))),
)


async def child_profiles(
    session: AsyncSession, child_ids: Sequence[str], exclude: str | None = None
) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """Child id -> (a record id, match values) for each distinct set of identity
    values its records hold (`identity.features_of` takes the values), leaving out
    the record `exclude`."""
    if not child_ids:
        return {}
    rows = await _PROFILES.all(session, children=list(child_ids))
    found: dict[str, dict[tuple[Any, ...], str]] = {}
    for row in rows:
        if row[1] == exclude:
            continue
        values = (*row[2:4], tuple(json.loads(row[4])) if row[4] else (), *row[5:12])
        found.setdefault(row[0], {}).setdefault(values, row[1])
    return {
        child: [(record_id, values) for values, record_id in held.items()]
        for child, held in found.items()
    }


async def records_of(session: AsyncSession, child_ids: Sequence[str]) -> list[ChildRecord]:
    return list(
        (
            await session.scalars(
                select(ChildRecord)
                .where(col(ChildRecord.child_id).in_(list(child_ids)))
                .order_by(col(ChildRecord.created_at))
            )
        ).all()
    )


async def record_ids_of(session: AsyncSession, child_id: str) -> list[str]:
    return list(
        (
            await session.scalars(
                select(col(ChildRecord.id)).where(col(ChildRecord.child_id) == child_id)
            )
        ).all()
    )


async def get_child(session: AsyncSession, child_id: str) -> Child | None:
    """The child, following merges so an old id still finds its child."""
    child = await session.get(Child, child_id)
    for _ in range(10):
        if child is None or child.merged_into is None:
            return child
        child = await session.get(Child, child.merged_into)
    return child


def _across(
    a: SQLCoreOperations[str], b: SQLCoreOperations[str], left: Sequence[str], right: Sequence[str]
) -> ColumnElement[bool]:
    """Pairs with one record on each side, in either order."""
    return or_(
        and_(a.in_(list(left)), b.in_(list(right))),
        and_(a.in_(list(right)), b.in_(list(left))),
    )


async def decisions_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str], decision: str
) -> list[PairDecision]:
    if not left or not right:
        return []
    return list(
        (
            await session.scalars(
                select(PairDecision).where(
                    col(PairDecision.decision) == decision,
                    _across(col(PairDecision.record_a), col(PairDecision.record_b), left, right),
                )
            )
        ).all()
    )


async def move_records(
    session: AsyncSession, record_ids: Sequence[str] | None, from_child: str, to_child: str
) -> None:
    stmt = update(ChildRecord).where(col(ChildRecord.child_id) == from_child)
    if record_ids is not None:
        stmt = stmt.where(col(ChildRecord.id).in_(list(record_ids)))
    await session.execute(stmt.values(child_id=to_child))


async def repoint_merged(session: AsyncSession, old: str, new: str) -> None:
    await session.execute(
        update(Child).where(col(Child.merged_into) == old).values(merged_into=new)
    )


async def set_link(
    session: AsyncSession, record_id: str, child_id: str, outcome: str, probability: float | None
) -> None:
    await session.execute(
        update(ChildRecord)
        .where(col(ChildRecord.id) == record_id)
        .values(child_id=child_id, link_outcome=outcome, link_probability=probability)
    )


async def touch(session: AsyncSession, child_ids: Iterable[str]) -> None:
    ids = list(set(child_ids))
    if ids:
        await session.execute(
            update(Child).where(col(Child.id).in_(ids)).values(touched_at=utcnow())
        )


_children = Child.__table__  # type: ignore[attr-defined]


def touch_unless_merged(child_id: str) -> Touch:
    """A touch of a child that has not been merged away, to queue with `defer`;
    `deferred.touched` tells once written. It waits for a merge of the child in
    progress (the row lock), and blocks one from starting until this commits."""
    return Touch(_children, child_id, {"touched_at": utcnow()}, unless_set="merged_into")


async def open_items_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str]
) -> list[ReviewItem]:
    if not left or not right:
        return []
    return list(
        (
            await session.scalars(
                select(ReviewItem).where(
                    col(ReviewItem.state) == "open",
                    _across(
                        col(ReviewItem.record_id), col(ReviewItem.candidate_record_id), left, right
                    ),
                )
            )
        ).all()
    )


_OPEN_ITEMS = (
    select(func.count())
    .select_from(ReviewItem)
    .where(
        col(ReviewItem.state) == "open",
        or_(col(ReviewItem.record_id).in_(IDS), col(ReviewItem.candidate_record_id).in_(IDS)),
    )
)


async def open_items_for_records(session: AsyncSession, record_ids: Sequence[str]) -> int:
    if not record_ids:
        return 0
    return int(await session.scalar(_OPEN_ITEMS, {"ids": list(record_ids)}) or 0)


async def set_pair_decision(
    session: AsyncSession, a: str, b: str, decision: str, decided_by: str, note: str | None
) -> None:
    """One ruling per pair; a later ruling replaces it (the audit trail keeps both)."""
    first, second = sorted((a, b))
    await session.execute(
        delete(PairDecision).where(
            col(PairDecision.record_a) == first, col(PairDecision.record_b) == second
        )
    )
    session.add(
        PairDecision(
            record_a=first, record_b=second, decision=decision, decided_by=decided_by, note=note
        )
    )


async def drop_decisions_between(
    session: AsyncSession, left: Sequence[str], right: Sequence[str], decision: str
) -> int:
    found = await decisions_between(session, left, right, decision)
    for d in found:
        await session.delete(d)
    return len(found)


_HOUSEHOLD_KEYS = select(HouseholdKey).where(col(HouseholdKey.child_record_id).in_(IDS))


async def household_keys_of(session: AsyncSession, record_ids: Sequence[str]) -> list[HouseholdKey]:
    if not record_ids:
        return []
    return list((await session.scalars(_HOUSEHOLD_KEYS, {"ids": list(record_ids)})).all())


class SharedRecord(NamedTuple):
    """Another child's record sharing a household key with this child: only what the
    picture shows of it (a name and date of birth beside the shared key)."""

    key: str
    kind: str
    label: str
    child_id: str
    given_name: str | None
    family_name: str | None
    date_of_birth: str | None


_hk = HouseholdKey.__table__  # type: ignore[attr-defined]
_SMALL_HOUSEHOLD_KEYS = (
    select(_hk.c.key)
    .join(_records, _rec.id == _hk.c.child_record_id)
    .where(_hk.c.key.in_(bindparam("keys", expanding=True)))
    .group_by(_hk.c.key)
    .having(func.count(func.distinct(_rec.child_id)) <= HOUSEHOLD_MAX_CHILDREN)
)
_SHARING = (
    select(
        _hk.c.key,
        _hk.c.kind,
        _hk.c.label,
        _rec.child_id,
        _rec.given_name,
        _rec.family_name,
        _rec.date_of_birth,
    )
    .join_from(_hk, _records, _rec.id == _hk.c.child_record_id)
    .where(_hk.c.key.in_(_SMALL_HOUSEHOLD_KEYS.scalar_subquery()))
    .where(_rec.child_id != bindparam("exclude_child"))
    .limit(bindparam("limit"))
)


async def records_sharing(
    session: AsyncSession, keys: Sequence[str], exclude_child: str, limit: int = 200
) -> list[SharedRecord]:
    """Other children's records sharing an address or adult key with this child.

    A key shared by more than HOUSEHOLD_MAX_CHILDREN children is no household (a
    block of flats with one line1, a very common name): it is left out.
    """
    if not keys:
        return []
    rows = (
        await session.execute(
            _SHARING, {"keys": list(keys), "exclude_child": exclude_child, "limit": limit}
        )
    ).all()
    return [SharedRecord(*row) for row in rows if row[3] is not None]


_RELATED = select(RelatedPerson).where(col(RelatedPerson.child_record_id).in_(IDS))


async def related_people_of(
    session: AsyncSession, record_ids: Sequence[str]
) -> list[RelatedPerson]:
    if not record_ids:
        return []
    return list((await session.scalars(_RELATED, {"ids": list(record_ids)})).all())
