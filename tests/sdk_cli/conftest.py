"""Shared pieces for the connector CLI tests: a loopback API, files, and how to run the CLI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sdk.servers import Reply, Seen, Server, serve

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").is_dir() else sys.executable
# The real command line, `simpletrust connector ...`, as a user runs it.
SIMPLETRUST = [PYTHON, "-m", "server.cli.main"]
CONNECTOR_CLI = [*SIMPLETRUST, "connector"]
TOKEN = "cli-test-token-8d3e1f"

ITEMS = [{"id": n, "name": f"item {n}", "updated": f"2024-03-0{n}T08:00:00Z"} for n in range(1, 6)]

SPEC: dict[str, Any] = {
    "connector": {"key": "shop", "name": "Shop", "version": "1.2.0", "system_type": "ITSM"},
    "config": {"base_url": {"type": "string"}},
    "auth": "bearer",
    "base_url": "{config.base_url}",
    "streams": [{
        "name": "items", "path": "/items", "records": "data", "primary_key": "id",
        "paginator": {"type": "page_number", "page_size": 2, "page_size_param": "per_page"},
        "incremental": {"cursor_field": "updated", "param": "since"},
        "is_sorted": True, "checkpoint_interval": 2,
        "schema": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "updated": {"type": "string"}}},
    }, {
        "name": "users", "path": "/users", "records": "data", "primary_key": "id",
    }],
}


def shop_api(r: Seen) -> Reply:
    """`GET /items?page=&per_page=&since=` behind a bearer token; pages of 2."""
    if r.headers.get("Authorization") != f"Bearer {TOKEN}":
        return Reply(401, {"error": "invalid token"})
    if r.path == "/users":
        return Reply(200, {"data": [{"id": 1}]})
    since = r.query.get("since", "")
    rows = [i for i in ITEMS if i["updated"] >= since]
    page, size = int(r.query.get("page", "1")), int(r.query.get("per_page", "100"))
    return Reply(200, {"data": rows[(page - 1) * size : page * size]})


@pytest.fixture
def shop() -> Iterator[Server]:
    with serve(shop_api) as server:
        yield server


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def shop_files(tmp_path: Path, shop: Server) -> dict[str, Path]:
    """The spec, a config pointing at the loopback API, and bearer credentials."""
    return {
        "spec": write_yaml(tmp_path / "shop.yaml", SPEC),
        "config": write_yaml(tmp_path / "config.yaml", {"base_url": shop.url}),
        "credentials": write_yaml(tmp_path / "token.yaml", {"token": TOKEN}),
    }


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no test settings leak in, keyring falls back to file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIMPLETRUST_", "PYTEST_", "PYTHONPATH"))}
    env.update(SIMPLETRUST_DATA_DIR=str(data_dir),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", **extra)
    return env


def run(args: list[str], *, env: dict[str, str], cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(autouse=True)
def _restore_connector_logging() -> Iterator[None]:
    """The CLI configures the `connectors` logger for its process; in-process tests undo it."""
    logger = logging.getLogger("connectors")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]
