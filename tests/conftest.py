"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

``db_url`` is parametrised over both backends, so each test that needs a database appears twice
(``[sqlite]`` and ``[postgresql]``). PostgreSQL comes from ``SIMPLETRUST_TEST_POSTGRES_URL``
(default: the local cluster's ``test`` database); each test gets its own database, cloned from
a migrated template, so tests never see each other's rows. Without a reachable PostgreSQL the
PostgreSQL half is skipped with a loud notice, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Before anything imports Qt, keyring or our settings: no screen, no user data touched.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="simpletrust-tests-"))
os.environ["SIMPLETRUST_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ.pop("SIMPLETRUST_DATABASE_URL", None)
os.environ.pop("SIMPLETRUST_CONFIG_FILE", None)

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from server.config import load_settings  # noqa: E402
from server.db import migrate  # noqa: E402
from server.db.engine import make_engine  # noqa: E402
from tests.support.api import Api, api_for  # noqa: E402

PG_URL = os.environ.get("SIMPLETRUST_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_pg_problem: str | None = None


def _pg_admin() -> Engine:
    return make_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_reachable() -> str | None:
    try:
        eng = _pg_admin()
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def pytest_sessionstart(session: pytest.Session) -> None:
    global _pg_problem  # noqa: PLW0603
    _pg_problem = _pg_reachable()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_problem:
        terminalreporter.write_sep(
            "!", f"POSTGRESQL UNREACHABLE ({PG_URL}): the PostgreSQL half was SKIPPED: "
            f"{_pg_problem}", red=True, bold=True)


def _require_pg() -> None:
    if _pg_problem:
        message = f"PostgreSQL at {PG_URL} is unreachable ({_pg_problem})"
        if IN_CI:
            pytest.fail(message + "; under CI=true that is a failure, not a skip")
        pytest.skip(message)


def _pg_url_for(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_db(name: str) -> None:
    eng = _pg_admin()
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(scope="session")
def _sqlite_template() -> Path:
    path = _SESSION_DIR / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    migrate.upgrade(eng)
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    _require_pg()
    name = f"st_tmpl_{os.getpid()}"
    _drop_pg_db(name)
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    eng = make_engine(_pg_url_for(name))
    migrate.upgrade(eng)
    eng.dispose()
    yield name
    _drop_pg_db(name)


def new_pg_database(template: str | None = None) -> str:
    """Create a fresh PostgreSQL database (optionally cloned from a template)."""
    _require_pg()
    name = f"st_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    admin.dispose()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _migrated_database(backend: str, folder: Path,
                       request: pytest.FixtureRequest) -> Iterator[str]:
    """A copy of the migrated template of ``backend`` (SQLite file in ``folder``), dropped
    afterwards."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = folder / "agent.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    name = new_pg_database(request.getfixturevalue("_pg_template"))
    try:
        yield _pg_url_for(name)
    finally:
        _drop_pg_db(name)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database of the test's backend, private to the test."""
    with _migrated_database(backend, tmp_path, request) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of each backend shared by all tests of one module: for tests whose
    writes do not matter to each other (the API fuzzing), where a database per test is the
    cost that dominates."""
    with _migrated_database(request.param, tmp_path_factory.mktemp("module-db"),
                            request) as url:
        yield url


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = new_pg_database()
    yield _pg_url_for(name)
    _drop_pg_db(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def api(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Api]:
    """An agent app on the test's database (lifespan running), with a token per role."""
    result = api_for(load_settings(database_url=db_url, data_dir=tmp_path / "data"), engine)
    with result.client:
        yield result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The console's Qt tests last, so Qt state they leave is never processed inside a later,
    Qt-free test (``make test`` goes further and runs them in a process of their own).

    Tests marked ``slow`` (minutes each: the crash test, three agents) first: pytest-xdist
    deals tests out in this order, round robin at first, and a slow test that starts near the
    end keeps one worker busy long after the other has finished."""
    items.sort(key=lambda item: (item.nodeid.startswith("tests/console/"),
                                 item.get_closest_marker("slow") is None,
                                 "[postgresql" not in item.nodeid))  # the longest halves
