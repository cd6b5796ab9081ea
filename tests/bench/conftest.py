"""The benchmarks' PostgreSQL server (``BENCH_PG_URL``): a test that needs it is skipped when
it is unreachable, except under ``CI=true``, where that is a failure (as in tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from bench import pg


@pytest.fixture
def bench_server() -> str:
    """The server's URL (without a database), once it answered."""
    server = os.environ.get("BENCH_PG_URL", pg.DEFAULT_SERVER)
    try:
        pg.server_version(server)
    except pg.BenchDatabaseError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL at {server} is unreachable under CI: {exc}")
        pytest.skip(str(exc))
    return server
