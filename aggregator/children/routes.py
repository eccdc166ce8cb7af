"""The hub's endpoints: review queue, decisions, splits and merges, the picture."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.children import repository as repo
from aggregator.children import review
from aggregator.children.chronology import Format, export_chronology
from aggregator.children.listing import (
    Sort,
    date_of_birth_query,
    identifier_query,
    list_children,
)
from aggregator.children.models import ReviewItem
from aggregator.children.picture import build_picture, children_shown
from aggregator.children.review_view import (
    ReviewSort,
    review_count,
    review_item_view,
    review_page,
    sides_shown,
)
from aggregator.children.schemas import (
    ChildChange,
    ChildPage,
    DecisionIn,
    DecisionOut,
    MergeIn,
    Picture,
    ReviewItemOut,
    SplitIn,
)
from aggregator.core.inputs import Offset
from aggregator.core.purpose import PurposeHeader, purpose_or
from aggregator.principals import HubUser, SessionDep

router = APIRouter(prefix="/api/v1", tags=["children"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing, unknown or revoked token"},
    403: {"description": "Only hub staff and leads may see children and the review queue"},
    404: {"description": "No such child or review item"},
    409: {"description": "The review item was already decided otherwise, by whom and when"},
}


@router.get("/review", response_model=list[ReviewItemOut], responses=_ERRORS, tags=["review"])
async def review_queue(
    user: HubUser,
    session: SessionDep,
    response: Response,
    state: Annotated[str, Query(pattern="^(open|decided|superseded)$")] = "open",
    sort: Annotated[ReviewSort, Query()] = "age",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
    purpose: PurposeHeader = None,
) -> list[ReviewItemOut]:
    """Possible matches waiting for a person: oldest first, then most probable (or by
    `sort`); the total is in the `X-Total-Count` header."""
    items = await review_page(session, state, sort, offset, limit)
    response.headers["X-Total-Count"] = str(await review_count(session, state))
    out = [await review_item_view(session, item) for item in items]
    why = purpose_or(purpose, "identity_resolution")
    record(
        session,
        user,
        AuditEntry(
            action="review.list",
            purpose=why,
            object_type="review_item",
            detail={"ids": [i.id for i in items]},
        ),
    )
    record_shown(session, user, sides_shown(out), read="review.list", purpose=why)
    return out


@router.get("/review/{item_id}", response_model=ReviewItemOut, responses=_ERRORS, tags=["review"])
async def review_item(
    item_id: str, user: HubUser, session: SessionDep, purpose: PurposeHeader = None
) -> ReviewItemOut:
    item = await session.get(ReviewItem, item_id)
    why = purpose_or(purpose, "identity_resolution")
    record_read(session, user, "review.read", "review_item", item_id, item is not None, why)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review item")
    view = await review_item_view(session, item)
    record_shown(session, user, sides_shown([view]), read="review.read", purpose=why, of=item.id)
    return view


@router.post(
    "/review/{item_id}/decision", response_model=DecisionOut, responses=_ERRORS, tags=["review"]
)
async def decide_review_item(
    item_id: str, body: DecisionIn, user: HubUser, session: SessionDep
) -> DecisionOut:
    """Same child merges the two; different children keeps them apart for good."""
    item = await session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review item")
    try:
        child = await review.decide(session, item, body.decision, body.note, user)
    except review.ItemAlreadyDecided as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return DecisionOut(review_item=item.id, decision=body.decision, child_id=child.id)


def _query_error(field: str, message: str) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the query parameter."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


@router.get("/children", response_model=ChildPage, responses=_ERRORS)
async def children(
    user: HubUser,
    session: SessionDep,
    min_agencies: Annotated[int, Query(ge=0, le=20)] = 0,
    category: str | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    sort: Sort = "agencies",
    name: Annotated[str | None, Query(max_length=100)] = None,
    date_of_birth: Annotated[
        str | None,
        Query(
            max_length=10,
            pattern=r"^[0-9./-]+$",
            description="2009-10-17, 2009-10, 2009 or as written in the UK: 17/10/2009",
        ),
    ] = None,
    postcode: Annotated[str | None, Query(max_length=8)] = None,
    nhs_number: Annotated[str | None, Query(max_length=12)] = None,
    upn: Annotated[str | None, Query(max_length=13)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    purpose: PurposeHeader = None,
) -> ChildPage:
    """Children with linked concerns, most agencies (or most recent concerns) first.

    Names are found however an agency spelled them (sounds-like as well as contains)."""
    try:
        dob = date_of_birth_query(date_of_birth)
    except ValueError as exc:
        raise _query_error("date_of_birth", str(exc)) from exc
    try:
        nhs, upn_code = identifier_query(nhs_number, upn)
    except ValueError as exc:
        field, message = str(exc).split(": ", 1)
        raise _query_error(field, message) from exc
    page = await list_children(
        session,
        min_agencies=min_agencies,
        category=category,
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        name=name,
        date_of_birth=dob,
        postcode=postcode,
        nhs_number=nhs,
        upn=upn_code,
        offset=offset,
        limit=limit,
    )
    why = purpose_or(purpose, "safeguarding")
    ids = [c.child_id for c in page.items]
    record(
        session,
        user,
        AuditEntry(action="child.list", purpose=why, object_type="child", detail={"ids": ids}),
    )
    record_shown(session, user, ids, read="child.list", purpose=why)
    return page


@router.get("/children/{child_id}/picture", response_model=Picture, responses=_ERRORS)
async def picture(
    child_id: str, user: HubUser, session: SessionDep, purpose: PurposeHeader = None
) -> Picture:
    """Everything known about one child, from every agency, on one timeline."""
    child = await repo.get_child(session, child_id)
    why = purpose_or(purpose, "safeguarding")
    record_read(
        session, user, "child.picture", "child", child.id if child else child_id, bool(child), why
    )
    if child is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    p = await build_picture(session, child, child_id, user)
    record_shown(session, user, children_shown(p), read="child.picture", purpose=why, of=child.id)
    return p


@router.post("/children/{child_id}/split", response_model=ChildChange, responses=_ERRORS)
async def split_child(
    child_id: str, body: SplitIn, user: HubUser, session: SessionDep
) -> ChildChange:
    """Undo a wrong merge: the named records, and their concerns, become a new child."""
    child = await repo.get_child(session, child_id)
    if child is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    new_child = await review.split(session, child, body.record_ids, user, body.note)
    return ChildChange(
        child_id=new_child.id, record_ids=await repo.record_ids_of(session, new_child.id)
    )


@router.post("/children/{child_id}/merge", response_model=ChildChange, responses=_ERRORS)
async def merge_child(
    child_id: str, body: MergeIn, user: HubUser, session: SessionDep
) -> ChildChange:
    """A person rules two children to be one (this also reverses an earlier split)."""
    a = await repo.get_child(session, child_id)
    b = await repo.get_child(session, body.child_id)
    if a is None or b is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    if a.id == b.id:
        raise HTTPException(status.HTTP_409_CONFLICT, "these are already the same child")
    survivor = await review.merge_by_person(session, a, b, user, body.note, why="person: merge")
    return ChildChange(
        child_id=survivor.id, record_ids=await repo.record_ids_of(session, survivor.id)
    )


@router.get(
    "/children/{child_id}/chronology",
    responses={
        **_ERRORS,
        200: {
            "description": "The chronology as CSV or PDF",
            "content": {"text/csv": {}, "application/pdf": {}},
        },
    },
    response_class=Response,
)
async def chronology(
    request: Request,
    child_id: str,
    user: HubUser,
    session: SessionDep,
    recipient: Annotated[
        str,
        Query(
            min_length=2,
            max_length=200,
            description="Who the export is for (a meeting, a person): recorded with it.",
        ),
    ],
    format: Annotated[Format, Query()] = "csv",
    purpose: PurposeHeader = None,
) -> Response:
    """One row per concern and per hub action, oldest first, for a strategy discussion.

    An export is a disclosure: it is audited with its purpose and recipient."""
    child = await repo.get_child(session, child_id)
    if child is None:
        record_read(
            session,
            user,
            "child.chronology_export",
            "child",
            child_id,
            False,
            purpose_or(purpose, "strategy_discussion"),
        )
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    export = await export_chronology(
        session,
        child,
        user,
        fmt=format,
        recipient=recipient.strip(),
        purpose=purpose_or(purpose, "strategy_discussion"),
        sources=request.app.state.hub_action_sources,
        via="api",
    )
    return Response(
        export.body,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )
