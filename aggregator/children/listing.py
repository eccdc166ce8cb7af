"""The hub's list of children, filtered and ranked by simple risk measures."""

import re
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    case,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.display import UNNAMED, display_identities
from aggregator.children.models import BlockingKey, Child
from aggregator.children.schemas import ChildPage, ChildSummary
from aggregator.concerns.models import ChildRecord, Concern
from matching.blocking import name_search_keys

# Children's records: anyone born up to this many years ago may be searched for.
MAX_AGE_YEARS = 21

Sort = Literal["agencies", "recent_concerns", "last_concern"]


def _name_matches(name: str, today: date) -> Select[Any] | CompoundSelect:
    """Records whose name contains every word as written, or sounds like the name
    (the keys `matching` stores for candidate retrieval: misspellings are found)."""
    spelled = select(col(ChildRecord.id))
    for word in name.split()[:4]:
        pattern = f"%{word.lower()}%"
        spelled = spelled.where(
            or_(
                func.lower(col(ChildRecord.given_name)).like(pattern),
                func.lower(col(ChildRecord.family_name)).like(pattern),
            )
        )
    keys = name_search_keys(name, range(today.year - MAX_AGE_YEARS, today.year + 1))
    if not keys:
        return spelled
    sounds = select(col(BlockingKey.child_record_id)).where(col(BlockingKey.key).in_(sorted(keys)))
    return union(spelled, sounds)


def _matching_children(
    name: str | None,
    date_of_birth: str | None,
    postcode: str | None,
    nhs_number: str | None = None,
    upn: str | None = None,
    today: date | None = None,
) -> Select[Any]:
    """Children with any record matching every given search term (any agency's spelling)."""
    stmt = select(col(ChildRecord.child_id)).where(col(ChildRecord.child_id).is_not(None))
    if name and name.split():
        stmt = stmt.where(col(ChildRecord.id).in_(_name_matches(name, today or date.today())))
    if date_of_birth:
        stmt = stmt.where(col(ChildRecord.date_of_birth).startswith(date_of_birth.strip()))
    if postcode:
        compact = postcode.replace(" ", "").upper()
        stmt = stmt.where(func.replace(col(ChildRecord.postcode), " ", "").startswith(compact))
    if nhs_number:
        stmt = stmt.where(col(ChildRecord.nhs_number) == nhs_number)
    if upn:
        stmt = stmt.where(col(ChildRecord.upn) == upn)
    return stmt


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_MY = re.compile(r"^(\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def date_of_birth_query(text: str | None) -> str | None:
    """A date of birth as hubs type it: 17/10/2009 (UK order), 10/2009, 2009-10-17,
    2009-10 or 2009; returned as the ISO prefix to search by. ValueError otherwise."""
    if not text or not text.strip():
        return None
    value = text.strip()
    if _ISO.match(value):
        iso = value
    elif m := _DMY.match(value):
        iso = f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    elif m := _MY.match(value):
        iso = f"{m.group(2)}-{int(m.group(1)):02d}"
    else:
        raise ValueError("write a date of birth as 17/10/2009, 2009-10-17, 2009-10 or 2009")
    parts = iso.split("-")
    try:
        if len(parts) == 3:
            date.fromisoformat(iso)
        elif len(parts) == 2 and not 1 <= int(parts[1]) <= 12:
            raise ValueError
    except ValueError:
        raise ValueError(f"{value} is not a date") from None
    return iso


def identifier_query(nhs_number: str | None, upn: str | None) -> tuple[str | None, str | None]:
    """NHS numbers and UPNs as stored (digits only; upper case), or ValueError naming it."""
    nhs = "".join(ch for ch in (nhs_number or "") if not ch.isspace()) or None
    if nhs is not None and not (len(nhs) == 10 and nhs.isdigit()):
        raise ValueError("nhs_number: an NHS number is 10 digits")
    code = (upn or "").strip().upper() or None
    if code is not None and not (len(code) == 13 and code.isalnum()):
        raise ValueError("upn: a UPN is 13 letters and digits")
    return nhs, code


def children_named(name: str) -> Select[Any]:
    """Ids of children with a record matching every word of a name (for other lists)."""
    return _matching_children(name, None, None)


async def list_children(
    session: AsyncSession,
    *,
    min_agencies: int = 0,
    category: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sort: Sort = "agencies",
    name: str | None = None,
    date_of_birth: str | None = None,
    postcode: str | None = None,
    nhs_number: str | None = None,
    upn: str | None = None,
    offset: int = 0,
    limit: int = 50,
    today: date | None = None,
) -> ChildPage:
    today = today or date.today()
    recent_from = today - timedelta(days=90)
    child_id = col(ChildRecord.child_id)
    agencies = func.count(func.distinct(col(Concern.agency_id))).label("agencies")
    concerns = func.count(col(Concern.id)).label("concerns")
    recent = func.sum(
        case((col(Concern.observed_at) >= recent_from, 1), else_=0).cast(Integer)
    ).label("recent")
    last = func.max(col(Concern.observed_at)).label("last")
    stmt = (
        select(child_id, agencies, concerns, recent, last)
        .join(ChildRecord, col(ChildRecord.concern_id) == col(Concern.id))
        .where(child_id.is_not(None))
        .group_by(child_id)
    )
    if name or date_of_birth or postcode or nhs_number or upn:
        stmt = stmt.where(
            child_id.in_(
                _matching_children(name, date_of_birth, postcode, nhs_number, upn, today)
            )
        )
    if date_from:
        stmt = stmt.where(col(Concern.observed_at) >= date_from)
    if date_to:
        stmt = stmt.where(col(Concern.observed_at) <= date_to)
    if min_agencies:
        stmt = stmt.having(agencies >= min_agencies)
    if category:
        stmt = stmt.having(func.sum(case((col(Concern.category) == category, 1), else_=0)) > 0)
    orders: dict[str, ColumnElement[Any]] = {
        "agencies": agencies,
        "recent_concerns": recent,
        "last_concern": last,
    }
    order = orders[sort]
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (
        await session.execute(
            stmt.order_by(order.desc(), last.desc(), child_id).offset(offset).limit(limit)
        )
    ).all()
    ids = [str(r[0]) for r in rows]
    identities = await display_identities(session, ids)
    cats = (
        await session.execute(
            select(child_id, col(Concern.category))
            .join(Concern, col(Concern.id) == col(ChildRecord.concern_id))
            .where(child_id.in_(ids))
            .distinct()
        )
    ).all()
    categories: dict[str, set[str]] = {}
    for cid, cat in cats:
        categories.setdefault(str(cid), set()).add(cat)
    provisional = {
        c.id: c.provisional
        for c in (await session.scalars(select(Child).where(col(Child.id).in_(ids)))).all()
    }
    items = []
    for row_id, n_agencies, n_concerns, n_recent, last_date in rows:
        cid = str(row_id)
        found = identities.get(cid)
        items.append(
            ChildSummary(
                child_id=cid,
                name=found.name if found else UNNAMED,
                date_of_birth=found.date_of_birth if found else None,
                postcode=found.postcode if found else None,
                agencies=n_agencies,
                concerns=n_concerns,
                concerns_last_90_days=int(n_recent or 0),
                last_concern=last_date
                if isinstance(last_date, date)
                else date.fromisoformat(str(last_date)),
                categories=sorted(categories.get(cid, set())),
                provisional=provisional.get(cid, False),
            )
        )
    return ChildPage(items=items, total=total, offset=offset, limit=limit)
