"""records: drop two unused indexes and the key tables' foreign keys

Every submission writes a child record and about ten blocking and household keys.
No query looks a record up by NHS number or UPN (identifiers match through their
blocking keys), so those two indexes only cost each insert an entry. The keys are
an index of their record, written in the same statement as it (and rebuilt from
the records by `aggregator reindex`); checking each key's foreign key cost a
query per key (~5% of PostgreSQL's work per submission). Nothing deletes records.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_TABLES = ("blocking_key", "household_key")


def upgrade() -> None:
    op.drop_index("ix_child_record_nhs_number", table_name="child_record")
    op.drop_index("ix_child_record_upn", table_name="child_record")
    for table in _KEY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_child_record_id_child_record", type_="foreignkey")


def downgrade() -> None:
    for table in _KEY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_child_record_id_child_record",
                "child_record",
                ["child_record_id"],
                ["id"],
            )
    op.create_index("ix_child_record_upn", "child_record", ["upn"])
    op.create_index("ix_child_record_nhs_number", "child_record", ["nhs_number"])
