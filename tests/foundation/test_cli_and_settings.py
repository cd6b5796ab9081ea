"""The command line and the settings, as a user meets them: real processes, real exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.config import SettingsError, load_settings

SIMPLETRUST = [sys.executable, "-m", "server.cli.main"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLETRUST_")}
    env.update({"SIMPLETRUST_DATA_DIR": str(tmp_path / "data")}, **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_defaults_put_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'simpletrust.db'}"
    assert settings.port == 8765
    assert settings.host == "127.0.0.1"


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    settings = load_settings(database_url="postgresql://u@db/x", data_dir=tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@db/x"


def test_parallel_syncs_default_by_database(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(data_dir=tmp_path).max_parallel_syncs == 4  # SQLite: one writer
    on_postgres = load_settings(database_url="postgresql://u@db/x", data_dir=tmp_path)
    assert on_postgres.max_parallel_syncs == 64
    assert load_settings(database_url="postgresql://u@db/x", data_dir=tmp_path,
                         max_parallel_syncs=4).max_parallel_syncs == 4  # set: kept
    monkeypatch.setenv("SIMPLETRUST_MAX_PARALLEL_SYNCS", "8")
    assert load_settings(database_url="postgresql://u@db/x",
                         data_dir=tmp_path).max_parallel_syncs == 8


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SIMPLETRUST_PORT": "eighty"}, "SIMPLETRUST_PORT"),
        ({"SIMPLETRUST_PORT": "70000"}, "SIMPLETRUST_PORT"),
        ({"SIMPLETRUST_DATABASE_URL": "mysql://x"}, "SIMPLETRUST_DATABASE_URL"),
        ({"SIMPLETRUST_LOG_LEVEL": "LOUD"}, "SIMPLETRUST_LOG_LEVEL"),
    ],
)
def test_invalid_settings_stop_with_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = subprocess.run([*SIMPLETRUST, "db", "current"], env=_env(tmp_path, **env),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_settings_are_named_as_likely_typos(tmp_path: Path) -> None:
    result = subprocess.run([*SIMPLETRUST, "db", "current"],
                            env=_env(tmp_path, SIMPLETRUST_PROT="9000"),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "ignoring unknown setting SIMPLETRUST_PROT" in result.stderr


def test_toml_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('port = 9001\nlog_level = "debug"\n')
    monkeypatch.setenv("SIMPLETRUST_CONFIG_FILE", str(config))
    settings = load_settings(data_dir=tmp_path)
    assert (settings.port, settings.log_level) == (9001, "DEBUG")
    monkeypatch.setenv("SIMPLETRUST_PORT", "9002")  # the environment wins over the file
    assert load_settings(data_dir=tmp_path).port == 9002
    monkeypatch.setenv("SIMPLETRUST_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="SIMPLETRUST_CONFIG_FILE"):
        load_settings()


def test_db_commands_and_token_create(tmp_path: Path, db_url: str) -> None:
    env = _env(tmp_path, SIMPLETRUST_DATABASE_URL=db_url)
    run = lambda *args: subprocess.run(  # noqa: E731
        [*SIMPLETRUST, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "up to date" in run("db", "current").stdout
    created = run("token", "create", "--name", "ci", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("st_")
    assert "shown once" in created.stderr
    again = run("token", "create", "--name", "ci", "--role", "admin")
    assert again.returncode == 2
    assert "auditor" in again.stderr
    listed = run("token", "list").stdout
    assert "ci" in listed
    assert token not in listed
    bad = run("token", "revoke", "nope")
    assert bad.returncode == 2
    assert "not a UUID" in bad.stderr


def test_agent_serves_and_stops_gracefully(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path)
    proc = subprocess.Popen([*SIMPLETRUST, "agent", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/integration"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "agent did not come up"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["database"]["status"] == "healthy"
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        assert (tmp_path / "data" / "admin-token").stat().st_mode & 0o777 == 0o600
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "admin"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert token in out  # printed once, on first start
    assert "Shutting down" in out
    # Second start: no new admin, no token printed.
    proc = subprocess.Popen([*SIMPLETRUST, "agent", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while "Uvicorn running" not in (line := proc.stdout.readline() if proc.stdout else ""):
            assert line or proc.poll() is None
            assert time.monotonic() < deadline
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert token not in out
    assert proc.returncode == 0, out
    assert "Traceback" not in out
