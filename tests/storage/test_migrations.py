"""Migrations build the whole schema from empty, on both backends."""

from sqlalchemy import inspect

from aggregator.core.db import Database
from aggregator.core.types import metadata


async def test_migrated_schema_has_every_table_column_and_index(db: Database) -> None:
    def tables(conn: object) -> dict[str, set[str]]:
        insp = inspect(conn)
        return {
            t: {c["name"] for c in insp.get_columns(t)}
            # (PostgreSQL lists a unique constraint's own index too)
            | {
                f"index {i['name']}"
                for i in insp.get_indexes(t)
                if "duplicates_constraint" not in i
            }
            | {f"fk {tuple(k['constrained_columns'])}" for k in insp.get_foreign_keys(t)}
            for t in insp.get_table_names()
        }

    async with db.engine.connect() as conn:
        found = await conn.run_sync(tables)
    assert "alembic_version" in found
    for table in metadata.sorted_tables:
        assert table.name in found, f"{table.name} has no migration"
        wanted = (
            {c.name for c in table.columns}
            | {f"index {i.name}" for i in table.indexes}
            | {f"fk {tuple(c.name for c in k.columns)}" for k in table.foreign_key_constraints}
        )
        missing = wanted - found[table.name]
        assert not missing, f"{table.name} lacks {missing} in the migrations"
        extra = {x for x in found[table.name] - wanted if x.startswith(("index", "fk"))}
        assert not extra, f"the migrations give {table.name} {extra}, the models do not"


def test_history_is_one_line() -> None:
    """One head: every deployment applies the same migrations in the same order."""
    from alembic.script import ScriptDirectory

    from aggregator.core.migrate import alembic_config
    from aggregator.core.settings import Settings

    script = ScriptDirectory.from_config(alembic_config(Settings()))
    assert len(script.get_heads()) == 1
