"""Where the agent leaves its first admin token for the console on the same machine.

The OS keyring when a real backend exists; otherwise a file readable only by this user in the
data directory. The console looks in the same two places (service name and user below).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

KEYRING_SERVICE = "simpletrust-integrations"
TOKEN_FILE = "admin-token"
#: Backends that store nothing or store in plain files; never our production secret store.
_NOT_REAL = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def real_keyring_available() -> bool:
    """Whether the OS keyring has a real backend (a chosen test backend counts as real)."""
    try:
        import keyring  # noqa: PLC0415 - optional at run time, slow to import

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - any failure to load a backend means "no keyring"
        return False
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return not type(backend).__module__.startswith(_NOT_REAL[:2])
    module = type(backend).__module__
    if module == "keyring.backends.chainer":
        return any(not type(b).__module__.startswith(_NOT_REAL)
                   for b in getattr(backend, "backends", []))
    return not module.startswith(_NOT_REAL)


def store_local_token(base_url: str, token: str, data_dir: Path) -> str:
    """Store the token; returns where it went (for the start-up message)."""
    if real_keyring_available():
        try:
            import keyring  # noqa: PLC0415

            keyring.set_password(KEYRING_SERVICE, base_url, token)
            return "the OS keyring"
        except Exception as exc:  # noqa: BLE001 - fall back to the file below
            log.warning("could not store the admin token in the OS keyring: %s",
                        type(exc).__name__)
    path = data_dir / TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return str(path)


def read_local_token(base_url: str, data_dir: Path) -> str | None:
    if real_keyring_available():
        try:
            import keyring  # noqa: PLC0415

            token = keyring.get_password(KEYRING_SERVICE, base_url)
            if token:
                return token
        except Exception:  # noqa: BLE001, S110 - the file below is the other place
            pass
    path = data_dir / TOKEN_FILE
    return path.read_text().strip() if path.is_file() else None
