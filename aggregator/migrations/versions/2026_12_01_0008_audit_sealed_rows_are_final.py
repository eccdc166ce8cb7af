"""audit_event: a sealed event cannot be updated or deleted

The chain makes tampering evident; this makes the commonest tampering impossible
for the service's own role. A trigger refuses UPDATE and DELETE of a row whose
`seq` is set; the sealer's one UPDATE of an unsealed row (setting seq, prev_hash
and hash) still passes. TRUNCATE fires no row trigger and a statement trigger
would also stop the test suite's cleanup: it is refused by privileges instead
(deploy/postgres-roles.sql), as are DROP TRIGGER and ALTER TABLE, which only the
owner role that runs migrations may do.

SQLite has no roles: whoever can write the file can drop the trigger, so there
it guards against the application's own mistakes and SQL that reaches the
database through it, not against the file's owner. The anchor file covers that.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_FUNCTION = """
CREATE FUNCTION audit_event_sealed_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq IS NOT NULL THEN
        RAISE EXCEPTION 'audit event % is sealed (seq %): it cannot be changed or deleted',
            OLD.id, OLD.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER audit_event_sealed_is_final BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_sealed_is_final()"
)
_SQLITE_TRIGGERS = {
    "audit_event_sealed_no_update": (
        "CREATE TRIGGER audit_event_sealed_no_update BEFORE UPDATE ON audit_event "
        "FOR EACH ROW WHEN OLD.seq IS NOT NULL BEGIN "
        "SELECT RAISE(ABORT, 'audit event is sealed: it cannot be changed'); END"
    ),
    "audit_event_sealed_no_delete": (
        "CREATE TRIGGER audit_event_sealed_no_delete BEFORE DELETE ON audit_event "
        "FOR EACH ROW WHEN OLD.seq IS NOT NULL BEGIN "
        "SELECT RAISE(ABORT, 'audit event is sealed: it cannot be deleted'); END"
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for ddl in _SQLITE_TRIGGERS.values():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_sealed_is_final ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_sealed_is_final()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
