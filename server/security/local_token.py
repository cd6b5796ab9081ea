"""Where the agent leaves its first admin token for the console on the same machine.

The OS keyring when a real backend exists (the vault's test of "real"); otherwise a file
readable only by this user in the data directory. The console (app/core/profiles.py)
looks in the same two places (service name below, user = the agent's base URL).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from keyring.errors import KeyringError

from server.vault.keysource import real_keyring_backend

log = logging.getLogger(__name__)

KEYRING_SERVICE = "simpletrust-integrations"
TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret


def store_local_token(base_url: str, token: str, data_dir: Path) -> str:
    """Store the token; returns where it went (for the start-up message)."""
    backend = real_keyring_backend()
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, base_url, token)
            return "the OS keyring"
        except KeyringError as exc:
            log.warning("could not store the admin token in the OS keyring: %s",
                        type(exc).__name__)
    path = data_dir / TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return str(path)

