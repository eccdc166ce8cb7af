"""Dashboard pages for children and the review queue (hub and lead)."""

from datetime import date
from typing import Annotated, Any

from fastapi import Form, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col
from starlette.responses import Response

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.children import repository as repo
from aggregator.children import review
from aggregator.children.listing import Sort, list_children
from aggregator.children.models import ReviewItem
from aggregator.children.picture import build_picture, children_shown
from aggregator.children.review_view import review_item_view, sides_shown
from aggregator.children.schemas import DecisionIn
from aggregator.concerns.vocab import Category
from aggregator.principals.deps import SessionDep
from aggregator.web import WebHubUser, WebPageError, page, protected_router, redirect
from aggregator.web.pictures import network_svg, timeline_svg

router = protected_router()

COMPARED_FIELDS = [
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("other_names", "Other names"),
    ("date_of_birth", "Date of birth"),
    ("sex", "Sex"),
    ("nhs_number", "NHS number"),
    ("upn", "UPN"),
    ("address_line1", "Address"),
    ("town", "Town"),
    ("postcode", "Postcode"),
]
_NOTICES = {
    "same_child": "Recorded: the two records are the same child. Their concerns are now on one picture.",
    "different_children": "Recorded: the two records are different children. They will not be linked automatically.",
}


def _norm(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(value)
    return "" if value is None else str(value).strip().lower().replace(" ", "")


def _compare(a: Any, b: Any) -> str:
    """'' when the same, 'differs' when both are given and differ, 'missing' otherwise."""
    left, right = _norm(a), _norm(b)
    if left == right:
        return ""
    return "differs" if left and right else "missing in one"


@router.get("/children")
async def children_page(
    request: Request,
    user: WebHubUser,
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    dob: Annotated[str | None, Query(max_length=10)] = None,
    postcode: Annotated[str | None, Query(max_length=8)] = None,
    sort: Sort = "agencies",
    category: str | None = None,
    min_agencies: Annotated[int, Query(ge=0, le=20)] = 0,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Children, most agencies involved first; searchable by name, birth date, postcode."""
    if category and category not in {c.value for c in Category}:
        raise WebPageError(422, "Choose a category from the list.")
    if dob and not all(ch.isdigit() or ch == "-" for ch in dob):
        raise WebPageError(422, "Write a date of birth as YYYY-MM-DD, or YYYY-MM, or YYYY.")
    result = await list_children(
        session,
        name=name or None,
        date_of_birth=dob or None,
        postcode=postcode or None,
        sort=sort,
        category=category or None,
        min_agencies=min_agencies,
        offset=offset,
        limit=50,
    )
    record(
        session,
        user,
        AuditEntry(
            action="child.list",
            purpose="safeguarding",
            object_type="child",
            detail={"ids": [c.child_id for c in result.items], "via": "dashboard"},
        ),
    )
    record_shown(
        session,
        user,
        [c.child_id for c in result.items],
        read="child.list",
        purpose="safeguarding",
        via="dashboard",
    )
    return page(
        request,
        "children/list.html",
        {
            "page_title": "Children",
            "result": result,
            "filters": {
                "name": name or "",
                "dob": dob or "",
                "postcode": postcode or "",
                "sort": sort,
                "category": category or "",
                "min_agencies": min_agencies,
            },
            "categories": [c.value for c in Category],
            "offset": offset,
        },
    )


@router.get("/children/{child_id}")
async def child_page(
    request: Request, child_id: str, user: WebHubUser, session: SessionDep, done: str | None = None
) -> Response:
    """The full picture: identity, pictures, concerns with their sharing record, alerts."""
    child = await repo.get_child(session, child_id)
    record_read(
        session,
        user,
        "child.picture",
        "child",
        child.id if child else child_id,
        child is not None,
        "safeguarding",
        via="dashboard",
    )
    if child is None:
        raise WebPageError(
            404, "There is no such child. Search for the child on the Children page."
        )
    if child.id != child_id:
        return redirect(f"/children/{child.id}")
    built = await build_picture(session, child, child_id, user)
    record_shown(
        session,
        user,
        children_shown(built),
        read="child.picture",
        purpose="safeguarding",
        of=child.id,
        via="dashboard",
    )
    picture = built.model_dump(mode="json")
    return page(
        request,
        "children/page.html",
        {
            "page_title": " ".join(
                p
                for p in (picture["identity"]["given_name"], picture["identity"]["family_name"])
                if p
            )
            or "Child",
            "p": picture,
            "timeline_svg": timeline_svg(picture["timeline"], date.today()),
            "network_svg": network_svg(picture["graph"], child.id),
            "notice": _NOTICES.get(done or ""),
        },
    )


@router.get("/review")
async def review_page(request: Request, user: WebHubUser, session: SessionDep) -> Response:
    """Possible matches, both records side by side, differences marked, score explained."""
    items = (
        await session.scalars(
            select(ReviewItem)
            .where(col(ReviewItem.state) == "open")
            .order_by(col(ReviewItem.created_at), col(ReviewItem.probability).desc())
            .limit(25)
        )
    ).all()
    views = [await review_item_view(session, item) for item in items]
    rows = [
        [
            (
                label,
                getattr(v.record, key),
                getattr(v.candidate, key),
                _compare(getattr(v.record, key), getattr(v.candidate, key)),
            )
            for key, label in COMPARED_FIELDS
        ]
        for v in views
    ]
    record(
        session,
        user,
        AuditEntry(
            action="review.list",
            purpose="identity_resolution",
            object_type="review_item",
            detail={"ids": [i.id for i in items], "via": "dashboard"},
        ),
    )
    record_shown(
        session,
        user,
        sides_shown(views),
        read="review.list",
        purpose="identity_resolution",
        via="dashboard",
    )
    return page(
        request,
        "review/queue.html",
        {"page_title": "Review queue", "items": list(zip(views, rows, strict=True))},
    )


@router.post("/review/{item_id}/decision")
async def review_decision(
    request: Request,
    item_id: str,
    user: WebHubUser,
    session: SessionDep,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        body = DecisionIn.model_validate({"decision": decision, "note": note or None})
    except ValidationError as exc:
        raise WebPageError(422, "Choose 'Same child' or 'Different children'.") from exc
    item = await session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise WebPageError(
            404, "That review item no longer exists; it may have been decided already."
        )
    child = await review.decide(session, item, body.decision, body.note, user)
    return redirect(f"/children/{child.id}?done={body.decision}")
