"""Throwaway PostgreSQL databases for the benchmark's contenders (one each, dropped after)."""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BenchDatabaseError(Exception):
    """The PostgreSQL server cannot be used (with what to do about it)."""


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BenchDatabaseError(f"database name {name!r}: use lower-case letters, digits and _")
    return name


def url_of(server: str, database: str) -> str:
    """``postgresql://user@host:port`` + database name."""
    return f"{server.rstrip('/')}/{_check_name(database)}"


def split_url(url: str) -> tuple[str, str]:
    """``postgresql[+driver]://user@host:port/db`` -> (``postgresql://user@host:port``, db)."""
    scheme, rest = url.split("://", 1)
    server, database = rest.rsplit("/", 1)
    return f"{scheme.split('+', 1)[0]}://{server}", database.split("?", 1)[0]


def admin_connect(server: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url_of(server, "postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchDatabaseError(
            f"PostgreSQL at {server} is unreachable ({first}); start it (PLATFORM-NOTES.md) or "
            "pass --pg postgresql://USER@HOST:PORT") from None


def recreate(server: str, database: str) -> str:
    """Drop (if present) and create ``database``; returns its URL."""
    with admin_connect(server) as conn:
        name = sql.Identifier(_check_name(database))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return url_of(server, database)


def drop(server: str, database: str) -> None:
    with admin_connect(server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(_check_name(database))))


def server_version(server: str) -> str:
    with admin_connect(server) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"
