"""The credential vault: seal and open ``AuthenticationConfig.credentials`` envelopes.

``Vault.load`` finds the master key (see :mod:`server.vault.keysource`), checks it against the
data directory's marker file ``vault.json`` (which records the id, never the key, of the master
key the credentials are sealed with) and refuses a different key with :class:`WrongMasterKey`
before anything is written.

Example::

    vault = Vault.load(data_dir, create=True)
    envelope = vault.seal(str(config.id), {"client_secret": "..."})
    config.credentials = envelope
    vault.open(str(config.id), config.credentials)  # -> {"client_secret": "..."}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyring.errors import KeyringError

from server.vault.envelope import MasterKey, open_envelope, seal
from server.vault.errors import MasterKeyMissingError, RotationError, VaultError, WrongMasterKey
from server.vault.keysource import (
    FileSlot,
    KeyLocations,
    KeySlot,
    key_locations,
    pending_slot_for,
)

log = logging.getLogger("simpletrust.vault")

MARKER_FILE = "vault.json"


@dataclass(frozen=True)
class Marker:
    """The non-secret record of which master key the data directory's credentials use."""

    kid: str
    next_kid: str | None = None

    @classmethod
    def read(cls, data_dir: Path) -> Marker | None:
        path = data_dir / MARKER_FILE
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            raise VaultError(f"{path} is damaged; it should hold the master key id") from None
        if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
            raise VaultError(f"{path} is damaged; it should hold the master key id")
        next_kid = data.get("next_kid")
        return cls(kid=data["kid"], next_kid=next_kid if isinstance(next_kid, str) else None)

    def write(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        body: dict[str, Any] = {"format": 1, "kid": self.kid}
        if self.next_kid:
            body["next_kid"] = self.next_kid
        fd, tmp = tempfile.mkstemp(prefix=".vault-", dir=data_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, data_dir / MARKER_FILE)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@dataclass(frozen=True)
class VaultStatus:
    source: str
    kid: str
    pending_kid: str | None
    sealing_kid: str
    data_dir: Path | None


class Vault:
    """Seals with one master key; opens with any key it holds (the current and a staged one)."""

    def __init__(
        self,
        current: MasterKey,
        *,
        pending: MasterKey | None = None,
        data_dir: Path | None = None,
        source: KeySlot | None = None,
        locations: KeyLocations | None = None,
    ) -> None:
        self._current = current
        self._pending = pending
        self._data_dir = data_dir
        self._source = source
        self._locations = locations

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_key(cls, key: MasterKey) -> Vault:
        """A vault with an explicit key and no persistence (tests, one-off tools)."""
        return cls(key)

    @classmethod
    def load(
        cls, data_dir: Path, *, create: bool, environ: Mapping[str, str] | None = None
    ) -> Vault:
        """Find the master key for ``data_dir``; with ``create``, make one on first run.

        Raises :class:`MasterKeyMissingError` when no key is found (and never generates one over
        existing credentials), :class:`WrongMasterKey` when the key found is not the one the
        credentials were sealed with.
        """
        env = os.environ if environ is None else environ
        locations = key_locations(data_dir, env)
        marker = Marker.read(data_dir)
        current, source = _first_key(locations.current)
        pending, _ = _first_key(locations.pending)
        searched = ", ".join(slot.description for slot in locations.current)

        if current is None:
            if marker is not None or pending is not None:
                kid = marker.kid if marker else "unknown"
                raise MasterKeyMissingError(
                    f"the credentials in {data_dir} are sealed with master key {kid}, but no "
                    f"master key was found (looked in: {searched}); restore that key — a new "
                    "one would not open them"
                )
            if not create:
                raise MasterKeyMissingError(
                    f"no master key for {data_dir} (looked in: {searched}); start the agent "
                    f"once to create one, or set it in the environment"
                )
            current, source = _create_key(locations, data_dir)
            marker = Marker(kid=current.kid)
            marker.write(data_dir)

        assert source is not None
        keys = {current.kid} | ({pending.kid} if pending else set())
        if marker is not None:
            if marker.kid not in keys:
                raise WrongMasterKey(
                    f"the master key from {source.description} (id {current.kid}) is not the key "
                    f"the credentials in {data_dir} are sealed with (id {marker.kid}); load the "
                    "right key — nothing was changed"
                )
            if marker.next_kid and marker.next_kid not in keys:
                raise MasterKeyMissingError(
                    f"a master key rotation to key {marker.next_kid} was interrupted and that "
                    "key is missing; restore it and re-run `simpletrust secrets rotate-master-key`"
                )
        elif create:
            Marker(kid=current.kid).write(data_dir)
        if pending is not None and pending.kid == current.kid:
            pending = None  # a finished rotation whose staged copy was not removed yet
        return cls(current, pending=pending, data_dir=data_dir, source=source, locations=locations)

    # -- the API the agent calls -----------------------------------------------------------

    @property
    def kid(self) -> str:
        """Id of the key new envelopes are sealed with."""
        return (self._pending or self._current).kid

    @property
    def keys(self) -> dict[str, MasterKey]:
        keys = {self._current.kid: self._current}
        if self._pending is not None:
            keys[self._pending.kid] = self._pending
        return keys

    def seal(self, record_id: str, secret: dict[str, Any]) -> dict[str, Any]:
        """Encrypt ``secret`` for the record ``record_id``; returns the envelope to store."""
        return seal(self._pending or self._current, record_id, secret)

    def open(self, record_id: str, envelope: dict[str, Any]) -> dict[str, Any]:
        """Decrypt an envelope of the record ``record_id``."""
        return open_envelope(self.keys, record_id, envelope)

    def status(self) -> VaultStatus:
        return VaultStatus(
            source=self._source.description if self._source else "explicit key",
            kid=self._current.kid,
            pending_kid=self._pending.kid if self._pending else None,
            sealing_kid=self.kid,
            data_dir=self._data_dir,
        )

    # -- rotation support ------------------------------------------------------------------

    @property
    def current_key(self) -> MasterKey:
        return self._current

    @property
    def pending_key(self) -> MasterKey | None:
        """A key staged by an interrupted rotation (re-run the rotation with it)."""
        return self._pending

    def stage_next_key(self, new_key: MasterKey) -> None:
        """Persist ``new_key`` beside the current one before any credential is re-wrapped.

        From here until :meth:`promote_next_key`, both keys stay loadable, so a rotation that
        dies half-way leaves every row readable.
        """
        if self._pending is not None and self._pending != new_key:
            raise RotationError(
                f"a rotation to master key {self._pending.kid} is in progress; finish it with "
                "that key first"
            )
        if self._locations is not None and self._source is not None:
            pending_slot_for(self._locations, self._source).write(new_key)
        if self._data_dir is not None:
            Marker(kid=self._current.kid, next_kid=new_key.kid).write(self._data_dir)
        self._pending = new_key

    def promote_next_key(self) -> str | None:
        """Make the staged key the current one once every credential uses it.

        Returns an instruction for the operator when the key store cannot be written by us
        (the environment variable), else None.
        """
        new_key = self._pending
        if new_key is None:
            return None
        instruction = None
        if self._locations is not None and self._source is not None:
            staged = pending_slot_for(self._locations, self._source)
            if self._source.kind == "env":
                instruction = (
                    f"set {self._source.description.split()[-1]} to the value of "
                    f"{staged.description.split()[-1]} and then remove the latter"
                )
            else:
                self._source.write(new_key)
                staged.delete()
        if self._data_dir is not None:
            Marker(kid=new_key.kid).write(self._data_dir)
        if instruction is None:
            self._current, self._pending = new_key, None
        return instruction


def _first_key(slots: tuple[KeySlot, ...]) -> tuple[MasterKey | None, KeySlot | None]:
    for slot in slots:
        key = slot.read()
        if key is not None:
            return key, slot
    return None, None


def _create_key(locations: KeyLocations, data_dir: Path) -> tuple[MasterKey, KeySlot]:
    key = MasterKey.generate()
    target = locations.create_target
    if target.kind == "keyring":
        try:
            target.write(key)
        except KeyringError as exc:
            log.warning("could not store the master key in the OS keyring (%s)", exc)
        else:
            log.warning(
                "generated a new master key (id %s) in the %s; back it up: without it the "
                "stored credentials cannot be decrypted",
                key.kid,
                target.description,
            )
            return key, target
    target = FileSlot(data_dir / "master.key")
    target.write(key)
    log.warning(
        "no OS keyring and no SIMPLETRUST_MASTER_KEY: generated a new master key (id %s) in %s "
        "(mode 0600). Anyone who can read that file and the database can read the credentials; "
        "on a server prefer SIMPLETRUST_MASTER_KEY from a secret manager, and back the key up",
        key.kid,
        target.path,
    )
    return key, target
