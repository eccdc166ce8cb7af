"""Children as the hub knows them, and the evidence that ties records to them."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from aggregator.core.types import UTCDateTime, new_id, utcnow


class Child(SQLModel, table=True):
    """One real child, as far as the evidence and the hub's decisions say.

    `merged_into` keeps an old id resolvable after a merge; `provisional` marks a
    child created while a possible match waits for a person.
    """

    __tablename__ = "child"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Bumped whenever records or concerns of the child change: alert sweeps and
    # caches use it to find what is new.
    touched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    provisional: bool = False
    merged_into: str | None = Field(
        default=None, sa_column=Column(String(32), ForeignKey("child.id"), nullable=True)
    )


class BlockingKey(SQLModel, table=True):
    """Candidate retrieval: records sharing any key are compared, nothing else is."""

    __tablename__ = "blocking_key"

    key: str = Field(primary_key=True, max_length=80)
    # No foreign key: the keys index their record, written in its statement (a
    # check per key was ~5% of PostgreSQL's work per submission; migration 0007).
    child_record_id: str = Field(sa_column=Column(String(32), primary_key=True, index=True))


class HouseholdKey(SQLModel, table=True):
    """Shared address or shared related adult: how siblings and households are found."""

    __tablename__ = "household_key"

    key: str = Field(primary_key=True, max_length=120)
    child_record_id: str = Field(  # no foreign key, as `BlockingKey`
        sa_column=Column(String(32), primary_key=True, index=True)
    )
    kind: str = Field(max_length=10)  # "address" | "adult"
    label: str = Field(max_length=300)


class ReviewItem(SQLModel, table=True):
    """A possible match the algorithm was not sure of, waiting for a person."""

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_item_state_created", "state", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(
        sa_column=Column(String(32), ForeignKey("child_record.id"), nullable=False, index=True)
    )
    candidate_record_id: str = Field(
        sa_column=Column(String(32), ForeignKey("child_record.id"), nullable=False, index=True)
    )
    probability: float
    weight: float
    contributions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    state: str = Field(default="open", max_length=12)  # open | decided | superseded
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decision: str | None = Field(default=None, max_length=20)
    note: str | None = Field(default=None, max_length=2000)
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PairDecision(SQLModel, table=True):
    """A person's ruling on two records; it outranks any score, until a later ruling."""

    __tablename__ = "pair_decision"
    __table_args__ = (UniqueConstraint("record_a", "record_b"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_a: str = Field(
        sa_column=Column(String(32), ForeignKey("child_record.id"), nullable=False, index=True)
    )
    record_b: str = Field(
        sa_column=Column(String(32), ForeignKey("child_record.id"), nullable=False, index=True)
    )
    decision: str = Field(max_length=20)  # same_child | different_children
    decided_by: str = Field(max_length=32)
    note: str | None = Field(default=None, max_length=2000)
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
