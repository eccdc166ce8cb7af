"""Tables for concerns, the child identity each one carries, and its sharing record."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from aggregator.core.types import UTCDateTime, new_id, utcnow


def _fk(target: str, *, nullable: bool = False, index: bool = True, unique: bool = False) -> Any:
    return Field(
        sa_column=Column(
            String(32), ForeignKey(target), nullable=nullable, index=index, unique=unique
        )
    )


class Concern(SQLModel, table=True):
    """One low-level worry, as one agency shared it."""

    __tablename__ = "concern"
    __table_args__ = (UniqueConstraint("agency_id", "external_ref"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agency_id: str = _fk("principal.id", index=False)
    external_ref: str = Field(max_length=100)
    # SHA-256 of the canonical body: a retry with the same body is the same concern.
    body_hash: str = Field(max_length=64)
    category: str = Field(max_length=30, index=True)
    severity: int
    observed_at: date = Field(index=True)
    summary: str = Field(max_length=2000)
    outcome: str = Field(default="open", max_length=30)
    practitioner_name: str | None = Field(default=None, max_length=200)
    practitioner_role: str | None = Field(default=None, max_length=200)
    practitioner_email: str | None = Field(default=None, max_length=254)
    practitioner_phone: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ChildRecord(SQLModel, table=True):
    """The child as the submitting agency wrote them, kept verbatim for matching."""

    __tablename__ = "child_record"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    concern_id: str = _fk("concern.id", unique=True)
    agency_id: str = _fk("principal.id", index=False)
    given_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    other_names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    date_of_birth: str | None = Field(default=None, max_length=10)
    sex: str | None = Field(default=None, max_length=10)
    # Not indexed: identifiers match through blocking keys (migration 0007).
    nhs_number: str | None = Field(default=None, max_length=10)
    # Why the agency gave no NHS number (vocab.NhsNumberMissingReason), if it said.
    nhs_number_missing_reason: str | None = Field(default=None, max_length=30)
    upn: str | None = Field(default=None, max_length=13)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    town: str | None = Field(default=None, max_length=100)
    postcode: str | None = Field(default=None, max_length=8)
    status: str | None = Field(default=None, max_length=30)
    independently_mobile: bool | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Identity resolution (aggregator.children): which child this record is of,
    # and how the record got there, for the hub (never shown to the agency).
    child_id: str | None = _fk("child.id", nullable=True)
    link_outcome: str | None = Field(default=None, max_length=12)
    link_probability: float | None = None


class RelatedPerson(SQLModel, table=True):
    """A parent, carer or other adult named with the child."""

    __tablename__ = "related_person"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    child_record_id: str = _fk("child_record.id")
    position: int = 0
    relationship: str = Field(max_length=30)
    given_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    date_of_birth: str | None = Field(default=None, max_length=10)


class SharingRecord(SQLModel, table=True):
    """Golden rules 4 and 7: the basis, consent and purpose of each share."""

    __tablename__ = "sharing_record"

    concern_id: str = Field(
        sa_column=Column(String(32), ForeignKey("concern.id"), primary_key=True)
    )
    agency_id: str = _fk("principal.id")
    lawful_basis: str = Field(max_length=30)
    condition: str = Field(max_length=30)
    consent: str = Field(max_length=20)
    consent_reason: str | None = Field(default=None, max_length=1000)
    family_informed: bool
    not_informed_reason: str | None = Field(default=None, max_length=1000)
    protect_reporter_identity: bool = False
    purpose: str = Field(max_length=30)
    shared_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SharingDecision(SQLModel, table=True):
    """Golden rule 7: a decision not to share here, kept without personal data."""

    __tablename__ = "sharing_decision"
    __table_args__ = (UniqueConstraint("agency_id", "external_ref"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agency_id: str = _fk("principal.id", index=False)
    external_ref: str = Field(max_length=100)
    body_hash: str = Field(max_length=64)
    decision: str = Field(max_length=30)
    reason: str = Field(max_length=2000)
    purpose: str = Field(max_length=30)
    shared_with: str | None = Field(default=None, max_length=200)
    decided_at: date
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
