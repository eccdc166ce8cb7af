"""Dashboard sign-in sessions, kept on the server so sign-out really ends them."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from aggregator.core.types import UTCDateTime, utcnow


class WebSession(SQLModel, table=True):
    """One signed-in browser.

    Only the SHA-256 of the cookie's session id is stored: whoever reads the
    table cannot use a row to act as its person. `csrf_token` is the form token
    of this session (the synchronizer pattern); it is worthless without the cookie.
    """

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    principal_id: str = Field(
        sa_column=Column(String(32), ForeignKey("principal.id"), nullable=False, index=True)
    )
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Absolute end of the session, whatever the activity.
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
