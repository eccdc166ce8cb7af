"""Strategy discussions about a child: who attended, why, what was decided, who does what.

Why: a strategy discussion is convened when there is reasonable cause to suspect
significant harm, and must include at least children's social care, health and
police (Working Together to Safeguard Children 2023); one without them needs a
recorded reason. The record is part of the child's chronology, like the hub's
alert actions, and every write and read is audited.
"""

from datetime import date, datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import JSON, Column, ForeignKey, String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, col

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import record_read
from aggregator.children.chronology import HubAction
from aggregator.children.models import Child
from aggregator.concerns.vocab import AgencyType
from aggregator.core.purpose import PurposeHeader, purpose_or
from aggregator.core.types import UTCDateTime, new_id, utcnow
from aggregator.principals import HubUser, SessionDep

CORE_AGENCIES = (AgencyType.CHILDRENS_SOCIAL_CARE, AgencyType.HEALTH, AgencyType.POLICE)
PURPOSE = "safeguarding"


class StrategyDiscussion(SQLModel, table=True):
    __tablename__ = "strategy_discussion"

    id: str = SQLField(default_factory=new_id, primary_key=True, max_length=32)
    child_id: str = SQLField(
        sa_column=Column(String(32), ForeignKey("child.id"), nullable=False, index=True)
    )
    held_at: datetime = SQLField(sa_type=UTCDateTime)
    attendees: list[dict[str, Any]] = SQLField(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    reason: str = SQLField(max_length=4000)
    decisions: str = SQLField(max_length=8000)
    actions: list[dict[str, Any]] = SQLField(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    next_review_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    missing_attendee_reason: str | None = SQLField(default=None, max_length=1000)
    author_id: str = SQLField(
        sa_column=Column(String(32), ForeignKey("principal.id"), nullable=False)
    )
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attendee(_Strict):
    agency_type: AgencyType
    name: Short
    role: Short


class Action(_Strict):
    owner: Short
    action: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
    due: date


class StrategyDiscussionIn(_Strict):
    held_at: datetime
    attendees: list[Attendee] = Field(min_length=1, max_length=50)
    reason: Text
    decisions: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=8000)
    ]
    actions: list[Action] = Field(default_factory=list, max_length=100)
    next_review_at: datetime | None = None
    missing_attendee_reason: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
        | None
    ) = None

    @model_validator(mode="after")
    def _core_agencies(self) -> Self:
        for name in ("held_at", "next_review_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a timezone, e.g. 2026-12-01T09:00:00Z")
        present = {a.agency_type for a in self.attendees}
        missing = [a.value for a in CORE_AGENCIES if a not in present]
        if missing and not self.missing_attendee_reason:
            raise ValueError(
                f"no attendee from {', '.join(missing)}: a strategy discussion includes "
                "children's social care, health and police, or says why not in "
                "missing_attendee_reason"
            )
        return self


class StrategyDiscussionOut(StrategyDiscussionIn):
    model_config = ConfigDict(extra="ignore")
    id: str
    child_id: str
    author_id: str
    created_at: datetime


def _out(d: StrategyDiscussion) -> StrategyDiscussionOut:
    return StrategyDiscussionOut.model_construct(
        id=d.id,
        child_id=d.child_id,
        held_at=d.held_at,
        attendees=[Attendee.model_validate(a) for a in d.attendees],
        reason=d.reason,
        decisions=d.decisions,
        actions=[Action.model_validate(a) for a in d.actions],
        next_review_at=d.next_review_at,
        missing_attendee_reason=d.missing_attendee_reason,
        author_id=d.author_id,
        created_at=d.created_at,
    )


router = APIRouter(prefix="/api/v1", tags=["children"])
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing, unknown or revoked token"},
    403: {"description": "Only hub staff and leads"},
    404: {"description": "No such child"},
    422: {"description": "A core agency is missing without a reason, or the body is invalid"},
}


async def _child(session: AsyncSession, child_id: str) -> Child:
    child = await session.get(Child, child_id)
    if child is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    return child


@router.post(
    "/children/{child_id}/strategy-discussions",
    response_model=StrategyDiscussionOut,
    status_code=201,
    responses=_ERRORS,
)
async def add_strategy_discussion(
    child_id: str, body: StrategyDiscussionIn, user: HubUser, session: SessionDep
) -> StrategyDiscussionOut:
    """Record a strategy discussion held about this child."""
    await _child(session, child_id)
    d = StrategyDiscussion(
        child_id=child_id,
        held_at=body.held_at,
        attendees=[a.model_dump(mode="json") for a in body.attendees],
        reason=body.reason,
        decisions=body.decisions,
        actions=[a.model_dump(mode="json") for a in body.actions],
        next_review_at=body.next_review_at,
        missing_attendee_reason=body.missing_attendee_reason,
        author_id=user.id,
    )
    session.add(d)
    await session.flush()
    record(
        session,
        user,
        AuditEntry(
            action="strategy_discussion.create",
            purpose=PURPOSE,
            object_type="strategy_discussion",
            object_id=d.id,
            detail={
                "child_id": child_id,
                "attendees": len(body.attendees),
                "actions": len(body.actions),
                "core_missing": body.missing_attendee_reason is not None,
            },
        ),
    )
    return _out(d)


_OF_CHILD = (
    select(StrategyDiscussion)
    .where(col(StrategyDiscussion.child_id) == bindparam("child_id"))
    .order_by(col(StrategyDiscussion.held_at), col(StrategyDiscussion.id))
    .limit(500)
)


@router.get(
    "/children/{child_id}/strategy-discussions",
    response_model=list[StrategyDiscussionOut],
    responses=_ERRORS,
)
async def list_strategy_discussions(
    child_id: str, user: HubUser, session: SessionDep, purpose: PurposeHeader = None
) -> list[StrategyDiscussionOut]:
    """This child's strategy discussions, oldest first."""
    child = await session.get(Child, child_id)
    record_read(
        session,
        user,
        "strategy_discussion.list",
        "child",
        child_id,
        child is not None,
        purpose_or(purpose, PURPOSE),
    )
    if child is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child")
    rows = (await session.scalars(_OF_CHILD, {"child_id": child_id})).all()
    return [_out(d) for d in rows]


async def strategy_actions_for_child(session: AsyncSession, child_id: str) -> list[HubAction]:
    """The child's strategy discussions as chronology entries."""
    rows = (await session.scalars(_OF_CHILD, {"child_id": child_id})).all()
    out = []
    for d in rows:
        agencies = ", ".join(sorted({str(a["agency_type"]) for a in d.attendees}))
        text = f"{d.reason} Decisions: {d.decisions} (attended: {agencies})"
        if d.actions:
            text += "; actions: " + "; ".join(
                f"{a['owner']}: {a['action']} by {a['due']}" for a in d.actions
            )
        out.append(HubAction(at=d.held_at, action="strategy discussion", text=text))
    return out
