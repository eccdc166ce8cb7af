"""Admin view of the audit trail and its verification."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from aggregator.audit.anchor import Head
from aggregator.audit.chain import verify_and_seal
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, record
from aggregator.core.inputs import RowIdBefore
from aggregator.principals import Admin, SessionDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    seq: int | None
    occurred_at: str
    principal_id: str | None
    principal_name: str | None
    action: str
    object_type: str | None
    object_id: str | None
    purpose: str
    outcome: str
    detail: dict[str, Any]


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    message: str
    event_id: int | None
    # Added with the anchors: what broke, and how much this verification covered.
    problem: str | None = None
    seq: int | None = None
    full: bool = False
    from_seq: int = 0
    head: str | None = None  # SEQ:HASH of the chain's head when intact
    anchors_checked: int = 0


@router.get("/events", response_model=list[AuditEventOut])
async def list_events(
    admin: Admin,
    session: SessionDep,
    principal_id: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    before_id: RowIdBefore = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEventOut]:
    """Newest first; page with `before_id`."""
    stmt = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
    if principal_id:
        stmt = stmt.where(col(AuditEvent.principal_id) == principal_id)
    if action:
        stmt = stmt.where(col(AuditEvent.action) == action)
    if object_id:
        stmt = stmt.where(col(AuditEvent.object_id) == object_id)
    if before_id:
        stmt = stmt.where(col(AuditEvent.id) < before_id)
    events = (await session.scalars(stmt)).all()
    # The trail names people and what they touched: reading it is itself a read.
    filters = {"principal_id": principal_id, "action": action, "object_id": object_id}
    record(
        session,
        admin,
        AuditEntry(
            action="audit.read",
            purpose="audit",
            object_type="audit_event",
            detail={
                "filters": {k: v[:64] for k, v in filters.items() if v},
                "before": before_id,
                "ids": [e.id for e in events],
            },
        ),
    )
    return [
        AuditEventOut(
            id=e.id or 0,
            seq=e.seq,
            occurred_at=e.occurred_at.isoformat(),
            principal_id=e.principal_id,
            principal_name=e.principal_name,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            purpose=e.purpose,
            outcome=e.outcome,
            detail=e.detail,
        )
        for e in events
    ]


@router.get("/verify", response_model=VerificationOut)
async def verify(
    admin: Admin,
    session: SessionDep,
    request: Request,
    full: bool = False,
    head: Annotated[
        str | None,
        Query(
            pattern=r"^\d{1,18}:[0-9a-f]{64}$",
            description="SEQ:HASH from `aggregator audit anchor`: the chain must still hold it",
        ),
    ] = None,
) -> VerificationOut:
    """Walk the chain (from the last checkpoint unless `full`), then seal what is pending.

    The request's own transaction is committed first: the sealer needs the write
    lock, which on SQLite this request's transaction would otherwise hold.
    """
    record(
        session,
        admin,
        AuditEntry(action="audit.verify", purpose="audit", detail={"full": full}),
    )
    await session.commit()
    db = request.app.state.db
    result = await verify_and_seal(db, full=full, head=Head.parse(head) if head else None)
    return VerificationOut(
        ok=result.ok,
        checked=result.checked,
        message=result.describe(),
        event_id=result.event_id,
        problem=result.problem,
        seq=result.seq,
        full=result.full,
        from_seq=result.from_seq,
        head=str(result.head) if result.head else None,
        anchors_checked=result.anchors_checked,
    )
