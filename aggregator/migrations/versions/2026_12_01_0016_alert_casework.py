"""alert: assignee, rating, due_at and outcome; strategy_discussion (casework, issue 19)

Who owns an alert, how urgent the hub rated it, when a decision is due in
working time, and what was decided. All nullable: alerts raised before this
have none until someone acts on them. A strategy discussion about a child keeps
its attendees and actions as JSON: they are read with the discussion, never queried.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("assignee", sa.String(200), nullable=True))
        batch.add_column(sa.Column("rating", sa.String(10), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(60), nullable=True))
    op.create_index("ix_alert_due_at", "alert", ["due_at"])
    op.create_table(
        "strategy_discussion",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("child_id", sa.String(32), sa.ForeignKey("child.id"), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(4000), nullable=False),
        sa.Column("decisions", sa.String(8000), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("next_review_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missing_attendee_reason", sa.String(1000), nullable=True),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("principal.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_strategy_discussion_child_id", "strategy_discussion", ["child_id"])


def downgrade() -> None:
    op.drop_index("ix_strategy_discussion_child_id", table_name="strategy_discussion")
    op.drop_table("strategy_discussion")
    op.drop_index("ix_alert_due_at", table_name="alert")
    with op.batch_alter_table("alert") as batch:
        for name in ("outcome", "due_at", "rating", "assignee"):
            batch.drop_column(name)
