"""linkage at scale: shared term frequencies, relink progress

`match_frequency` holds how many stored records carry each normalised given name,
family name and postcode (and how many children are known), shared by every process
(`aggregator.children.frequencies`); `relink_run` keeps the progress of
`aggregator matching relink` so an interrupted run resumes. Existing deployments
fill the counts with `aggregator matching relink` (which recounts first).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "match_frequency",
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("count", _BIG, nullable=False),
        sa.PrimaryKeyConstraint("field", "value", name=op.f("pk_match_frequency")),
    )
    op.create_table(
        "relink_run",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("after_record", sa.String(length=32), nullable=False),
        sa.Column("records_done", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("split", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relink_run")),
    )


def downgrade() -> None:
    op.drop_table("relink_run")
    op.drop_table("match_frequency")
