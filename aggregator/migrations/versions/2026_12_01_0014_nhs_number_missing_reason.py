"""child_record: why an agency gave no NHS number (issue 17)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites no row.
    op.add_column(
        "child_record", sa.Column("nhs_number_missing_reason", sa.String(30), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("child_record") as batch:
        batch.drop_column("nhs_number_missing_reason")
