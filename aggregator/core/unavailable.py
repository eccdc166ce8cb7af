"""A database that cannot be reached answers 503 with `Retry-After`, never 500.

When the connection fails at commit, the commit may or may not have happened: a
500 "nothing was stored" would be a guess, and a client could not tell it from a
bug. Every write that matters is idempotent (a concern or sharing decision is
stored once per `external_ref`), so the honest answer is "unavailable, retry the
same request". The test is on the exception's type only; its text (which can hold
submitted values, or SQL parameters) is never logged nor answered.
"""

import logging
import sqlite3
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from aggregator.core.db import Database

log = logging.getLogger("aggregator")

# Failures of the connection or the server, not of the statement: asyncpg's own
# (the intake's statements go to asyncpg directly, unwrapped) and SQLAlchemy's.
_DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError too
    asyncpg.PostgresConnectionError,  # class 08: the connection does not exist, failed
    asyncpg.InterfaceError,  # "connection is closed" and the like, client side
    # A connection whose server process was terminated while it sat in the pool
    # fails its next statement with "cannot switch to state ...": it is dead too.
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,  # 57: admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    sqlite3.OperationalError,  # locked past the busy timeout, read-only, I/O error
)
_SA_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection free in time
)

#: Where a retry of the same request is safe because the body carries its own key.
IDEMPOTENT_PATHS = frozenset({"/api/v1/concerns", "/api/v1/sharing-decisions"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached or used, not a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlite_error = current.orig if isinstance(current, sa_exc.DBAPIError) else current
        if isinstance(sqlite_error, sqlite3.OperationalError) and not (
            isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated
        ):
            # SQLite says "operational" of a missing column too: only these are outages.
            return _sqlite_outage(sqlite_error)
        if isinstance(current, _DRIVER_UNAVAILABLE + _SA_UNAVAILABLE):
            return True
        if isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            orig = current.orig
            current = orig if isinstance(orig, BaseException) else current.__cause__
            continue
        # SQLAlchemy's asyncpg adapter raises its own class from the driver's error.
        current = current.__cause__
    return False


_SQLITE_OUTAGES = (
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "readonly",
    "read-only",
    "is full",
)


def _sqlite_outage(error: sqlite3.OperationalError) -> bool:
    """A locked, unreadable, read-only or full database file; not an SQL mistake."""
    text = str(error).lower()
    return any(phrase in text for phrase in _SQLITE_OUTAGES)


def message_for(method: str, path: str, retry_after: int) -> str:
    """What to do now; after a write, that the same request may be sent again."""
    if method == "POST" and path in IDEMPOTENT_PATHS:
        return (
            "The database is unavailable, so this submission may or may not have been "
            f"stored. Retry in {retry_after} seconds with the same external_ref and body: "
            "a retry never stores it twice (201 if it was not stored, 200 if it was)."
        )
    return f"The database is unavailable. Retry in {retry_after} seconds."


PageRenderer = Callable[[Request, str], Awaitable[Response]]


def add_unavailable_handlers(app: FastAPI, db: Database, page: PageRenderer) -> None:
    """503 for every route: JSON under /api, `page` (the dashboard's error page) elsewhere.

    Registered for the root classes that can carry an outage, the DBAPI's own
    `Error` among them (SQLAlchemy's asyncpg adapter raises its classes unwrapped
    where the intake drives the connection itself); an exception of those classes
    that is not an outage (an integrity error, say) is raised on unchanged, to the
    app's handler of unexpected errors.
    """
    retry_after = db.settings.database_retry_after_seconds

    async def unavailable(request: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            raise exc
        route = getattr(request.scope.get("route"), "path", "?")  # the template, not the URL
        log.warning(
            "database unavailable (%s) on %s %s: answered 503",
            type(exc).__name__,
            request.method,
            route,
        )
        message = message_for(request.method, request.url.path, retry_after)
        headers = {"Retry-After": str(retry_after), "Cache-Control": "no-store"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=503, headers=headers)
        response = await page(request, message)
        response.headers.update(headers)
        return response

    roots: list[type[Exception]] = [
        OSError,
        sa_exc.SQLAlchemyError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        sqlite3.Error,
    ]
    dbapi_error = getattr(db.engine.dialect.dbapi, "Error", None)
    if isinstance(dbapi_error, type) and issubclass(dbapi_error, Exception):
        roots.append(dbapi_error)
    for root in roots:
        app.add_exception_handler(root, unavailable)
