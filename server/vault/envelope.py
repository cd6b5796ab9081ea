"""AES-256-GCM envelope encryption: one data key per record, wrapped by the master key.

An envelope is a plain JSON object, so it fits the ``credentials`` JSON column as is::

    {"v": 1, "alg": "A256GCM", "kid": "3f1c9a0b7e2d4c55",
     "dek": "<base64 nonce+wrapped data key>", "nonce": "<base64>", "ct": "<base64>"}

Both the wrapped data key and the ciphertext carry associated data naming the record id, so an
envelope copied onto another row fails to open instead of silently decrypting there. Rotating
the master key re-wraps only ``dek`` (and ``kid``); the ciphertext is untouched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.vault.errors import EnvelopeCorruptError, MasterKeyInvalidError, WrongMasterKey

ENVELOPE_VERSION = 1
ALGORITHM = "A256GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
_ENVELOPE_KEYS = frozenset({"v", "alg", "kid", "dek", "nonce", "ct"})


class MasterKey:
    """A 32-byte master key and its public id (an HMAC fingerprint, not the key)."""

    __slots__ = ("_key", "kid")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyInvalidError(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.kid = hmac.new(key, b"simpletrust master key id", hashlib.sha256).hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_text(cls, text: str, *, source: str) -> MasterKey:
        """Parse the base64 text form; ``source`` names where it came from for the error."""
        value = text.strip()
        try:
            raw = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEY_BYTES:
            raise MasterKeyInvalidError(
                f"{source}: not a master key (expected {KEY_BYTES} bytes as base64, e.g. from "
                "`simpletrust secrets generate-key`)"
            )
        return cls(raw)

    def to_text(self) -> str:
        return base64.urlsafe_b64encode(self._key).decode("ascii")

    @property
    def raw(self) -> bytes:
        return self._key

    def __repr__(self) -> str:
        return f"MasterKey(kid={self.kid!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MasterKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.kid)


def is_envelope(value: object) -> bool:
    """Whether a stored ``credentials`` value looks like a sealed envelope."""
    return isinstance(value, dict) and value.keys() >= _ENVELOPE_KEYS


def without_wrapping(value: Any) -> Any:
    """``value`` with each envelope's key id and wrapped data key left out: what a master key
    rotation does not change (the ciphertext stays), so a digest of it survives rotations."""
    if is_envelope(value):
        return {k: v for k, v in value.items() if k not in ("kid", "dek")}
    if isinstance(value, dict):
        return {k: without_wrapping(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_wrapping(v) for v in value]
    return value


def envelope_kid(envelope: dict[str, Any]) -> str:
    kid = envelope.get("kid")
    if not isinstance(kid, str):
        raise EnvelopeCorruptError("credentials envelope has no key id")
    return kid


def _dek_aad(record_id: str, kid: str) -> bytes:
    return f"simpletrust/dek/v{ENVELOPE_VERSION}\x00{kid}\x00{record_id}".encode()


def _data_aad(record_id: str) -> bytes:
    return f"simpletrust/credentials/v{ENVELOPE_VERSION}\x00{record_id}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(envelope: dict[str, Any], name: str, record_id: str) -> bytes:
    value = envelope.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeCorruptError(
            f"credentials of record {record_id}: envelope field {name!r} is damaged"
        ) from None


def _wrap(master: MasterKey, dek: bytes, record_id: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + AESGCM(master.raw).encrypt(nonce, dek, _dek_aad(record_id, master.kid)))


def _unwrap(master: MasterKey, envelope: dict[str, Any], record_id: str) -> bytes:
    blob = _unb64(envelope, "dek", record_id)
    try:
        return AESGCM(master.raw).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _dek_aad(record_id, master.kid)
        )
    except InvalidTag:
        raise EnvelopeCorruptError(
            f"credentials of record {record_id} do not open with master key {master.kid}: the "
            "envelope was altered or copied from another record"
        ) from None


def _check_shape(envelope: object, record_id: str) -> dict[str, Any]:
    if not is_envelope(envelope):
        raise EnvelopeCorruptError(
            f"credentials of record {record_id} are not an encrypted envelope"
        )
    assert isinstance(envelope, dict)
    if envelope["v"] != ENVELOPE_VERSION or envelope["alg"] != ALGORITHM:
        raise EnvelopeCorruptError(
            f"credentials of record {record_id}: unsupported envelope "
            f"v={envelope['v']!r} alg={envelope['alg']!r}"
        )
    return envelope


def seal(master: MasterKey, record_id: str, secret: dict[str, Any]) -> dict[str, Any]:
    """Encrypt a JSON-serialisable dict for one record under a fresh data key."""
    if not record_id:
        raise ValueError("record_id must be the record's id (it binds the ciphertext to the row)")
    plaintext = json.dumps(secret, separators=(",", ":"), sort_keys=True).encode()
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _data_aad(record_id))
    return {
        "v": ENVELOPE_VERSION,
        "alg": ALGORITHM,
        "kid": master.kid,
        "dek": _wrap(master, dek, record_id),
        "nonce": _b64(nonce),
        "ct": _b64(ciphertext),
    }


def open_envelope(keys: dict[str, MasterKey], record_id: str, envelope: object) -> dict[str, Any]:
    """Decrypt with whichever of ``keys`` (by key id) sealed the envelope."""
    env = _check_shape(envelope, record_id)
    kid = envelope_kid(env)
    master = keys.get(kid)
    if master is None:
        raise WrongMasterKey(
            f"credentials of record {record_id} were sealed with master key {kid}, but the "
            f"loaded master key is {', '.join(sorted(keys)) or 'none'}; load the master key "
            "these credentials were sealed with"
        )
    dek = _unwrap(master, env, record_id)
    try:
        plaintext = AESGCM(dek).decrypt(
            _unb64(env, "nonce", record_id), _unb64(env, "ct", record_id), _data_aad(record_id)
        )
    except InvalidTag:
        raise EnvelopeCorruptError(
            f"credentials of record {record_id} do not decrypt: the envelope was altered or "
            "copied from another record"
        ) from None
    value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise EnvelopeCorruptError(f"credentials of record {record_id} do not hold an object")
    return value


def rewrap(old: MasterKey, new: MasterKey, record_id: str, envelope: object) -> dict[str, Any]:
    """The same envelope with its data key wrapped by ``new`` instead of ``old``."""
    env = _check_shape(envelope, record_id)
    if envelope_kid(env) != old.kid:
        raise WrongMasterKey(
            f"credentials of record {record_id} were sealed with master key {env['kid']}, "
            f"not {old.kid}"
        )
    dek = _unwrap(old, env, record_id)
    return {**env, "kid": new.kid, "dek": _wrap(new, dek, record_id)}


def check_unwraps(master: MasterKey, record_id: str, envelope: object) -> None:
    """Prove ``master`` unwraps this envelope's data key (used before a rotation writes)."""
    _unwrap(master, _check_shape(envelope, record_id), record_id)
