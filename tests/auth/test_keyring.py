"""Both master key paths: a real keyring backend, and the key file when there is none.

Each case runs in a fresh interpreter, because keyring picks its backend from the
environment (``PYTHON_KEYRING_BACKEND``) once per process, exactly as the agent does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import chainer, fail, null
from keyrings.alt.file import PlaintextKeyring

from server.vault.keysource import _is_real_backend

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from server.vault import Vault
data = Path(sys.argv[1])
first = Vault.load(data, create=True)
envelope = first.seal("rec-1", {"secret": "canary-keyring-value"})
again = Vault.load(data, create=False)   # a second load finds the same key
print(json.dumps({"source": again.status().source, "kid": again.kid, "same": first.kid == again.kid,
                  "opened": again.open("rec-1", envelope)}))
"""


def _run(env: dict[str, str], data_dir: Path, *, wrapper: list[str] | None = None) -> Any:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPLETRUST_", "PYTHON_KEY"))}
    base.update(env, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", PROBE, str(data_dir)]
    if wrapper:  # ["sh", "-c", "setup; exec"] + the command, quoted into the script
        command = [*wrapper[:-1], f"{wrapper[-1]} {shlex.join(command)}"]
    done = subprocess.run(
        command, env=base, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_real_backend_keeps_the_key_out_of_the_data_dir(tmp_path: Path) -> None:
    """keyrings.alt's PlaintextKeyring, chosen explicitly, stands in for a real backend."""
    xdg = tmp_path / "xdg"
    result, _ = _run(
        {
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "XDG_DATA_HOME": str(xdg),
        },
        tmp_path / "data",
    )
    assert result["source"].startswith("OS keyring (keyrings.alt.file.PlaintextKeyring")
    assert result["same"]
    assert result["opened"] == {"secret": "canary-keyring-value"}
    assert not (tmp_path / "data" / "master.key").exists()
    stored = (xdg / "python_keyring" / "keyring_pass.cfg").read_text()
    assert "[SimpleTrust_20Integrations]" in stored  # keyrings.alt escapes the service name


def test_fail_backend_falls_back_to_a_0600_key_file_with_a_warning(tmp_path: Path) -> None:
    result, stderr = _run({"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}, tmp_path)
    assert result["source"] == f"key file {tmp_path / 'master.key'}"
    assert result["same"]
    assert result["opened"] == {"secret": "canary-keyring-value"}
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    assert "no OS keyring and no SIMPLETRUST_MASTER_KEY" in stderr
    assert (tmp_path / "master.key").read_text().strip() not in stderr


def test_what_counts_as_a_real_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    assert not _is_real_backend(fail.Keyring())
    assert not _is_real_backend(null.Keyring())
    assert not _is_real_backend(chainer.ChainerBackend.__new__(chainer.ChainerBackend))
    # keyrings.alt is base64 in a file: only when the operator chose it explicitly.
    assert not _is_real_backend(PlaintextKeyring())
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    assert _is_real_backend(PlaintextKeyring())


GNOME_PACKAGES = "gnome-keyring dbus-x11"


def test_gnome_keyring_under_dbus(tmp_path: Path) -> None:
    """The real Secret Service, headless. Needs: apt-get install -y gnome-keyring dbus-x11."""
    if not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session")):
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the Secret Service: apt-get install -y {GNOME_PACKAGES}")
        pytest.skip(f"gnome-keyring is not installed (apt-get install -y {GNOME_PACKAGES})")
    home = tmp_path / "home"
    home.mkdir()
    unlock = "echo test-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec"
    result, _ = _run(
        {
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        },
        tmp_path / "data",
        wrapper=["dbus-run-session", "--", "sh", "-c", unlock],
    )
    assert result["source"].startswith("OS keyring (keyring.backends.SecretService.Keyring")
    assert result["same"]
    assert result["opened"] == {"secret": "canary-keyring-value"}
    assert not (tmp_path / "data" / "master.key").exists()
