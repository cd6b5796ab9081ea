"""Reading the chain from the database, verifying it there, and signing checkpoints."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit.canonical import checkpoint_message, format_time
from server.audit.chain import lock_head
from server.audit.signing import PublicKey, SigningKey
from server.audit.verify import (
    Anchor,
    CheckpointRecord,
    EntryRecord,
    VerifyResult,
    verify_chain,
)
from server.db.models import AuditChainHead, AuditCheckpoint, AuditEntry
from server.db.types import utcnow

log = logging.getLogger("simpletrust.audit")


class AuditIntegrityError(Exception):
    """The chain does not verify: no checkpoint is signed over it."""


def entry_record(row: AuditEntry) -> EntryRecord:
    return EntryRecord(
        seq=int(row.seq), time=format_time(row.recorded_at), actor=row.actor, action=row.action,
        object_type=row.object_type, object_id=row.object_id, before_hash=row.before_hash,
        after_hash=row.after_hash, details=row.details, prev_hash=row.prev_hash,
        entry_hash=row.entry_hash)


def checkpoint_record(row: AuditCheckpoint) -> CheckpointRecord:
    return CheckpointRecord(seq=int(row.seq), entry_hash=row.entry_hash,
                            time=format_time(row.signed_at), key_id=row.key_id,
                            public_key=row.public_key, signature=row.signature)


def read_head(session: Session) -> Anchor | None:
    row = session.get(AuditChainHead, 1)
    return Anchor(int(row.seq), row.entry_hash) if row is not None else None


def first_seq_since(session: Session, since: dt.datetime) -> int | None:
    value = session.scalar(select(func.min(AuditEntry.seq))
                           .where(AuditEntry.recorded_at >= since))
    return int(value) if value is not None else None


def load_entries(session: Session, from_seq: int | None = None,
                 to_seq: int | None = None) -> list[EntryRecord]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq)
    if from_seq is not None:
        stmt = stmt.where(AuditEntry.seq >= from_seq)
    if to_seq is not None:
        stmt = stmt.where(AuditEntry.seq <= to_seq)
    return [entry_record(r) for r in session.scalars(stmt)]


def load_checkpoints(session: Session, from_seq: int | None = None,
                     to_seq: int | None = None) -> list[CheckpointRecord]:
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.key_id)
    if from_seq is not None:
        stmt = stmt.where(AuditCheckpoint.seq >= from_seq)
    if to_seq is not None:
        stmt = stmt.where(AuditCheckpoint.seq <= to_seq)
    return [checkpoint_record(r) for r in session.scalars(stmt)]


def anchor_before(session: Session, seq: int) -> Anchor | None:
    """The stored hash of the entry before ``seq`` (where a partial verification starts)."""
    if seq <= 1:
        return None
    row = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq - 1))
    return Anchor(seq - 1, row) if row is not None else Anchor(seq - 1, "")


def verify_database(session: Session, public_keys: Sequence[PublicKey],
                    since: dt.datetime | None = None) -> VerifyResult:
    """Verify the whole chain, or the part recorded since ``since``, against the head."""
    start = first_seq_since(session, since) if since is not None else None
    if since is not None and start is None:
        result = VerifyResult(0, None, None, 0)
        result.warnings.append(f"no entries recorded since {since.isoformat()}")
        return result
    anchor = anchor_before(session, start) if start is not None else None
    entries = load_entries(session, start)
    checkpoints = load_checkpoints(session, start)
    head = read_head(session) or Anchor(0, "")
    return verify_chain(entries, checkpoints, public_keys, anchor=anchor, head=head)


def write_checkpoint(session: Session, key: SigningKey) -> CheckpointRecord | None:
    """Sign the current head, after verifying everything since this key's last checkpoint.

    Returns None when nothing was appended since; raises :class:`AuditIntegrityError` (and
    signs nothing) when the chain does not verify. Commits.
    """
    public = key.public
    head = lock_head(session)
    if head.seq == 0:
        session.rollback()
        return None
    last = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.key_id == public.key_id)
                          .order_by(AuditCheckpoint.seq.desc()).limit(1))
    if last is not None and last.seq >= head.seq:
        session.rollback()
        return None
    start = int(last.seq) + 1 if last is not None else None
    anchor = Anchor(int(last.seq), last.entry_hash) if last is not None else None
    result = verify_chain(load_entries(session, start), [], [], anchor=anchor,
                          head=Anchor(head.seq, head.entry_hash))
    if result.problem is not None:
        session.rollback()
        raise AuditIntegrityError(result.summary())
    now = utcnow()
    signature = key.sign(checkpoint_message(head.seq, head.entry_hash, format_time(now)))
    row = AuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash, signed_at=now,
                          key_id=public.key_id, public_key=public.to_text(), signature=signature)
    session.add(row)
    session.commit()
    return checkpoint_record(row)
