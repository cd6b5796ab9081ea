"""The real agent in a child process on a free loopback port, on a fresh SQLite database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealAgent:
    url: str
    token: str
    data_dir: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Seed data through the agent's own API (as an admin would)."""
        response = httpx.request(
            method,
            f"{self.url}/api/integration{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_sync(self, execution_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/sync-executions/{execution_id}")
            if run["status"] in ("completed", "failed", "cancelled"):
                return dict(run)
            time.sleep(0.2)
        raise TimeoutError(f"sync {execution_id} did not finish in {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_agent(data_dir: Path, port: int | None = None) -> RealAgent:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SIMPLETRUST_DATABASE_URL": f"sqlite:///{data_dir / 'a.db'}",
        "SIMPLETRUST_DATA_DIR": str(data_dir),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # token to the 0600 file
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "simpletrust"), "agent", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    token: str | None = None
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while token is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the agent exited:\n" + "".join(lines))
        lines.append(line)
        match = re.fullmatch(r"\s+(st_\S+)\s*", line)
        if match:
            token = match.group(1)
    if token is None:
        process.kill()
        raise RuntimeError("the agent printed no admin token:\n" + "".join(lines))
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/integration/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    # keep draining its output so a full pipe never blocks the agent
    import threading  # noqa: PLC0415

    def drain() -> None:
        for line in process.stdout or []:
            lines.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return RealAgent(url, token, data_dir, process, lines)
