"""The tamper-evident audit trail.

Public API::

    note(session, Note(...))                  # queue an entry; appended at commit
    set_actor(session, principal | name=...)  # whom the session's changes are attributed to
    written_by(session, execution) -> WrittenDigest   # the records a sync wrote
    verify_database(session, public_keys, since) -> VerifyResult
    write_checkpoint(session, signing_key) -> CheckpointRecord | None
    load_signing_key(data_dir, create=...) -> SigningKey
    exporting.collect / render / parse / verify_export

Importing this package installs the session hooks that append entries and revisions.
"""

from server.audit import hooks
from server.audit.chain import Note, note, set_actor
from server.audit.evidence import WrittenDigest, written_by
from server.audit.signing import PublicKey, SigningKey, SigningKeyError, load_signing_key
from server.audit.store import AuditIntegrityError, verify_database, write_checkpoint
from server.audit.verify import VerifyResult

hooks.install()

__all__ = [
    "AuditIntegrityError",
    "Note",
    "PublicKey",
    "SigningKey",
    "SigningKeyError",
    "VerifyResult",
    "WrittenDigest",
    "load_signing_key",
    "note",
    "set_actor",
    "verify_database",
    "write_checkpoint",
    "written_by",
]
