"""Request and response bodies of the alerts API."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from alerts.casework import Outcome
from alerts.timescales import Rating

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
State = Literal["open", "acknowledged", "resolved"]
Severity = Literal["red", "amber"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(BaseModel):
    concern_ids: list[str]
    agency_ids: list[str]
    window_start: str | None
    window_end: str | None
    why: list[str]


class AlertOut(BaseModel):
    id: str
    rule: str
    child_id: str
    severity: str
    state: str
    version: int
    text: str
    rules_version: str
    evidence: Evidence
    notes: list[dict[str, Any]]
    owner_id: str | None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str | None
    escalation_level: int
    silenced: bool
    link: str
    # Casework (issue 19).
    assignee: str | None = Field(default=None, description="Email of the person who owns it")
    rating: Rating | None = None
    due_at: datetime | None = Field(
        default=None, description="When a decision is due, in working time from its rating"
    )
    overdue: bool = False
    outcome: Outcome | None = None


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    offset: int
    limit: int


class AcknowledgeIn(_Strict):
    version: int | None = Field(
        default=None, description="If given, refused with 409 unless the alert is still at it."
    )


class ResolveIn(_Strict):
    outcome: Outcome = Field(description="What was decided (controlled vocabulary)")
    reason: Reason
    version: int | None = None


NoteText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class AssignIn(_Strict):
    assignee: str = Field(min_length=3, max_length=200, description="A hub or lead's email")
    version: int | None = Field(
        default=None, description="If given, refused with 409 unless the alert is still at it."
    )


class TriageIn(_Strict):
    rating: Rating
    rationale: Reason | None = Field(
        default=None, description="Why; required when the rating changes"
    )
    version: int | None = None


class NoteIn(_Strict):
    text: NoteText
    version: int | None = None


class SilenceIn(_Strict):
    child_id: str | None = Field(default=None, max_length=32)
    rule: str | None = Field(default=None, max_length=60)
    reason: Reason
    expires_at: datetime

    @model_validator(mode="after")
    def _target(self) -> Self:
        if not (self.child_id or self.rule):
            raise ValueError("a silence needs a child_id, a rule, or both")
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a timezone, e.g. 2026-12-01T09:00:00Z")
        return self


class SilenceOut(BaseModel):
    id: str
    child_id: str | None
    rule: str | None
    author_id: str
    reason: str
    created_at: datetime
    expires_at: datetime
    lifted_at: datetime | None


class SubscriptionIn(_Strict):
    channel: Literal["webhook", "email"]
    target: str = Field(min_length=3, max_length=500, description="https URL or email address")
    level: int = Field(
        default=0, ge=0, le=4, description="0: told when alerts open; 1+: told on escalation"
    )

    @model_validator(mode="after")
    def _target_fits_channel(self) -> Self:
        if self.channel == "email":
            self.target = one_email_address(self.target)
        return self


def one_email_address(target: str) -> str:
    """Exactly one address, no display name, list or header break (it becomes `To:`)."""
    if any(ch in target for ch in ",;\r\n<>") or any(ch.isspace() for ch in target):
        raise ValueError("target must be one email address for the email channel")
    try:
        return validate_email(target, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"target must be one valid email address: {exc}") from exc


class SubscriptionOut(BaseModel):
    id: str
    channel: str
    target: str
    level: int
    created_at: datetime
    disabled_at: datetime | None
    secret: str | None = Field(
        default=None, description="Webhook signing secret; shown only when created."
    )


class NotificationOut(BaseModel):
    id: str
    alert_id: str
    subscription_id: str
    event: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = Field(
        description='"delivery failed" or null; why is in the operator log'
    )
    created_at: datetime
    delivered_at: datetime | None
