"""The vault's exceptions. Messages name the record, the key id or the source, never a secret.

Hierarchy::

    VaultError
    ├── MasterKeyMissingError  no master key where one must exist (never silently regenerated)
    ├── MasterKeyInvalidError  a source holds something that is not a 32-byte key, or an unsafe file
    ├── WrongMasterKey         the loaded key is not the one the credentials were sealed with
    ├── EnvelopeCorruptError   not an envelope, altered, or moved to another record
    └── RotationError          a rotation cannot start or continue safely
"""

from __future__ import annotations


class VaultError(Exception):
    """Base class: something about encrypted credentials that the operator must fix."""


class MasterKeyMissingError(VaultError):
    pass


class MasterKeyInvalidError(VaultError):
    pass


class WrongMasterKey(VaultError):
    pass


class EnvelopeCorruptError(VaultError):
    pass


class RotationError(VaultError):
    pass
