"""The pool tests an idle PostgreSQL connection before handing it out, and only an idle one."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import exc, text

from server.db import engine as db_engine
from server.db.engine import make_engine


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_idle_connection_the_server_dropped_is_replaced(
        empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(empty_db_url)
    admin = make_engine(empty_db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
        with admin.connect() as conn:  # the server ends the pooled connection while it waits
            conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        monkeypatch.setattr(db_engine, "IDLE_PING_SECONDS", 0.0)  # it has been idle "long"
        with engine.connect() as conn:
            assert conn.execute(text("select pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        admin.dispose()


class _NoCursor:
    def cursor(self) -> Any:
        raise AssertionError("a connection used moments ago was pinged")


class _DeadCursor:
    def cursor(self) -> Any:
        raise OSError("connection reset")


def test_a_connection_used_moments_ago_is_not_pinged() -> None:
    record = SimpleNamespace(info={"checked_in": time.monotonic()})
    db_engine._ping_if_idle(_NoCursor(), record, None)
    record.info["checked_in"] -= db_engine.IDLE_PING_SECONDS + 1
    with pytest.raises(exc.DisconnectionError):
        db_engine._ping_if_idle(_DeadCursor(), record, None)
