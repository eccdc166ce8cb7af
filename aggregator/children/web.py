"""Dashboard pages for children and the review queue (hub and lead)."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, HTTPException, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read, record_shown
from aggregator.children import repository as repo
from aggregator.children import review
from aggregator.children.chronology import export_chronology
from aggregator.children.listing import (
    Sort,
    date_of_birth_query,
    identifier_query,
    list_children,
)
from aggregator.children.models import ReviewItem
from aggregator.children.picture import build_picture, children_shown
from aggregator.children.review_view import (
    REVIEW_SORTS,
    review_count,
    review_item_view,
    review_page,
    side_contexts,
    sides_shown,
)
from aggregator.children.schemas import ChildPage, DecisionIn
from aggregator.concerns.models import ChildRecord
from aggregator.concerns.vocab import Category
from aggregator.core.inputs import Offset
from aggregator.principals.deps import SessionDep
from aggregator.web import WebHubUser, WebPageError, page, protected_router, redirect
from aggregator.web.paging import PER_PAGE, PageParam, page_from_offset, pager
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
# How the page says why an agency gave no NHS number (vocab.NhsNumberMissingReason).
NHS_MISSING_REASONS = {
    "unknown": "not known to the agency",
    "not_yet_issued": "not yet issued",
    "withheld_more_detrimental": "withheld: sharing it would be more detrimental to the child",
}
_NOTICES = {
    "split": "Recorded: the chosen concerns are now a separate child, and will not be linked back automatically.",
    "merged": "Recorded: the two children are one. Their concerns are now on one picture.",
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
    dob: Annotated[str | None, Query(max_length=20)] = None,
    postcode: Annotated[str | None, Query(max_length=8)] = None,
    nhs_number: Annotated[str | None, Query(max_length=12)] = None,
    upn: Annotated[str | None, Query(max_length=13)] = None,
    sort: Sort = "agencies",
    category: str | None = None,
    min_agencies: Annotated[int, Query(ge=0, le=20)] = 0,
    offset: Offset = 0,
    page_number: Annotated[PageParam | None, Query(alias="page")] = None,
) -> Response:
    """Children, most agencies involved first; searchable by name (however spelled),
    birth date (as typed in the UK too), postcode, NHS number or UPN."""
    if category and category not in {c.value for c in Category}:
        raise WebPageError(422, "Choose a category from the list.")
    try:
        dob_prefix = date_of_birth_query(dob)
    except ValueError as exc:
        raise WebPageError(422, f"Date of birth: {exc}.") from exc
    try:
        nhs, upn_code = identifier_query(nhs_number, upn)
    except ValueError as exc:
        raise WebPageError(422, str(exc).split(": ", 1)[1].capitalize() + ".") from exc
    wanted = page_from_offset(page_number, offset)

    async def fetch(at: int) -> ChildPage:
        return await list_children(
            session,
            name=name or None,
            date_of_birth=dob_prefix,
            postcode=postcode or None,
            nhs_number=nhs,
            upn=upn_code,
            sort=sort,
            category=category or None,
            min_agencies=min_agencies,
            offset=at,
            limit=PER_PAGE,
        )

    result = await fetch((wanted - 1) * PER_PAGE)
    pages = pager(request, wanted, result.total)
    if pages.page != wanted:  # past the end: show the last page
        result = await fetch(pages.offset)
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
                "nhs_number": nhs_number or "",
                "upn": upn or "",
            },
            "pager": pages,
            "categories": [c.value for c in Category],
        },
    )


def _render_child_page(
    request: Request, picture: dict[str, Any], child_id: str, done: str | None
) -> Response:
    """The child page with both pictures (the network bounded by `pictures.RING_MAX`)."""
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
            "network_svg": network_svg(picture["graph"], child_id),
            "notice": _NOTICES.get(done or ""),
            "nhs_missing_reasons": NHS_MISSING_REASONS,
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
    # Drawn and rendered in a worker thread (pure CPU, bounded by the picture's
    # own bounds): the event loop keeps answering other requests meanwhile.
    return await run_in_threadpool(_render_child_page, request, picture, child.id, done)


@router.get("/review")
async def review_queue_page(
    request: Request,
    user: WebHubUser,
    session: SessionDep,
    sort: Annotated[str, Query(max_length=20)] = "age",
    page_number: Annotated[PageParam, Query(alias="page")] = 1,
    done: str | None = None,
) -> Response:
    """Possible matches, both records side by side, differences marked, score explained;
    every item reachable through pages, sorted by age, probability or agency."""
    if sort not in REVIEW_SORTS:
        raise WebPageError(422, "Sort by age, probability or agency.")
    total = await review_count(session, "open")
    pages = pager(request, page_number, total)
    items = await review_page(session, "open", sort, pages.offset, pages.per_page)  # type: ignore[arg-type]
    views = [await review_item_view(session, item) for item in items]
    contexts = await side_contexts(
        session, [r for v in views for r in (v.record.record_id, v.candidate.record_id)]
    )
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
        {
            "page_title": "Review queue",
            "items": list(zip(views, rows, strict=True)),
            "contexts": contexts,
            "pager": pages,
            "sort": sort,
            "sorts": REVIEW_SORTS,
            "notice": _NOTICES.get(done or ""),
        },
    )


@router.post("/review/{item_id}/decision")
async def review_decision(
    request: Request,
    item_id: str,
    user: WebHubUser,
    session: SessionDep,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    then: Annotated[str, Form(max_length=20)] = "",
    sort: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Record a ruling; then show the child, or the next item ("decide and go to the next")."""
    next_item = ""
    if then == "next":
        next_item = urlencode({"sort": sort if sort in REVIEW_SORTS else "age"})
    try:
        body = DecisionIn.model_validate({"decision": decision, "note": note or None})
    except ValidationError as exc:
        raise WebPageError(422, "Choose 'Same child' or 'Different children'.") from exc
    item = await session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise WebPageError(
            404, "That review item no longer exists; it may have been decided already."
        )
    try:
        child = await review.decide(session, item, body.decision, body.note, user)
    except review.ItemAlreadyDecided as exc:
        raise WebPageError(409, f"{str(exc)[0].upper()}{str(exc)[1:]}.") from exc
    if next_item:
        return redirect(f"/review?done={body.decision}&{next_item}")
    return redirect(f"/children/{child.id}?done={body.decision}")


@router.post("/children/{child_id}/chronology")
async def chronology_export(
    request: Request,
    child_id: str,
    user: WebHubUser,
    session: SessionDep,
    recipient: Annotated[str, Form(max_length=200)] = "",
    format: Annotated[str, Form()] = "pdf",
    purpose: Annotated[str, Form(max_length=60)] = "strategy_discussion",
) -> Response:
    """Download the chronology; a form (POST, CSRF) because an export is a disclosure."""
    if format not in ("csv", "pdf"):
        raise WebPageError(422, "Choose PDF or CSV.")
    if len(recipient.strip()) < 2:
        raise WebPageError(422, "Say who the export is for: it is recorded with it.")
    if not purpose.replace("_", "").isalpha() or not purpose.islower():
        raise WebPageError(422, "Choose a purpose from the list.")
    child = await repo.get_child(session, child_id)
    if child is None:
        raise WebPageError(
            404, "There is no such child. Search for the child on the Children page."
        )
    export = await export_chronology(
        session,
        child,
        user,
        fmt="csv" if format == "csv" else "pdf",
        recipient=recipient.strip(),
        purpose=purpose,
        sources=request.app.state.hub_action_sources,
        via="dashboard",
    )
    return Response(
        export.body,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _as_page_error(exc: HTTPException) -> WebPageError:
    """A service's refusal, told to a person as a page rather than as JSON."""
    text = str(exc.detail).split(": ", 1)[-1]
    return WebPageError(exc.status_code, f"{text[:1].upper()}{text[1:]}.")


@router.post("/children/{child_id}/split")
async def split_page(
    child_id: str,
    user: WebHubUser,
    session: SessionDep,
    concern_ids: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reverse a wrong link from the child's page: the chosen concerns become a new child."""
    if not concern_ids:
        raise WebPageError(422, "Choose the concerns that are about a different child.")
    if len(note.strip()) < 3:
        raise WebPageError(422, "Write why, so the next person can follow the decision.")
    child = await repo.get_child(session, child_id)
    if child is None:
        raise WebPageError(
            404, "There is no such child. Search for the child on the Children page."
        )
    record_ids = list(
        (
            await session.scalars(
                select(col(ChildRecord.id)).where(
                    col(ChildRecord.concern_id).in_(concern_ids[:500]),
                    col(ChildRecord.child_id) == child.id,
                )
            )
        ).all()
    )
    if len(record_ids) != len(set(concern_ids)):
        raise WebPageError(
            409, "Some of those concerns are no longer on this child. Reload the page."
        )
    try:
        new_child = await review.split(session, child, record_ids, user, note.strip())
    except HTTPException as exc:
        raise _as_page_error(exc) from exc
    return redirect(f"/children/{new_child.id}?done=split")


@router.post("/children/{child_id}/merge")
async def merge_page(
    child_id: str,
    user: WebHubUser,
    session: SessionDep,
    other_child_id: Annotated[str, Form(max_length=64)] = "",
    other_child_ref: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A person rules two children one, from the child's page."""
    other_id = other_child_id or other_child_ref.strip().rstrip("/").rsplit("/", 1)[-1]
    if not other_id:
        raise WebPageError(422, "Choose the other child, or paste the address of its page.")
    if len(note.strip()) < 3:
        raise WebPageError(422, "Write why, so the next person can follow the decision.")
    a = await repo.get_child(session, child_id)
    b = await repo.get_child(session, other_id)
    if a is None or b is None:
        raise WebPageError(404, "There is no such child. Check the other child's page address.")
    if a.id == b.id:
        raise WebPageError(409, "These are already the same child.")
    survivor = await review.merge_by_person(session, a, b, user, note.strip(), why="person: merge")
    return redirect(f"/children/{survivor.id}?done=merged")
