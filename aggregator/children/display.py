"""How a child is named on every page and endpoint: one rule, one function.

Why: records of one child are written differently by each agency ("Archie Robinon"
at one school, "Jacob Robinson" everywhere else). Showing one record's spelling on
the inbox and another on the child page makes a practitioner doubt they are the
same child; searching one name and seeing another is worse. Every view asks here.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.concerns.models import ChildRecord

UNNAMED = "unnamed"


def best_value(values: Sequence[str | None]) -> str | None:
    """The value written most often; among equals, the most recent (values oldest first)."""
    present = [(v, i) for i, v in enumerate(values) if v]
    if not present:
        return None
    counts = Counter(v for v, _ in present)
    return max(present, key=lambda vi: (counts[vi[0]], vi[1]))[0]


@dataclass(frozen=True)
class DisplayIdentity:
    name: str
    given_name: str | None
    family_name: str | None
    date_of_birth: str | None
    postcode: str | None


def identity_from(
    given: Sequence[str | None],
    family: Sequence[str | None],
    dob: Sequence[str | None],
    postcode: Sequence[str | None],
) -> DisplayIdentity:
    """Each field's best-known value over a child's records, oldest record first."""
    g, f = best_value(given), best_value(family)
    return DisplayIdentity(
        name=" ".join(p for p in (g, f) if p) or UNNAMED,
        given_name=g,
        family_name=f,
        date_of_birth=best_value(dob),
        postcode=best_value(postcode),
    )


_IDENTITY_COLUMNS = select(
    col(ChildRecord.child_id),
    col(ChildRecord.given_name),
    col(ChildRecord.family_name),
    col(ChildRecord.date_of_birth),
    col(ChildRecord.postcode),
).order_by(col(ChildRecord.created_at), col(ChildRecord.id))


async def display_identities(
    session: AsyncSession, child_ids: Sequence[str]
) -> dict[str, DisplayIdentity]:
    """The best-known identity of each child, in one query over their records."""
    ids = list(dict.fromkeys(child_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(_IDENTITY_COLUMNS.where(col(ChildRecord.child_id).in_(ids)))
    ).all()
    fields: dict[str, tuple[list[str | None], ...]] = {}
    for cid, given, family, dob, postcode in rows:
        g, f, d, p = fields.setdefault(str(cid), ([], [], [], []))
        g.append(given)
        f.append(family)
        d.append(dob)
        p.append(postcode)
    return {cid: identity_from(*values) for cid, values in fields.items()}


async def display_names(session: AsyncSession, child_ids: Sequence[str]) -> dict[str, str]:
    """Just the names, for lists that show nothing else of the child."""
    return {cid: i.name for cid, i in (await display_identities(session, child_ids)).items()}
