"""Insert many rows, skipping those whose unique key exists, as one small statement.

The intake's group commit and the event worker insert hundreds of rows at once. As a
multi-row ``VALUES`` list (SQLAlchemy's "insertmanyvalues") the statement grows with the
batch, and psycopg parses such a statement again on every execution (it caches only short
ones): in a profile of the agent under webhook load that parsing was over a tenth of the
event loop's time. On PostgreSQL the rows go instead as one array per column into a
statement of fixed text::

    INSERT INTO t (a, b) SELECT * FROM unnest(%s::UUID[], %s::JSONB[])
    ON CONFLICT (a) DO NOTHING RETURNING id

SQLite (one local writer, no such parsing cost) keeps SQLAlchemy's executemany.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.types import JSON


def insert_or_skip_many(conn: Connection, table: Table, rows: list[dict[str, Any]],
                        keys: list[str], *, returning: str | None = None) -> list[Any]:
    """Insert ``rows`` (all with the same columns) in the caller's transaction.

    Rows whose ``keys`` are taken are skipped. Returns the ``returning`` column of the rows
    written (empty without ``returning``).
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return _unnest(conn, table, rows, keys, returning)
    stmt: Any = sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    if returning is None:
        conn.execute(stmt, rows)
        return []
    return list(conn.execute(stmt.returning(table.c[returning]), rows).scalars())


_STATEMENTS: dict[tuple[str, tuple[str, ...], tuple[str, ...], str | None], str] = {}


def _unnest(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str],
            returning: str | None) -> list[Any]:
    names = tuple(rows[0])
    cache_key = (table.name, names, tuple(keys), returning)
    sql = _STATEMENTS.get(cache_key)
    if sql is None:
        # Identifiers come from the table's metadata (an unknown name raises KeyError here);
        # every value is bound.
        columns = [table.c[n] for n in (*names, *keys, *([returning] if returning else []))]
        casts = ", ".join(f"%s::{c.type.compile(dialect=conn.dialect)}[]"
                          for c in columns[:len(names)])
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - see above
               f"SELECT * FROM unnest({casts}) ON CONFLICT ({', '.join(keys)}) DO NOTHING"
               + (f" RETURNING {returning}" if returning else ""))
        _STATEMENTS[cache_key] = sql
    json_columns = {n for n in names if isinstance(table.c[n].type, JSON)}
    values = [[Jsonb(row[n]) for row in rows] if n in json_columns
               else [row[n] for row in rows] for n in names]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, values, binary=True)  # no text escaping of bytea arrays
        return [r[0] for r in cursor.fetchall()] if returning else []
    finally:
        cursor.close()
