"""Intake endpoints: agencies submit concerns and record sharing decisions."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_denied, record_read, record_shown
from aggregator.children.linking import submit_linked
from aggregator.concerns import attempts, repository, service
from aggregator.concerns.models import Concern
from aggregator.concerns.schemas import (
    ConcernPage,
    ConcernReceipt,
    ConcernSubmission,
    ConcernView,
    HubResponse,
    SharingDecisionIn,
    SharingDecisionOut,
)
from aggregator.concerns.vocab import Decision, Purpose
from aggregator.core.inputs import Offset
from aggregator.core.purpose import PurposeHeader, purpose_or
from aggregator.core.settings import Settings
from aggregator.principals import (
    CurrentAgency,
    CurrentPrincipal,
    SessionDep,
    SubmittingAgency,
    get_db,
    unit_of_work,
)
from aggregator.principals.models import Principal

router = APIRouter(prefix="/api/v1", tags=["concerns"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing, unknown or revoked token"},
    403: {"description": "The principal may not do this"},
    404: {"description": "No such concern visible to the caller"},
    409: {"description": "external_ref already used with a different body"},
    422: {"description": "The body is invalid; the message names the field"},
}


def _scope(principal: Principal) -> str | None:
    """Agencies see only their own concerns; hub staff see all (and are audited)."""
    return principal.id if principal.kind == "agency" else None


async def _concern_reader(
    principal: CurrentPrincipal, session: SessionDep, request: Request
) -> Principal:
    """Agencies, hub staff and leads; anyone else (an admin) is refused, on the record."""
    if principal.kind == "agency" or principal.role in ("hub", "lead"):
        return principal
    record_denied(session, principal, request.url.path, request.method)
    raise HTTPException(status.HTTP_403_FORBIDDEN, "this role may not read concerns")


ConcernReader = Annotated[Principal, Depends(_concern_reader)]


@router.post(
    "/concerns",
    response_model=ConcernReceipt,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A retry of a concern already stored", "model": ConcernReceipt},
        **_ERRORS,
    },
)
async def submit_concern(
    body: ConcernSubmission, caller: SubmittingAgency, request: Request
) -> Response:
    """Share a concern. Retrying with the same `external_ref` and body is safe."""
    # Identity resolution happens in the same transaction; its outcome is for
    # the hub and deliberately absent from the agency's receipt (golden rule 6).
    # The busiest endpoint runs its unit of work itself rather than as a
    # dependency (FastAPI's exit stack and shielded exit cost ~5% of its CPU).
    db = get_db(request)
    try:
        async with unit_of_work(db) as session:
            stored = await submit_linked(session, caller, body)
    except Exception as exc:  # refused or failed: on the record, then answered as before
        purpose = body.sharing.purpose.value
        await attempts.record_attempt(db, caller.principal, body.external_ref, purpose, exc)
        raise
    c = stored.concern
    receipt = ConcernReceipt(id=c.id, external_ref=c.external_ref, received_at=c.received_at)
    # Rendered here, not by FastAPI's response_model handling (which validates the
    # receipt again and encodes it twice): the busiest endpoint, the same JSON.
    return Response(
        receipt.model_dump_json(),
        status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("/concerns/{concern_id}", response_model=ConcernView, responses=_ERRORS)
async def read_concern(
    concern_id: str,
    principal: ConcernReader,
    session: SessionDep,
    request: Request,
    purpose: PurposeHeader = None,
) -> ConcernView:
    """One concern. Another agency's concern answers 404, exactly like an unknown id.
    The submitting agency also sees `hub_response`: what the hub did with it."""
    concern = await repository.concern_visible_to(session, concern_id, _scope(principal))
    why = purpose_or(purpose, "safeguarding")
    record_read(session, principal, "concern.read", "concern", concern_id, bool(concern), why)
    if concern is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such concern")
    parts = await repository.load_parts(session, [concern.id])
    record_shown(
        session,
        principal,
        [r.child_id for r in parts.children.values()],
        read="concern.read",
        purpose=why,
        of=concern.id,
    )
    view = service.to_view(concern, parts, principal)
    if principal.id == concern.agency_id:
        view.hub_response = await hub_response(request, session, concern)
    return view


async def hub_response(
    request: Request, session: SessionDep, concern: Concern
) -> HubResponse | None:
    """From the alerts this concern is evidence for; the source is wired by the
    composition root (app.state), so this package never imports the alerts one."""
    source = getattr(request.app.state, "hub_response_source", None)
    found = await source(session, concern) if source else None
    if found is None:
        return None
    settings: Settings = request.app.state.settings
    return HubResponse(
        status=found.status, outcome=found.outcome, at=found.at, contact=settings.hub_duty_contact
    )


@router.get("/concerns", response_model=ConcernPage, responses=_ERRORS)
async def list_concerns(
    principal: ConcernReader,
    session: SessionDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    purpose: PurposeHeader = None,
) -> ConcernPage:
    """Concerns the caller may see, newest first."""
    concerns, total = await repository.page_of_concerns(session, _scope(principal), offset, limit)
    parts = await repository.load_parts(session, [c.id for c in concerns])
    why = purpose_or(purpose, "safeguarding")
    record(
        session,
        principal,
        AuditEntry(
            action="concern.list",
            purpose=why,
            object_type="concern",
            detail={"ids": [c.id for c in concerns], "offset": offset},
        ),
    )
    record_shown(
        session,
        principal,
        [parts.children[c.id].child_id for c in concerns if c.id in parts.children],
        read="concern.list",
        purpose=why,
    )
    return ConcernPage(
        items=[service.to_view(c, parts, principal) for c in concerns],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.post(
    "/sharing-decisions",
    response_model=SharingDecisionOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
    tags=["sharing"],
)
async def record_sharing_decision(
    body: SharingDecisionIn, agency: CurrentAgency, session: SessionDep, response: Response
) -> SharingDecisionOut:
    """Golden rule 7: record a decision not to share here, with its reason."""
    decision, created = await service.record_decision(session, agency, body)
    record(
        session,
        agency,
        AuditEntry(
            action="sharing_decision.create" if created else "sharing_decision.retry",
            purpose=body.purpose.value,
            object_type="sharing_decision",
            object_id=decision.id,
            detail={"decision": body.decision.value},
        ),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return SharingDecisionOut(
        id=decision.id,
        recorded_at=decision.recorded_at,
        external_ref=decision.external_ref,
        decision=Decision(decision.decision),
        reason=decision.reason,
        purpose=Purpose(decision.purpose),
        shared_with=decision.shared_with,
        decided_at=decision.decided_at,
    )
