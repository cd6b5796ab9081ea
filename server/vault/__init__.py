"""Credential vault: envelope encryption of ``AuthenticationConfig.credentials``.

Public API::

    Vault.load(data_dir, create=True) -> Vault
    vault.seal(record_id, secret_dict) -> envelope dict
    vault.open(record_id, envelope) -> secret dict
    rotate_master_key(session_factory, vault, new_key) -> RotationReport
"""

from server.vault.envelope import MasterKey, is_envelope
from server.vault.errors import (
    EnvelopeCorruptError,
    MasterKeyInvalidError,
    MasterKeyMissingError,
    RotationError,
    VaultError,
    WrongMasterKey,
)
from server.vault.rotation import RotationReport, rotate_master_key
from server.vault.vault import Vault, VaultStatus

__all__ = [
    "EnvelopeCorruptError",
    "MasterKey",
    "MasterKeyInvalidError",
    "MasterKeyMissingError",
    "RotationError",
    "RotationReport",
    "Vault",
    "VaultError",
    "VaultStatus",
    "WrongMasterKey",
    "is_envelope",
    "rotate_master_key",
]
