"""Making a database unreachable for a while, and reachable again, for outage tests.

PostgreSQL is shared by everything on the machine, so it is never stopped: the
service under test reaches it through a TCP proxy that can drop every connection
and refuse new ones (`TcpProxy.down`). SQLite is made unusable by another
connection holding its write lock while the service's busy timeout is short.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import event

from aggregator.core.db import Database
from tests.conftest import settings_for


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `down()` is an outage, `up()` the end of it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed server would."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})


@contextlib.asynccontextmanager
async def proxied(db: Database, **settings: Any) -> AsyncIterator[tuple[Database, TcpProxy]]:
    """A second Database for the same PostgreSQL database, through a `TcpProxy`."""
    url = urlsplit(db.settings.database_url)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432)
    await proxy.up()
    netloc = f"{url.username}@127.0.0.1:{proxy.port}" if url.username else f"127.0.0.1:{proxy.port}"
    through = Database(settings_for(urlunsplit(url._replace(netloc=netloc)), **settings))
    try:
        yield through, proxy
    finally:
        await through.dispose()
        await proxy.down()


@contextlib.asynccontextmanager
async def impatient_sqlite(db: Database, **settings: Any) -> AsyncIterator[Database]:
    """A second Database for the same SQLite file whose writers wait 200 ms, not 30 s."""
    other = Database(settings_for(db.settings.database_url, **settings))

    @event.listens_for(other.engine.sync_engine, "connect")
    def _short_wait(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=200")
        cursor.close()

    try:
        yield other
    finally:
        await other.dispose()


@contextlib.contextmanager
def sqlite_write_locked(db: Database) -> Any:
    """Another process's connection holding the write lock: writers time out meanwhile."""
    path = db.settings.database_url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


Outage = Any  # an async context manager factory: inside it, the database is unusable


@contextlib.asynccontextmanager
async def service_database(db: Database, **settings: Any) -> AsyncIterator[tuple[Database, Outage]]:
    """A Database for the service under test on `db`'s data, and a way to take it away."""
    if db.dialect == "postgresql":
        async with proxied(db, **settings) as (through, proxy):

            @contextlib.asynccontextmanager
            async def pg_outage() -> AsyncIterator[None]:
                await proxy.down()
                try:
                    yield
                finally:
                    await proxy.up()

            yield through, pg_outage
        return
    async with impatient_sqlite(db, **settings) as other:

        @contextlib.asynccontextmanager
        async def sqlite_outage() -> AsyncIterator[None]:
            with sqlite_write_locked(db):
                yield

        yield other, sqlite_outage
