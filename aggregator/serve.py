"""`aggregator serve`: bring the schema up to date, seed the demo, run uvicorn."""

import asyncio
import logging
import os

import uvicorn

from aggregator.core.db import Database
from aggregator.core.migrate import upgrade
from aggregator.core.settings import Settings, get_settings

log = logging.getLogger("aggregator")


def own_base_url(settings: Settings, host: str, port: int) -> str | None:
    """The address links should use when none is configured: where this process serves.

    Why: alert links and the demo's printed addresses must reach this service when it
    runs on another port; a configured `AGGREGATOR_BASE_URL` (a proxy's) always wins."""
    if "base_url" in settings.model_fields_set:
        return None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (comparison)
    return f"http://{shown}:{port}"


def serve(settings: Settings, *, host: str, port: int, demo: bool, workers: int = 1) -> int:
    """SQLite is migrated on start so the quick start needs no extra step; a
    PostgreSQL deployment runs `aggregator db upgrade` as its own release step."""
    if url := own_base_url(settings, host, port):
        os.environ["AGGREGATOR_BASE_URL"] = url  # read again by the served processes
        get_settings.cache_clear()
        settings = settings.model_copy(update={"base_url": url})
    if settings.is_sqlite:
        upgrade(settings)
    if demo:
        from aggregator.demo import print_credentials, seed_demo

        async def _seed() -> None:
            db = Database(settings)
            try:
                creds = await seed_demo(db)
            finally:
                await db.dispose()
            print_credentials(creds, base_url=f"http://{host}:{port}")

        asyncio.run(_seed())
    uvicorn.run(
        "aggregator.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        # Access logs hold URLs only (ids, never names); bodies are never logged.
        log_level="info",
    )
    return 0
