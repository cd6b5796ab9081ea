"""moto's server mode as a subprocess on a loopback port: a real HTTP AWS endpoint for tests.

Started once per test session (a couple of seconds); ``reset()`` clears every service's
state between tests and turns request authentication back off. AWS managed policies
(``AdministratorAccess``…) exist only in a server started with ``managed_policies=True``:
loading them costs about two seconds per reset, so only the tests that need them use it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import boto3
import httpx

ACCOUNT = "123456789012"  # moto's default account
KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # moto accepts any keys while authentication is off
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def available() -> str | None:
    if importlib.util.find_spec("moto") is None:
        return "moto is not installed (pip install 'moto[server]')"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, *, managed_policies: bool = False) -> MotoServer:
        port = _free_port()
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
               "MOTO_IAM_LOAD_MANAGED_POLICIES": "true" if managed_policies else "false"}
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        server = cls(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            try:
                httpx.get(f"{server.url}/moto-api/data.json", timeout=1)
                return server
            except httpx.HTTPError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("moto_server did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf", timeout=10)
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def enforce_auth(self) -> None:
        """From the next request on, moto checks signatures and IAM policies like AWS."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0",
                   timeout=10).raise_for_status()

    def client(self, service: str, region: str = "us-east-1", **keys: Any) -> Any:
        """The test's own boto3 client (to build scenarios)."""
        return boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id=keys.get("key_id", KEY_ID),
            aws_secret_access_key=keys.get("secret", SECRET),
        )
