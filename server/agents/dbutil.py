"""Insert-or-skip on both databases: the primitive every claim in this package rests on."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def insert_or_skip(session: Session, table: Table, values: dict[str, Any],
                   keys: list[str]) -> bool:
    """Insert ``values``; False (nothing written) when a row with the same ``keys`` exists.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then
    skips, so exactly one of several racing agents gets True.
    """
    stmt = _statement(session.get_bind().dialect.name, table, tuple(values), tuple(keys))
    result = session.execute(stmt, {f"v_{name}": value for name, value in values.items()})
    return bool(getattr(result, "rowcount", 0))


@functools.cache
def _statement(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]
               ) -> Insert:
    """The statement for one shape of row, built once: built anew for each call (a claim's
    slot, every event, every alert) its cache key was computed from every value each time.
    The values are bound at execution."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table).values(
        {name: bindparam(f"v_{name}") for name in columns}
    ).on_conflict_do_nothing(index_elements=list(keys))
    return stmt
