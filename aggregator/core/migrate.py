"""Running Alembic from code, so `aggregator db upgrade` needs no alembic.ini."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from aggregator.core.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Bring the schema up to date (every head: domains add migrations independently)."""
    command.upgrade(alembic_config(settings), revision)


def pending_heads(settings: Settings) -> set[str]:
    """The migration heads the database has not reached (empty when up to date).

    Why: a command run against a database that is behind would otherwise die on
    SQLAlchemy's "no such table" with a traceback instead of saying what to run."""
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
    return asyncio.run(_pending_heads_async(settings, heads))


async def _pending_heads_async(settings: Settings, heads: set[str]) -> set[str]:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )
    finally:
        await engine.dispose()
    return heads - current


async def upgrade_async(settings: Settings, revision: str = "heads") -> None:
    """Alembic's env runs its own event loop, so run it in a worker thread."""
    await asyncio.to_thread(upgrade, settings, revision)
