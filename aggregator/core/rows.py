"""Plain rows and Core inserts for the intake hot path.

Building a SQLModel table instance validates every field and sets up ORM state
(20-65 µs each), and the unit of work flushes it one object at a time; a
submission writes about twenty small rows. The hot path builds them as `Row`s
(dicts with the model's defaults filled in, readable by attribute like the
instance) and inserts each kind with one cached INSERT statement.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar, cast

from pydantic_core import PydanticUndefined
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Insert,
    Table,
    bindparam,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from aggregator.core.driver import Fast

M = TypeVar("M", bound=SQLModel)

_Default = tuple[str, Any, Callable[[], Any] | None]
_defaults: dict[type[SQLModel], list[_Default]] = {}
_inserts: dict[Table, Insert] = {}
_fast_inserts: dict[tuple[Table, tuple[str, ...], tuple[str, ...], bool, int], Fast] = {}


@dataclass(frozen=True)
class Guard:
    """A condition the insert checks in its own statement (say, that the caller's
    token is still live): when it is false nothing is inserted, as on a conflict.

    `condition` is built once (module level) with bind parameters named apart
    from the table's columns, or sharing a column's name to mean its value;
    `params` binds the rest.
    """

    condition: ColumnElement[bool]
    params: Mapping[str, Any] = field(default_factory=dict)


class Row(dict[str, Any]):
    """A row of `table` not yet inserted; `row.name` reads and writes `row["name"]`
    (reads through the properties of its table's class, `_row_class`)."""

    __slots__ = ("table",)

    def __init__(self, table: Table, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.table = table

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "table":
            object.__setattr__(self, name, value)
        else:
            self[name] = value


_row_classes: dict[Table, type[Row]] = {}


def _row_class(table: Table) -> type[Row]:
    """A `Row` class whose columns are properties. A `__getattr__` reading the dict
    ran only after the attribute lookup had failed, and Python builds an
    AttributeError and its message first: ~2,000 instructions a read, ~50 reads a
    submission. Writes go through `Row.__setattr__`."""
    cls = _row_classes.get(table)
    if cls is None:
        columns = {c.name: property(itemgetter(c.name)) for c in table.columns}
        cls = _row_classes[table] = type(f"Row_{table.name}", (Row,), {"__slots__": (), **columns})
    return cls


def _plan(model: type[SQLModel]) -> list[_Default]:
    plan = _defaults.get(model)
    if plan is None:
        plan = []
        table = model.__table__  # type: ignore[attr-defined]
        for column in table.columns:
            info = model.model_fields.get(column.name)
            if column is table.autoincrement_column:
                continue  # the database numbers it
            if info is None or info.default_factory is not None:
                factory = info.default_factory if info is not None else None
                plan.append((column.name, None, factory))  # type: ignore[arg-type]
            else:
                default = None if info.default is PydanticUndefined else info.default
                plan.append((column.name, default, None))
        _defaults[model] = plan
    return plan


def new_row(model: type[M], **values: Any) -> M:
    """A `Row` of `model`'s table with its defaults, typed as the model for readers.

    It is a dict, not an ORM instance: insert it with `insert_all`, never `session.add`.
    Values are not validated here; the API schemas have already checked them.
    """
    full: dict[str, Any] = {}
    for name, default, factory in _plan(model):
        if name in values:
            full[name] = values[name]
        else:
            full[name] = factory() if factory is not None else default
    return cast(M, _row_class(model.__table__)(model.__table__, full))  # type: ignore[attr-defined]


def values(obj: SQLModel) -> dict[str, Any]:
    if isinstance(obj, Row):
        return obj
    table = obj.__table__  # type: ignore[attr-defined]
    return {c.name: getattr(obj, c.name) for c in table.columns}


def _table(obj: SQLModel) -> Table:
    return obj.table if isinstance(obj, Row) else obj.__table__  # type: ignore[attr-defined]


def _insert(table: Table) -> Insert:
    stmt = _inserts.get(table)
    if stmt is None:
        stmt = _inserts[table] = insert(table)
    return stmt


async def insert_all(session: AsyncSession, objs: Sequence[SQLModel]) -> None:
    """Insert rows (or instances) of one table in a single executemany."""
    if objs:
        await session.execute(_insert(_table(objs[0])), [values(o) for o in objs])


def _locks_taken() -> Any:
    """`(SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:locks) AS k)`"""
    keys = func.unnest(bindparam("locks", type_=ARRAY(BigInteger))).alias("k")
    return (
        select(func.count(func.pg_advisory_xact_lock(column("k"))))
        .select_from(keys)
        .scalar_subquery()
    )


def _insert_unless_exists(
    table: Table,
    unique: tuple[str, ...],
    names: tuple[str, ...],
    locking: bool,
    guard: ColumnElement[bool] | None,
) -> Fast:
    key = (table, unique, names, locking, id(guard) if guard is not None else 0)
    fast = _fast_inserts.get(key)
    if fast is None:
        columns = {name: bindparam(name, type_=table.c[name].type) for name in names}

        def build(dialect: Any, *returned: Any) -> Any:
            stmt = dialect.insert(table)
            if guard is None:
                stmt = stmt.values(columns)
            else:
                stmt = stmt.from_select(list(names), select(*columns.values()).where(guard))
            return stmt.on_conflict_do_nothing(index_elements=list(unique)).returning(
                table.primary_key.columns.values()[0], *returned
            )

        # The locks are taken once the row is in; SQLite serialises writers anyway.
        taken = [_locks_taken()] if locking else []
        fast = _fast_inserts[key] = Fast(build(sqlite), pg=build(postgresql, *taken))
    return fast


async def insert_unless_exists(
    session: AsyncSession,
    obj: SQLModel,
    unique: Sequence[str],
    locks: Sequence[int] = (),
    guard: Guard | None = None,
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; False when a row with the same `unique`
    columns exists (or `guard` does not hold). Concurrent inserts wait for each
    other inside the database, so exactly one wins without a savepoint round trip.

    On PostgreSQL an inserted row also takes the transaction-scoped advisory locks
    `locks` in the same statement (in sorted order, so never a deadlock), saving
    the round trip of taking them separately; the next statement reads after them.
    """
    row = values(obj)
    condition = guard.condition if guard is not None else None
    fast = _insert_unless_exists(_table(obj), tuple(unique), tuple(row), bool(locks), condition)
    params = {**guard.params, **row} if guard is not None else row
    return await fast.first(session, **params, locks=sorted(set(locks))) is not None
