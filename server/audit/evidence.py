"""The content hashes of the records a sync wrote, as one digest the audit entry carries.

``sha256`` over the sorted hex hashes, one per line (each followed by ``\\n``), plus the count.
The hashes are read back from the evidence store, not from memory, so a sync resumed by
another agent process still covers every batch, and anyone can recompute the digest later:
a superseded version keeps the sync that wrote it (``evidence_record_versions.sync_id``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, literal_column, select, union_all
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from server.db.models import EvidenceRecord, EvidenceRecordVersion, SyncExecution

#: Agents' clocks may differ a little; records are looked for from this long before the start.
CLOCK_MARGIN = dt.timedelta(minutes=10)
#: Hashes per chunk read back from SQLite; characters of the prefix PostgreSQL groups by.
CHUNK, PREFIX = 10_000, 2
#: Prefix groups PostgreSQL sends per fetch (each a 256th of the hashes).
ROWS_PER_FETCH = 4
#: Up to this many records processed, PostgreSQL's groups are fetched at once (~65 bytes a
#: record, 650 KB at most): a 240-record sync's ~150 groups took ~40 fetches, each a round
#: trip waiting for the interpreter lock again while a fleet of syncs ended together.
FETCH_AT_ONCE = 10_000


@dataclass(frozen=True)
class WrittenDigest:
    count: int
    sha256: str

    def as_dict(self) -> dict[str, int | str]:
        return {"count": self.count, "sha256": self.sha256,
                "method": "sha256 of sorted content hashes, one per line"}


def digest_of(hashes: list[str]) -> WrittenDigest:
    h = hashlib.sha256()
    for item in sorted(hashes):
        h.update(item.encode("ascii") + b"\n")
    return WrittenDigest(len(hashes), h.hexdigest())


def written_by(session: Session, execution: SyncExecution) -> WrittenDigest:
    """The digest of every record version ``execution`` wrote (deletion marks excluded)."""
    types = sorted({str(s.get("entity_type")) for s in
                    ((execution.stats or {}).get("streams") or {}).values()
                    if isinstance(s, dict) and s.get("entity_type")})
    narrowed = bool(types) and execution.start_time is not None
    params: dict[str, object] = {"sid": execution.id, "iid": execution.instance_id}
    if narrowed:
        assert execution.start_time is not None
        params.update(types=types, since=execution.start_time - CLOCK_MARGIN)
    postgresql = session.get_bind().dialect.name == "postgresql"
    small = postgresql and (execution.records_processed or 0) <= FETCH_AT_ONCE
    stmt = _digest_query(execution.instance_id is not None, narrowed, postgresql, small)
    h = hashlib.sha256()
    count = 0
    if postgresql:
        # A few rows at a time (server-side cursor) unless the sync is small: together the
        # rows hold every hash, ~65 bytes per record, which read at once made the agent's
        # memory grow with the sync.
        rows = session.connection().execute(stmt, params)
        for n, joined in rows:
            h.update(joined.encode("ascii"))
            count += n
        return WrittenDigest(count, h.hexdigest())
    # Stream the hashes in chunks (a million records would otherwise be ~100 MiB), through
    # the session's connection: plain rows, none of the ORM's per-row loading.
    result = session.connection().execute(stmt, params)
    for chunk in result.scalars().partitions():
        h.update("".join([f"{value}\n" for value in chunk]).encode("ascii"))
        count += len(chunk)
    return WrittenDigest(count, h.hexdigest())


@functools.cache
def _digest_query(by_instance: bool, narrowed: bool, postgresql: bool, small: bool = False
                  ) -> Select[Any]:
    """The hashes' query, built once per shape (a statement built anew at every sync's end
    cost more CPU than running it, issue 6); the values are bound at execution."""
    current = select(EvidenceRecord.content_hash.label("h")).where(
        EvidenceRecord.last_sync_id == bindparam("sid"), EvidenceRecord.last_change != "deleted")
    if by_instance:
        current = current.where(EvidenceRecord.instance_id == bindparam("iid"))
    if narrowed:
        # Narrow to what changed since the sync started (an index range, not the instance).
        current = current.where(EvidenceRecord.entity_type.in_(bindparam("types", expanding=True)),
                                EvidenceRecord.updated_at >= bindparam("since"))
    older = select(EvidenceRecordVersion.content_hash.label("h")).where(
        EvidenceRecordVersion.sync_id == bindparam("sid"),
        EvidenceRecordVersion.change != "deleted")
    both = union_all(current, older).subquery()
    if postgresql:
        # PostgreSQL joins the sorted hashes into one text per two-character prefix (byte
        # order, not the locale's; a prefix's group holds a 256th of them): a few hundred rows
        # to read instead of one per record, which cost ~1.5 us of agent CPU per record.
        # Prefix order then order within a prefix is the order of the whole (C collation).
        prefix = func.left(both.c.h, PREFIX).collate("C")
        parts = select(func.count(), func.string_agg(
            both.c.h.concat("\n"), aggregate_order_by(literal(""), both.c.h.collate("C")))
        ).group_by(prefix).order_by(prefix)
        return parts if small else parts.execution_options(yield_per=ROWS_PER_FETCH)
    ordered = select(both.c.h).order_by(literal_column("h"))
    return ordered.execution_options(yield_per=CHUNK)


def recompute(session: Session, sync_id: uuid.UUID) -> WrittenDigest | None:
    execution = session.get(SyncExecution, sync_id)
    return written_by(session, execution) if execution is not None else None
