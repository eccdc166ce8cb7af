"""alerts: lease terms keyed by epoch, and the children a sweep must retry

The scheduler lease was one row updated in place, so a holder that hung inside a
transaction kept it locked and no other process could take over until the hang
ended. A lease is now a row per term (name, epoch): a takeover inserts the next
term. The old table holds only the current holder, which the next heartbeat
re-creates, so it is dropped rather than converted.

`alert_sweep_retry` lists children whose evaluation failed, so that one child
cannot fail a whole sweep and is still evaluated again by the next one.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("alert_scheduler_lease")
    op.create_table(
        "alert_scheduler_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "epoch", name=op.f("pk_alert_scheduler_lease")),
    )
    op.create_table(
        "alert_sweep_retry",
        sa.Column("child_id", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=80), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("child_id", name=op.f("pk_alert_sweep_retry")),
    )


def downgrade() -> None:
    op.drop_table("alert_sweep_retry")
    op.drop_table("alert_scheduler_lease")
    op.create_table(
        "alert_scheduler_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_scheduler_lease")),
    )
