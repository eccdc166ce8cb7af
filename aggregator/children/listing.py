"""The hub's list of children, filtered and ranked by simple risk measures."""

from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.children.display import UNNAMED, display_identities
from aggregator.children.models import Child
from aggregator.children.schemas import ChildPage, ChildSummary
from aggregator.concerns.models import ChildRecord, Concern

Sort = Literal["agencies", "recent_concerns", "last_concern"]


def _matching_children(
    name: str | None, date_of_birth: str | None, postcode: str | None
) -> Select[Any]:
    """Children with any record matching every given search term (any agency's spelling)."""
    stmt = select(col(ChildRecord.child_id)).where(col(ChildRecord.child_id).is_not(None))
    for word in (name or "").split()[:4]:
        pattern = f"%{word.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(col(ChildRecord.given_name)).like(pattern),
                func.lower(col(ChildRecord.family_name)).like(pattern),
            )
        )
    if date_of_birth:
        stmt = stmt.where(col(ChildRecord.date_of_birth).startswith(date_of_birth.strip()))
    if postcode:
        compact = postcode.replace(" ", "").upper()
        stmt = stmt.where(func.replace(col(ChildRecord.postcode), " ", "").startswith(compact))
    return stmt


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
    if name or date_of_birth or postcode:
        stmt = stmt.where(child_id.in_(_matching_children(name, date_of_birth, postcode)))
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
