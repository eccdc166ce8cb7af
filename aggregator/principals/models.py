"""Agencies and people who call the service, and their bearer tokens."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from aggregator.core.types import UTCDateTime, new_id, utcnow


class Principal(SQLModel, table=True):
    """An agency (submits concerns) or a person (reviews them)."""

    __tablename__ = "principal"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=10)  # "agency" | "person"
    name: str = Field(max_length=200, index=True, unique=True)
    agency_type: str | None = Field(default=None, max_length=40)
    role: str | None = Field(default=None, max_length=20)
    password_hash: str | None = Field(default=None, max_length=200)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=32)
    principal_id: str = Field(
        sa_column=Column(String(32), ForeignKey("principal.id"), nullable=False, index=True)
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
