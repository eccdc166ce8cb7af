"""Rows written together, in one statement on PostgreSQL, when next needed.

Every statement sent to PostgreSQL is a round trip: a socket write and read in
the service and a parse-bind-execute in the server. Once identity resolution
has run, a submission still writes seven kinds of rows (its record, related
people, sharing record, blocking and household keys, review items, audit
events). `defer` queues them on the session; they are written just before the
session's next statement, flush or commit (like the ORM's autoflush), so a
reader in the same transaction always sees them. On PostgreSQL the queue goes
in one statement of data-modifying CTEs, each `INSERT ... SELECT FROM
json_populate_recordset()` of the table's rows as one JSON parameter (`INSERT ...
VALUES` for a table with one row), whose text depends only on which tables have
rows and which have one
(foreign keys are checked at the end of the statement, so order within it does
not matter). Elsewhere (SQLite is in-process) each table gets one executemany.
A statement sent straight to asyncpg (`driver.Fast`) writes the queue first too,
and the request's session writes it through asyncpg just before its commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Table,
    event,
    insert,
    update,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import SQLModel

if TYPE_CHECKING:  # rows -> driver -> deferred: only the type is needed here
    from aggregator.core.rows import Row

_KEY = "deferred_rows"
_TOUCHED = "deferred_touched"
_statements: dict[tuple[object, ...], tuple[str, list[bool]]] = {}


@dataclass(frozen=True)
class Touch:
    """An UPDATE of one row by id, queued with the rows and written in their
    statement (a round trip less): `values` are set unless `unless_set` is not NULL
    (a child merged away meanwhile). `touched` says afterwards whether it was."""

    table: Table
    id: str
    values: Mapping[str, Any]
    unless_set: str


def defer(session: Any, rows: Sequence[SQLModel | Touch]) -> None:
    """Queue `Row`s (see `rows.new_row`) and `Touch`es on the session (async or sync)."""
    if rows:
        session.info.setdefault(_KEY, []).extend(rows)


def touched(session: Any, row_id: str) -> bool:
    """Whether a queued `Touch` of `row_id` has been written and found its row."""
    return row_id in session.info.get(_TOUCHED, ())


def note_touched(session: Any, row_ids: Sequence[str] | None) -> None:
    """Record which touches the write found (the ids its statement returned)."""
    session.info.setdefault(_TOUCHED, set()).update(row_ids or ())


def pending(session: Any) -> bool:
    """Whether rows are queued on the session."""
    return bool(session.info.get(_KEY))


def discard(session: Any) -> None:
    """Forget queued rows and what touches found (their transaction rolled back)."""
    session.info.pop(_KEY, None)
    session.info.pop(_TOUCHED, None)


def _pg_type(column: Any) -> tuple[str, str]:
    """(array element type to bind, cast applied to each element when selected)."""
    kind = column.type
    impl = getattr(kind, "impl", kind)
    if isinstance(kind, JSON):
        return "text", "::json"
    if isinstance(impl, DateTime):
        return "timestamptz", ""
    if isinstance(impl, Date):
        return "date", ""
    if isinstance(impl, Boolean):
        return "boolean", ""
    if isinstance(impl, Float):
        return "float8", ""
    if isinstance(impl, Integer):
        return "int8", ""
    return "text", ""


def _scalar_param(column: Any, n: int, encode: list[bool]) -> str:
    """Parameter `$n` typed for `column`; notes in `encode` whether it carries JSON."""
    element, cast = _pg_type(column)
    encode.append(isinstance(column.type, JSON))
    return f"${n}::{element}{cast}"


def _pg_statement(
    tables: list[Table],
    columns: list[tuple[str, ...]],
    single: list[bool],
    touches: Sequence[Touch] = (),
) -> tuple[str, list[bool]]:
    """The statement for these tables and columns, and which of its parameters
    (in order) carry JSON to encode; built once per shape. A table with one row
    takes one scalar parameter per column; a table with several takes its rows as
    one JSON array of objects: asyncpg checks each array and each element it
    encodes (two `isinstance` checks against ABCs per element, ~5% of the
    intake's instructions when every column was an array)."""
    key = (
        *((t.name, one, *cols) for t, cols, one in zip(tables, columns, single, strict=True)),
        *((t.table.name, t.unless_set, *t.values) for t in touches),
    )
    found = _statements.get(key)
    if found is None:
        parts = []
        encode: list[bool] = []
        n = 0
        for i, (table, cols, one) in enumerate(zip(tables, columns, single, strict=True)):
            names = ", ".join(f'"{c}"' for c in cols)
            # Table and column names come from our own metadata, values are bound.
            if one:
                params = []
                for name in cols:
                    n += 1
                    params.append(_scalar_param(table.c[name], n, encode))
                rows = f"VALUES ({', '.join(params)})"
            else:
                encode.append(False)  # encoded whole, by `_json_rows`
                n += 1
                rows = (
                    f'SELECT {names} FROM json_populate_recordset(NULL::"{table.name}", '  # noqa: S608
                    f"${n}::json)"
                )
            parts.append(f'w{i} AS (INSERT INTO "{table.name}" ({names}) {rows})')
        found_ids = []
        for i, touch in enumerate(touches):
            sets = []
            for name in touch.values:
                n += 1
                sets.append(f'"{name}" = {_scalar_param(touch.table.c[name], n, encode)}')
            encode.append(False)
            n += 1
            key_column = touch.table.primary_key.columns.values()[0].name
            parts.append(
                f't{i} AS (UPDATE "{touch.table.name}" SET {", ".join(sets)} '  # noqa: S608
                f'WHERE "{key_column}" = ${n}::text AND "{touch.unless_set}" IS NULL '
                f'RETURNING "{key_column}" AS id)'
            )
            found_ids.append(f"SELECT id FROM t{i}")  # noqa: S608
        ids = " UNION ALL ".join(found_ids) if found_ids else "SELECT NULL::text WHERE false"
        found = _statements[key] = ("WITH " + ", ".join(parts) + f" SELECT ARRAY({ids})", encode)
    return found


def _json(value: Any) -> Any:
    """JSON text of a value, as asyncpg takes a JSON column (pydantic-core's encoder:
    json.dumps with options builds a new encoder per call, ~5x slower here)."""
    return None if value is None else to_json(value, fallback=str).decode()


def _json_rows(rows: list[Row]) -> str:
    """Rows as a JSON array of objects, as `json_populate_recordset` reads them:
    timestamps and dates in ISO 8601, JSON columns nested."""
    # As plain dicts: pydantic-core infers a dict subclass (`Row`) slowly.
    return to_json([dict(row) for row in rows], fallback=str).decode()


def _by_table(rows: list[Row]) -> dict[Table, list[Row]]:
    by_table: dict[Table, list[Row]] = {}
    for row in rows:
        by_table.setdefault(row.table, []).append(row)
    return by_table


def take_for_postgresql(session: Any) -> tuple[str, list[Any]] | None:
    """Unqueue the session's rows as one PostgreSQL statement (positional `$n`
    parameters: one JSON document per table with several rows, one value per column
    where a table has one row, then the touches' values) and its arguments; None if
    nothing is queued."""
    queued: list[Row | Touch] | None = session.info.pop(_KEY, None)
    if not queued:
        return None
    rows, touches = _split(queued)
    by_table = _by_table(rows)
    tables = list(by_table)
    columns = [tuple(by_table[t][0]) for t in tables]
    single = [len(by_table[t]) == 1 for t in tables]
    statement, encode = _pg_statement(tables, columns, single, touches)
    args: list[Any] = []
    for table, cols, one in zip(tables, columns, single, strict=True):
        group = by_table[table]
        if not one:
            args.append(_json_rows(group))
            continue
        row = group[0]
        for name in cols:
            args.append(_json(row[name]) if encode[len(args)] else row[name])
    for touch in touches:
        for value in touch.values.values():
            args.append(_json(value) if encode[len(args)] else value)
        args.append(touch.id)
    return statement, args


def _split(queued: list[Any]) -> tuple[list[Row], list[Touch]]:
    touches = [item for item in queued if isinstance(item, Touch)]
    rows = [item for item in queued if not isinstance(item, Touch)] if touches else queued
    return rows, touches


def write_queued(session: Session) -> None:
    """Write the queued rows now, through SQLAlchemy (a sync session)."""
    if session.get_bind().dialect.name == "postgresql":
        queued = take_for_postgresql(session)
        if queued is not None:
            ids = session.connection().exec_driver_sql(queued[0], tuple(queued[1])).scalar()
            note_touched(session, ids)
        return
    rows, touches = _split(session.info.pop(_KEY, None) or [])
    for table, group in _by_table(rows).items():
        session.execute(insert(table), group)
    for touch in touches:
        key = touch.table.primary_key.columns.values()[0]
        found = session.execute(
            update(touch.table)
            .where(key == touch.id, touch.table.c[touch.unless_set].is_(None))
            .values(dict(touch.values))
            .returning(key)
        ).scalar()
        note_touched(session, [found] if found is not None else [])


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    write_queued(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, *_: object) -> None:
    write_queued(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_queued(session)
