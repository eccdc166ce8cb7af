"""Which failures are an outage (503, retry) and which are bugs (500)."""

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from aggregator.core.unavailable import is_unavailable, message_for


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("gone"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("starting up"),
        asyncpg.exceptions.TooManyConnectionsError("too many"),
        asyncpg.exceptions.QueryCanceledError("statement timeout"),
        asyncpg.InterfaceError("connection is closed"),
        sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("closed")),
        sa_exc.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ],
)
def test_outages(exc: BaseException) -> None:
    assert is_unavailable(exc)


def test_an_adapted_driver_error_is_judged_by_its_cause() -> None:
    class Adapted(Exception):  # what SQLAlchemy's asyncpg adapter raises unwrapped
        pass

    try:
        try:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("gone")
        except Exception as cause:
            raise Adapted("gone") from cause
    except Adapted as exc:
        assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug"),
        ValueError("bad value"),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        sa_exc.ProgrammingError("SELECT", {}, Exception("syntax error")),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError("no such table"),
    ],
)
def test_bugs_and_refusals_are_not_outages(exc: BaseException) -> None:
    assert not is_unavailable(exc)


def test_the_message_names_the_external_ref_where_a_retry_is_safe() -> None:
    assert "same external_ref" in message_for("POST", "/api/v1/concerns", 5)
    assert "same external_ref" in message_for("POST", "/api/v1/sharing-decisions", 5)
    assert "external_ref" not in message_for("GET", "/api/v1/children", 5)


@pytest.mark.parametrize(
    "message", ["no such column: no_such_column", "no such table: x", 'near "SELEC": syntax error']
)
def test_a_sqlite_mistake_is_a_bug_not_an_outage(message: str) -> None:
    """SQLite calls these 'operational' too; retrying them would never help."""
    assert not is_unavailable(
        sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError(message))
    )
    assert not is_unavailable(sqlite3.OperationalError(message))
    assert is_unavailable(sqlite3.OperationalError("attempt to write a readonly database"))
