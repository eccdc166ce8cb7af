"""The append-only audit trail, chained by a sealer after commit."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from aggregator.core.types import BigIntId, UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when, why, and how it ended.

    `seq`, `prev_hash` and `hash` are empty until the sealer chains the event, so
    writers never wait on one another for the chain.
    """

    __tablename__ = "audit_event"
    # The sealer's queue: only unsealed events, in id order. Without it, finding them
    # walked the seq index's NULL entries, one per event ever sealed until a vacuum.
    __table_args__ = (
        Index(
            "ix_audit_event_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    principal_id: str | None = Field(default=None, max_length=32, index=True)
    principal_name: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=60, index=True)
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=64, index=True)
    purpose: str = Field(max_length=60)
    outcome: str = Field(max_length=30)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seq: int | None = Field(default=None, unique=True)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
