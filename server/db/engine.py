"""Engines and sessions, configured the same way for the agent, the CLI and the tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout.

    SQLite ignores foreign keys unless asked on every connection, and its default rollback
    journal blocks readers during a sync; WAL lets the API read while the engine writes.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


#: A pooled connection unused for longer than this is tested before it is handed out.
IDLE_PING_SECONDS = 5.0


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """``pool_pre_ping``, but only for a connection that sat idle.

    A server restart or an idle timeout kills connections that wait in the pool; one in use
    moments ago is alive. Pinging at every checkout cost a round trip per transaction, several
    per sync (SQLAlchemy's "pessimistic disconnect handling" recipe; raising
    ``DisconnectionError`` makes the pool drop the connection and hand out another). A server
    that dies while its connections are busy fails those transactions either way, and the
    first such error invalidates the whole pool.
    """
    since = record.info.get("checked_in")
    if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # any failure at all means the connection is unusable
        raise exc.DisconnectionError(f"stale pooled connection: {type(error).__name__}") \
            from error


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: API handlers serialise objects after committing them.
    return sessionmaker(engine, expire_on_commit=False)
