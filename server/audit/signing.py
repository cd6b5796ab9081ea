"""The Ed25519 key that signs audit checkpoints, kept like the credential master key.

Lookup order: the OS keyring when a real backend exists (entry ``audit-signing-key:<data
dir>``), then ``SIMPLETRUST_AUDIT_SIGNING_KEY``, then ``<data dir>/audit-signing.key`` (mode
0600). A new key goes to the keyring when it is real, else to the key file. Agents sharing one
database should share one signing key (as they share the master key), so an auditor needs one
public key; each checkpoint names the key that signed it all the same.

Keys are text: ``st-audit-ed25519:<base64 of the 32-byte seed>`` (private) and
``ed25519:<base64 of the 32-byte public key>`` (public, what auditors receive).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from keyring.errors import KeyringError

from server.vault.keysource import KEYRING_SERVICE, real_keyring_backend

log = logging.getLogger("simpletrust.audit")

ENV_VAR = "SIMPLETRUST_AUDIT_SIGNING_KEY"
KEY_FILE = "audit-signing.key"
PRIVATE_PREFIX = "st-audit-ed25519:"
PUBLIC_PREFIX = "ed25519:"


class SigningKeyError(Exception):
    """The signing key is missing, unreadable or malformed (never quotes the key)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{what} is not valid base64") from None
    if len(data) != 32:
        raise SigningKeyError(f"{what} must hold 32 bytes, not {len(data)}")
    return data


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def to_text(self) -> str:
        return PUBLIC_PREFIX + _b64(self.raw)

    def verify(self, signature_b64: str, message: bytes) -> bool:
        try:
            self.key.verify(base64.b64decode(signature_b64, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """``ed25519:<base64>`` or a PEM ``PUBLIC KEY`` block."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            try:
                loaded = serialization.load_pem_public_key(text.encode("ascii"))
            except ValueError:
                raise SigningKeyError("the PEM public key cannot be read") from None
            if not isinstance(loaded, Ed25519PublicKey):
                raise SigningKeyError("the PEM public key is not an Ed25519 key")
            return cls(loaded)
        if not text.startswith(PUBLIC_PREFIX):
            raise SigningKeyError(f"a public key starts with {PUBLIC_PREFIX!r} or is PEM")
        raw = _unb64(text.removeprefix(PUBLIC_PREFIX), "the public key")
        return cls(Ed25519PublicKey.from_public_bytes(raw))


@dataclass(frozen=True)
class SigningKey:
    key: Ed25519PrivateKey
    source: str = "explicit key"

    def __repr__(self) -> str:  # never the key material
        return f"SigningKey(key_id={self.public.key_id!r}, source={self.source!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), "generated")

    @classmethod
    def from_text(cls, text: str, source: str) -> SigningKey:
        text = text.strip()
        if not text.startswith(PRIVATE_PREFIX):
            raise SigningKeyError(f"the audit signing key in {source} must start with "
                                  f"{PRIVATE_PREFIX!r}")
        seed = _unb64(text.removeprefix(PRIVATE_PREFIX), f"the audit signing key in {source}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed), source)

    def to_text(self) -> str:
        seed = self.key.private_bytes(serialization.Encoding.Raw,
                                      serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        return PRIVATE_PREFIX + _b64(seed)

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, message: bytes) -> str:
        return _b64(self.key.sign(message))


def _keyring_entry(data_dir: Path) -> str:
    return f"audit-signing-key:{data_dir.resolve()}"


def _read_file(path: Path) -> SigningKey | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"key file {path} is readable by other users (mode "
                              f"{stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    return SigningKey.from_text(path.read_text("ascii"), f"key file {path}")


def _write_file(path: Path, key: SigningKey) -> None:
    """Atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".audit-key-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.to_text() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_signing_key(data_dir: Path, *, create: bool,
                     environ: Mapping[str, str] | None = None) -> SigningKey:
    """Find the signing key of ``data_dir``; with ``create``, make one on first use."""
    env = os.environ if environ is None else environ
    backend = real_keyring_backend()
    entry = _keyring_entry(data_dir)
    if backend is not None:
        try:
            text = backend.get_password(KEYRING_SERVICE, entry)
        except KeyringError as exc:
            log.warning("could not read the audit signing key from the OS keyring: %s",
                        type(exc).__name__)
            text = None
        if text:
            return SigningKey.from_text(text, "the OS keyring")
    if env.get(ENV_VAR, "").strip():
        return SigningKey.from_text(env[ENV_VAR], f"environment variable {ENV_VAR}")
    path = data_dir / KEY_FILE
    found = _read_file(path)
    if found is not None:
        return found
    if not create:
        places = ("the OS keyring, " if backend is not None else "") + f"{ENV_VAR}, {path}"
        raise SigningKeyError(f"no audit signing key found (looked in: {places})")
    key = SigningKey.generate()
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, entry, key.to_text())
            return SigningKey(key.key, "the OS keyring")
        except KeyringError as exc:
            log.warning("could not store the audit signing key in the OS keyring (%s); "
                        "using a key file", type(exc).__name__)
    _write_file(path, key)
    log.info("created the audit signing key %s in %s", key.public.key_id, path)
    return SigningKey(key.key, f"key file {path}")
