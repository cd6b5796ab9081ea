"""The tutorial's connector (examples/tutorial-connector), installed as a separate package:
its own tests pass, discovery finds it through its entry point, `simpletrust connector read`
returns its records from a loopback Pinewood, and the agent lists it over its API."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .conftest import CONNECTOR_CLI, PYTHON, REPO, SIMPLETRUST, cli_env, run, write_yaml

EXAMPLE = REPO / "examples" / "tutorial-connector"


def _fake_pinewood() -> ModuleType:
    """The example's own fake API (one fake, shared with the example's tests)."""
    spec = importlib.util.spec_from_file_location(
        "tutorial_fake_pinewood", EXAMPLE / "tests" / "fake_pinewood.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake = _fake_pinewood()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(site folder with the installed distribution, a copy of the example's sources)."""
    root = tmp_path_factory.mktemp("tutorial")
    sources = root / "tutorial-connector"
    # pip builds in the source folder: build from a copy so the repository stays clean.
    shutil.copytree(EXAMPLE, sources, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info",
                                                                    "build", ".*cache"))
    site = root / "site"
    result = run([PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                  "--no-index", "--target", str(site), str(sources)],
                 env=cli_env(root / "data"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (site / "pinewood_connector" / "connector.py").is_file()
    return site, sources


def test_the_examples_own_tests_pass(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, sources = installed
    result = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                 env=cli_env(tmp_path / "data"), cwd=sources)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_discovery_finds_it_through_its_entry_point(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    site, _ = installed
    code = ("import json; from connectors.registry import discover_connectors; "
            "e = discover_connectors()['pinewood']; "
            "print(json.dumps([e.source.value, e.origin, e.distribution, "
            "e.describe()['capabilities']['actions'][0]['name'], "
            "e.describe()['capabilities']['webhooks']]))")
    result = run([PYTHON, "-c", code], env=cli_env(tmp_path / "data", PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "plugin", "pinewood_connector:PinewoodConnector", "pinewood-connector 1.0.0",
        "create_issue", True]
    # Without the package on the path it is not there: the entry point is what finds it.
    absent = run([PYTHON, "-c", code], env=cli_env(tmp_path / "data"))
    assert absent.returncode == 1
    assert "KeyError: 'pinewood'" in absent.stderr


@pytest.fixture
def pinewood() -> Iterator[Any]:
    with fake.serve(fake.FakePinewood()) as api:
        yield api


def test_the_cli_reads_its_records(
    installed: tuple[Path, Path], pinewood: Any, tmp_path: Path
) -> None:
    site, _ = installed
    config = write_yaml(tmp_path / "pinewood.yaml",
                        {"base_url": pinewood.url, "project": "OPS"})
    token = write_yaml(tmp_path / "token.yaml", {"token": fake.TOKEN})
    result = run([*CONNECTOR_CLI, "read", "pinewood", "--config", str(config),
                  "--credentials", str(token), "--auth-type", "bearer", "--allow-loopback"],
                 env=cli_env(tmp_path / "data", PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["data"]["id"] for m in lines[:-1]] == [1, 2, 3, 4, 5, 6, 7]
    assert lines[-1] == {"type": "state", "stream": "issues", "state": {
        "cursor": "2024-06-06T09:00:00Z", "boundary_keys": ["[6]", "[7]"]}}
    assert fake.TOKEN not in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_agent_lists_it(installed: tuple[Path, Path], tmp_path: Path) -> None:
    site, _ = installed
    port = _free_port()
    data = tmp_path / "data"
    agent = subprocess.Popen([*SIMPLETRUST, "agent", "--port", str(port)],
                             env=cli_env(data, PYTHONPATH=str(site)),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/integration"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert agent.poll() is None, agent.stdout.read() if agent.stdout else ""
                assert time.monotonic() < deadline, "the agent did not come up"
                time.sleep(0.2)
        token = (data / "admin-token").read_text().strip()
        response = httpx.get(f"{base}/connectors", timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        keys = [item["key"] for item in response.json()["items"]]
        assert "pinewood" in keys
        assert "generic-rest" in keys
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=30)
