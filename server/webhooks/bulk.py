"""Insert many rows, skipping those whose unique key exists, as one small statement.

The intake's group commit and the event worker insert hundreds of rows at once. As a
multi-row ``VALUES`` list (SQLAlchemy's "insertmanyvalues") the statement grows with the
batch, and psycopg parses such a statement again on every execution (it caches only short
ones): in a profile of the agent under webhook load that parsing was over a tenth of the
event loop's time. Sent instead as one array per column (``unnest``), psycopg's Python array
dumper called once per value was a quarter of the intake's time under the GIL. On PostgreSQL
the batch therefore goes as one JSON document, encoded by orjson in C, into a statement of
fixed text that PostgreSQL turns back into rows of the table's own types::

    INSERT INTO t (a, b) SELECT a, b FROM json_populate_recordset(NULL::t, %s::json)
    ON CONFLICT (a) DO NOTHING RETURNING id

Binary columns travel as ``\\x`` hex text (bytea's input format). SQLite (one local writer, no
such parsing cost) keeps SQLAlchemy's executemany.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import orjson
from sqlalchemy import LargeBinary, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection


def insert_or_skip_many(conn: Connection, table: Table, rows: list[dict[str, Any]],
                        keys: list[str], *, returning: str | None = None) -> list[Any]:
    """Insert ``rows`` (all with the same columns) in the caller's transaction.

    Rows whose ``keys`` are taken are skipped (no ``keys``: none is). Returns the
    ``returning`` column of the rows written (empty without ``returning``). Column defaults
    of the model are not applied: give every column the row needs.
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return _from_json(conn, table, rows, keys, returning)
    stmt: Any = sqlite.insert(table)
    if keys:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    if returning is None:
        conn.execute(stmt, rows)
        return []
    return list(conn.execute(stmt.returning(table.c[returning]), rows).scalars())


_STATEMENTS: dict[tuple[str, tuple[str, ...], tuple[str, ...], str | None],
                  tuple[str, tuple[str, ...]]] = {}


def _from_json(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str],
               returning: str | None) -> list[Any]:
    sql, params = pg_statement(table, rows, keys, returning)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params, binary=True)
        return [r[0] for r in cursor.fetchall()] if returning else []
    finally:
        cursor.close()


def pg_statement(table: Table, rows: list[dict[str, Any]], keys: list[str],
                 returning: str | None) -> tuple[str, list[Any]]:
    """The PostgreSQL statement and its parameters (for a psycopg cursor, sync or async)."""
    names = tuple(rows[0])
    cache_key = (table.name, names, tuple(keys), returning)
    cached = _STATEMENTS.get(cache_key)
    if cached is None:
        # Identifiers come from the table's metadata (an unknown name raises KeyError here);
        # the rows are one bound value.
        known = [table.c[n] for n in (*names, *keys, *([returning] if returning else []))]
        columns = ", ".join(c.name for c in known[:len(names)])
        sql = (f"INSERT INTO {table.name} ({columns}) "  # noqa: S608 - see above
               f"SELECT {columns} FROM json_populate_recordset(NULL::{table.name}, %s::json)"
               + (f" ON CONFLICT ({', '.join(keys)}) DO NOTHING" if keys else "")
               + (f" RETURNING {returning}" if returning else ""))
        binary = tuple(c.name for c in known[:len(names)] if isinstance(c.type, LargeBinary))
        cached = _STATEMENTS[cache_key] = (sql, binary)
    sql, binary = cached
    if binary:
        rows = [{**row, **{n: _bytea(row[n]) for n in binary}} for row in rows]
    return sql, [_dumps(rows)]


def _bytea(value: bytes | None) -> str | None:
    return None if value is None else "\\x" + value.hex()


def _dumps(rows: list[dict[str, Any]]) -> str:
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits, which json can write
        return json.dumps(rows, default=_plain, separators=(",", ":"))


def _plain(value: object) -> str:
    if isinstance(value, (uuid.UUID, dt.datetime, dt.date)):
        return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
