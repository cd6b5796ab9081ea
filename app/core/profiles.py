"""Saved agent profiles (name + URL) and where their tokens live.

Profiles are plain JSON in the user's config directory; tokens never go there. A token is kept
in the OS keyring under service ``simpletrust-integrations`` with the agent's root URL as the
username -- the same entry the agent writes for its local admin token, so a console on the
agent's machine finds it without asking. Where no keyring backend exists, the agent writes a
0600 ``admin-token`` file in its data dir; the console reads that file for loopback agents only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import keyring
import keyring.errors
import platformdirs
from keyring.backends import chainer, fail, null

from app.core.api import normalize_agent_url

log = logging.getLogger(__name__)

KEYRING_SERVICE = "simpletrust-integrations"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_NAME_RE = re.compile(r"^[\w .@()-]{1,80}$")


@dataclass(frozen=True)
class AgentProfile:
    """A named agent the user connects to; the token is looked up by URL, not stored here."""

    name: str
    url: str

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name.strip() or "-" * 81):
            raise ValueError("Profile name: 1-80 letters, digits, spaces or . @ ( ) - _ characters")
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "url", normalize_agent_url(self.url))


def default_config_dir() -> Path:
    return Path(platformdirs.user_config_dir("simpletrust"))


def agent_data_dir() -> Path:
    """The agent's data dir as the agent computes it (env override first)."""
    env = os.environ.get("SIMPLETRUST_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("simpletrust"))


def _is_real_backend(backend: Any) -> bool:
    if isinstance(backend, chainer.ChainerBackend):
        return any(_is_real_backend(b) for b in backend.backends)
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if type(backend).__module__.startswith("keyrings.alt"):
        return bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    return True


class ProfileStore:
    """Profiles in ``console-profiles.json``; a damaged file is reported, not fatal."""

    FILE_NAME = "console-profiles.json"

    def __init__(self, config_dir: Path | None = None) -> None:
        self.path = (config_dir or default_config_dir()) / self.FILE_NAME
        self.load_error: str | None = None
        self._profiles: dict[str, AgentProfile] = {}
        self.last_used: str | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for raw in data.get("profiles", []):
                profile = AgentProfile(str(raw["name"]), str(raw["url"]))
                self._profiles[profile.name] = profile
            last = data.get("last_used")
            self.last_used = last if last in self._profiles else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.load_error = f"Saved profiles in {self.path} could not be read: {exc}"
            log.warning("%s", self.load_error)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "profiles": [asdict(p) for p in self._profiles.values()],
            "last_used": self.last_used,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.path)

    def list(self) -> list[AgentProfile]:
        return sorted(self._profiles.values(), key=lambda p: p.name.lower())

    def get(self, name: str) -> AgentProfile | None:
        return self._profiles.get(name)

    def save(self, profile: AgentProfile, *, make_last_used: bool = True) -> None:
        self._profiles[profile.name] = profile
        if make_last_used:
            self.last_used = profile.name
        self._save()

    def remove(self, name: str) -> None:
        self._profiles.pop(name, None)
        if self.last_used == name:
            self.last_used = None
        self._save()

    def last(self) -> AgentProfile | None:
        return self._profiles.get(self.last_used) if self.last_used else None


class TokenStore:
    """Bearer tokens per agent URL: OS keyring, else memory for this session only."""

    def __init__(self, *, data_dir: Path | None = None) -> None:
        self._data_dir = data_dir
        self._session: dict[str, str] = {}

    @staticmethod
    def backend_name() -> str:
        return type(keyring.get_keyring()).__name__

    @staticmethod
    def real_backend() -> Any | None:
        """The keyring backend if it really protects secrets, else None.

        Same rule as the agent (server/vault/keysource.py), so both look in the same place:
        the fail/null backends never count, keyrings.alt only when chosen explicitly with
        PYTHON_KEYRING_BACKEND (it is plain text on disk).
        """
        try:
            backend = keyring.get_keyring()
        except (keyring.errors.KeyringError, RuntimeError):
            return None
        return backend if _is_real_backend(backend) else None

    @classmethod
    def is_secure(cls) -> bool:
        """True when tokens entered in the console survive a restart in a real keyring."""
        return cls.real_backend() is not None

    def get(self, agent_url: str) -> str | None:
        url = normalize_agent_url(agent_url)
        if url in self._session:
            return self._session[url]
        backend = self.real_backend()
        if backend is not None:
            try:
                token = backend.get_password(KEYRING_SERVICE, url)
            except keyring.errors.KeyringError as exc:
                log.info(
                    "keyring unreadable (%s); trying the agent's token file", type(exc).__name__
                )
            else:
                if token:
                    return str(token)
        return self._read_agent_token_file(url)

    def set(self, agent_url: str, token: str) -> bool:
        """Remember a token; True if it went to the keyring, False if kept for this session."""
        url = normalize_agent_url(agent_url)
        backend = self.real_backend()
        try:
            if backend is None:
                raise keyring.errors.NoKeyringError("no keyring that protects secrets")
            backend.set_password(KEYRING_SERVICE, url, token)
        except keyring.errors.KeyringError as exc:
            log.info(
                "keyring cannot store tokens (%s); keeping it for this session", type(exc).__name__
            )
            self._session[url] = token
            return False
        self._session.pop(url, None)
        return True

    def set_session(self, agent_url: str, token: str) -> None:
        """Use a token until the console exits, without storing it anywhere."""
        self._session[normalize_agent_url(agent_url)] = token

    def delete(self, agent_url: str) -> None:
        url = normalize_agent_url(agent_url)
        self._session.pop(url, None)
        # nothing stored, or no backend: either way nothing is left
        backend = self.real_backend()
        if backend is not None:
            with contextlib.suppress(keyring.errors.KeyringError):
                backend.delete_password(KEYRING_SERVICE, url)

    def _read_agent_token_file(self, url: str) -> str | None:
        if urlsplit(url).hostname not in _LOOPBACK_HOSTS:
            return None
        path = (self._data_dir or agent_data_dir()) / ADMIN_TOKEN_FILE
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return token or None
