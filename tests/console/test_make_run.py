"""`make run` (``simpletrust run``) where a display exists: the agent in a child process and
the console connected to it with the admin token of the agent's first start, no dialog.

The display is Qt's offscreen platform with ``DISPLAY`` set, so ``run`` takes its desktop path.
Whether the console connected is read from the agent's database (the admin token's
``last_used_at``), so the test itself never uses the token.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from .real_agent import VENV_BIN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _token_used(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            rows = conn.execute("select last_used_at from api_tokens").fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return False
    return any(used for (used,) in rows)


def test_make_run_opens_the_console_connected_to_its_agent(tmp_path: Path) -> None:
    port, data = _free_port(), tmp_path / "data"
    env = {**os.environ, "DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen",
           "SIMPLETRUST_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # token in the 0600 file
    env.pop("SIMPLETRUST_DATABASE_URL", None)
    run = subprocess.Popen([str(VENV_BIN / "simpletrust"), "run", "--no-demo", "--port",
                            str(port)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not _token_used(data / "simpletrust.db"):
            assert run.poll() is None, run.communicate()[0]
            assert time.monotonic() < deadline, "the console never used the admin token"
            time.sleep(0.5)
        health = httpx.get(f"http://127.0.0.1:{port}/api/integration/health", timeout=10)
        assert health.status_code in (200, 503)
    finally:
        run.send_signal(signal.SIGINT)  # Ctrl+C: the console closes, then stops its agent
        try:
            output = run.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            run.kill()
            output = run.communicate()[0]
    assert run.returncode == 0, output
    assert "Traceback" not in output
    with socket.socket() as probe:  # the agent went with the console
        assert probe.connect_ex(("127.0.0.1", port)) != 0
