"""A real ``simpletrust agent`` process for multi-agent tests, with short heartbeats."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


class AgentProcess:
    def __init__(self, db_url: str, data_dir: Path, *, master_key: str,
                 extra_env: dict[str, str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLETRUST_")}
        self.env.update(SIMPLETRUST_DATABASE_URL=db_url, SIMPLETRUST_DATA_DIR=str(data_dir),
                        SIMPLETRUST_MASTER_KEY=master_key,
                        SIMPLETRUST_AGENT_HEARTBEAT_SECONDS="1",
                        SIMPLETRUST_SYNC_LEASE_SECONDS="4",
                        SIMPLETRUST_MAX_PARALLEL_SYNCS="8",
                        # One process per agent unless a test asks for sync workers: the
                        # multi-agent tests count agents and child processes.
                        SIMPLETRUST_SYNC_WORKERS="1")
        self.env.update(extra_env or {})
        self.data_dir = data_dir
        self.log = data_dir.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}/api/integration"
        self.http: httpx.Client | None = None

    def launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli.main", "agent", "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, token: str | None = None, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"agent exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "agent did not start"
            time.sleep(0.1)
        token = token or (self.data_dir / "admin-token").read_text().strip()
        self.token = token
        self.http = httpx.Client(base_url=self.base, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kw: Any) -> Any:
        assert self.http is not None
        return self.http.request(method, path, **kw)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
