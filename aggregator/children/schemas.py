"""Response and request bodies of the hub's identity, review and picture endpoints."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AgencyRef(BaseModel):
    id: str
    name: str
    type: str | None


class Variant(BaseModel):
    """One way a field was written, and by whom."""

    value: str
    agencies: list[str]
    first_seen: datetime
    last_seen: datetime
    count: int


class Identity(BaseModel):
    given_name: str | None
    family_name: str | None
    date_of_birth: str | None
    sex: str | None
    nhs_number: str | None
    upn: str | None
    address: str | None
    postcode: str | None
    status: str | None
    independently_mobile: bool | None
    # Why no agency gave the NHS number (set only while none has).
    nhs_number_missing_reason: str | None = None


class PractitionerOut(BaseModel):
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    withheld: bool = False


class SharingOut(BaseModel):
    lawful_basis: str
    condition: str
    consent: str
    consent_reason: str | None
    family_informed: bool
    not_informed_reason: str | None
    purpose: str
    shared_at: datetime


class TimelineEntry(BaseModel):
    concern_id: str
    date: date
    received_at: datetime
    agency: AgencyRef
    category: str
    cin_code: str
    severity: int
    summary: str
    outcome: str
    practitioner: PractitionerOut
    sharing: SharingOut


class AgencyInvolved(BaseModel):
    agency: AgencyRef
    concerns: int
    first_raised: date
    last_raised: date
    categories: list[str]


class HouseholdMember(BaseModel):
    child_id: str
    name: str
    date_of_birth: str | None
    via: list[str] = Field(description="the shared addresses or adults that connect them")
    concern_count: int
    categories: list[str]


class HouseholdAdult(BaseModel):
    relationship: str
    name: str
    named_by: list[str]


class Household(BaseModel):
    members: list[HouseholdMember]
    adults: list[HouseholdAdult]
    addresses: list[str]


class Graph(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class Picture(BaseModel):
    child_id: str
    requested_id: str
    provisional: bool
    identity: Identity
    variants: dict[str, list[Variant]]
    timeline: list[TimelineEntry]
    agencies: list[AgencyInvolved]
    household: Household
    alerts: list[dict[str, Any]]
    open_review_items: int
    graph: Graph


class ChildSummary(BaseModel):
    child_id: str
    name: str
    date_of_birth: str | None
    postcode: str | None
    agencies: int
    concerns: int
    concerns_last_90_days: int
    last_concern: date
    categories: list[str]
    provisional: bool


class ChildPage(BaseModel):
    items: list[ChildSummary]
    total: int
    offset: int
    limit: int


class RecordSide(BaseModel):
    record_id: str
    child_id: str | None
    agency: AgencyRef
    received_at: datetime
    given_name: str | None
    family_name: str | None
    other_names: list[str]
    date_of_birth: str | None
    sex: str | None
    nhs_number: str | None
    upn: str | None
    address_line1: str | None
    town: str | None
    postcode: str | None


class ReviewItemOut(BaseModel):
    id: str
    state: str
    created_at: datetime
    probability: float
    weight: float
    explanation: list[str]
    contributions: list[dict[str, Any]]
    record: RecordSide
    candidate: RecordSide
    decision: str | None = None
    note: str | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["same_child", "different_children"]
    note: str | None = Field(default=None, max_length=2000)


class DecisionOut(BaseModel):
    review_item: str
    decision: str
    child_id: str


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_ids: list[str] = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    child_id: str = Field(description="the other child, judged to be the same")
    note: str | None = Field(default=None, max_length=2000)


class ChildChange(BaseModel):
    child_id: str
    record_ids: list[str]
