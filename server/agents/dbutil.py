"""Insert-or-skip on both databases: the primitive every claim in this package rests on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_or_skip(session: Session, table: Table, values: dict[str, Any],
                   keys: list[str]) -> bool:
    """Insert ``values``; False (nothing written) when a row with the same ``keys`` exists.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then
    skips, so exactly one of several racing agents gets True.
    """
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
