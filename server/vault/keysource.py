"""Where the master key lives: the OS keyring, an environment variable, or a key file.

Lookup order for the current key: the OS keyring when a real backend exists, then
``SIMPLETRUST_MASTER_KEY``, then ``<data dir>/master.key`` (mode 0600). A key that is staged
for a rotation ("next" key) lives beside it: a second keyring entry,
``SIMPLETRUST_NEW_MASTER_KEY``, or ``master.key.next``.

"Real" keyring means a backend that stores secrets somewhere protected: not
``keyring.backends.fail`` or ``null``, not a chainer with nothing behind it, and not a
``keyrings.alt`` file backend unless the operator chose it with ``PYTHON_KEYRING_BACKEND``
(those are base64 in a file: a test stand-in, never a silent production choice).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import keyring
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, PasswordDeleteError

from server.vault.envelope import MasterKey
from server.vault.errors import MasterKeyInvalidError, RotationError

log = logging.getLogger("simpletrust.vault")

KEYRING_SERVICE = "SimpleTrust Integrations"
ENV_VAR = "SIMPLETRUST_MASTER_KEY"
NEXT_ENV_VAR = "SIMPLETRUST_NEW_MASTER_KEY"
KEY_FILE = "master.key"
NEXT_KEY_FILE = "master.key.next"

SourceKind = Literal["keyring", "env", "file"]


class KeySlot(Protocol):
    """One place a master key can be read from (and, for keyring and file, written to)."""

    kind: SourceKind

    @property
    def description(self) -> str: ...

    def read(self) -> MasterKey | None: ...

    def write(self, key: MasterKey) -> None: ...

    def delete(self) -> None: ...


def _is_real_backend(backend: Any) -> bool:
    if isinstance(backend, chainer.ChainerBackend):
        return any(_is_real_backend(b) for b in backend.backends)
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if type(backend).__module__.startswith("keyrings.alt"):
        return bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    return True


def real_keyring_backend() -> Any | None:
    """The active keyring backend if it really protects secrets, else None."""
    try:
        backend = keyring.get_keyring()
    except (KeyringError, RuntimeError) as exc:
        log.warning("OS keyring unavailable (%s); using the next master key source", exc)
        return None
    return backend if _is_real_backend(backend) else None


def describe_backend(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass
class KeyringSlot:
    backend: Any
    username: str
    kind: SourceKind = "keyring"

    @property
    def description(self) -> str:
        return f"OS keyring ({describe_backend(self.backend)}, entry {self.username!r})"

    def read(self) -> MasterKey | None:
        try:
            text = self.backend.get_password(KEYRING_SERVICE, self.username)
        except KeyringError as exc:
            log.warning("could not read %s: %s", self.description, type(exc).__name__)
            return None
        return MasterKey.from_text(text, source=self.description) if text else None

    def write(self, key: MasterKey) -> None:
        self.backend.set_password(KEYRING_SERVICE, self.username, key.to_text())

    def delete(self) -> None:
        with contextlib.suppress(PasswordDeleteError):
            self.backend.delete_password(KEYRING_SERVICE, self.username)


@dataclass
class EnvSlot:
    environ: Mapping[str, str]
    name: str
    kind: SourceKind = "env"

    @property
    def description(self) -> str:
        return f"environment variable {self.name}"

    def read(self) -> MasterKey | None:
        text = self.environ.get(self.name, "").strip()
        return MasterKey.from_text(text, source=self.description) if text else None

    def write(self, key: MasterKey) -> None:
        if self.read() != key:
            raise RotationError(
                f"the master key comes from the environment: put the new key in {self.name} "
                "(`simpletrust secrets generate-key` makes one) and run the command again"
            )

    def delete(self) -> None:
        """Environment variables are the operator's to remove."""


@dataclass
class FileSlot:
    path: Path
    kind: SourceKind = "file"

    @property
    def description(self) -> str:
        return f"key file {self.path}"

    def read(self) -> MasterKey | None:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MasterKeyInvalidError(
                f"{self.description} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {self.path}"
            )
        return MasterKey.from_text(self.path.read_text("ascii"), source=self.description)

    def write(self, key: MasterKey) -> None:
        """Write atomically with mode 0600 from the first byte (never world-readable)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".master-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key.to_text() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass(frozen=True)
class KeyLocations:
    """The slots for one data directory, in lookup order."""

    current: tuple[KeySlot, ...]
    pending: tuple[KeySlot, ...]
    #: Where a newly generated key goes (the keyring if real, else the key file).
    create_target: KeySlot
    keyring_available: bool


def key_locations(data_dir: Path, environ: Mapping[str, str]) -> KeyLocations:
    backend = real_keyring_backend()
    entry = f"master-key:{data_dir.resolve()}"
    current: list[KeySlot] = []
    pending: list[KeySlot] = []
    if backend is not None:
        current.append(KeyringSlot(backend, entry))
        pending.append(KeyringSlot(backend, entry + ":next"))
    current += [EnvSlot(environ, ENV_VAR), FileSlot(data_dir / KEY_FILE)]
    pending += [EnvSlot(environ, NEXT_ENV_VAR), FileSlot(data_dir / NEXT_KEY_FILE)]
    return KeyLocations(
        current=tuple(current),
        pending=tuple(pending),
        create_target=current[0],
        keyring_available=backend is not None,
    )


def pending_slot_for(locations: KeyLocations, source: KeySlot) -> KeySlot:
    """Where to stage the next key: beside the current one, in the same kind of store."""
    for slot in locations.pending:
        if slot.kind == source.kind:
            return slot
    raise RotationError(f"no place to stage a new master key next to {source.description}")
