"""alerts: who holds a claim on an outbox row, so it is settled or released by its owner

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_notification") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_notification") as batch:
        batch.drop_column("claimed_by")
