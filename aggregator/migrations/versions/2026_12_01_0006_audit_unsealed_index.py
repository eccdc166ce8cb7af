"""audit: a partial index of the events still to seal

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_event_unsealed",
        "audit_event",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_event_unsealed", table_name="audit_event")
