"""Appending to the hash chain, inside the transaction of the change being audited.

Callers note what happened (:func:`note`); the entries are appended when the session commits
(:mod:`server.audit.hooks`), after every other row of the transaction has been written. The
appender first updates the single ``audit_chain_head`` row: on PostgreSQL that row lock makes
every other agent's append wait until this transaction ends, on SQLite it takes the database's
write lock. Sequence numbers and hashes are then read from a head nobody else can move, so
several agents on one database keep one unbroken chain. The lock is taken last and held only
for the few inserts that follow, so it cannot deadlock with the change's own row locks.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.audit.canonical import (
    GENESIS,
    canonical_details,
    entry_hash,
    entry_payload,
    format_time,
)
from server.db.models import AuditChainHead, AuditEntry, Principal
from server.db.types import utcnow

PENDING = "simpletrust.audit.pending"
ACTOR = "simpletrust.audit.actor"
SYSTEM_ACTOR = "system"
_HEAD = cast(Table, AuditChainHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)


@dataclass
class Note:
    """An entry waiting for the commit that appends it."""

    action: str
    object_type: str
    object_id: str | None
    actor: str | None = None
    before_hash: str | None = None
    after_hash: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    name: str
    principal_id: uuid.UUID | None = None


def set_actor(session: Session, principal: Principal | None = None, *,
              name: str | None = None) -> None:
    """Who the session's changes are attributed to (a principal, or e.g. ``cli:alice``)."""
    if principal is not None:
        session.info[ACTOR] = Actor(principal.name, principal.id)
    elif name:
        session.info[ACTOR] = Actor(name)


def current_actor(session: Session) -> Actor:
    actor = session.info.get(ACTOR)
    return actor if isinstance(actor, Actor) else Actor(SYSTEM_ACTOR)


def note(session: Session, entry: Note) -> None:
    """Queue an entry; it is appended when (and only if) the session's transaction commits."""
    session.info.setdefault(PENDING, []).append(entry)


def take_pending(session: Session) -> list[Note]:
    pending: list[Note] = session.info.pop(PENDING, [])
    return pending


def clear(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(ACTOR, None)


@dataclass
class Head:
    seq: int
    entry_hash: str


def lock_head(session: Session) -> Head:
    """Take the chain lock (held until the transaction ends) and read the head, in one
    statement: every round trip here is one every other agent's append waits for."""
    now = utcnow()
    lock = (update(_HEAD).where(_HEAD.c.id == 1).values(updated_at=now)
            .returning(_HEAD.c.seq, _HEAD.c.entry_hash))
    row = session.execute(lock).first()
    if row is None:
        dialect = session.get_bind().dialect.name
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(make(_HEAD).values(id=1, seq=0, entry_hash=GENESIS, updated_at=now)
                        .on_conflict_do_nothing())
        row = session.execute(lock).one()
    return Head(int(row.seq), str(row.entry_hash))


_MOVE = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("head_seq"), entry_hash=bindparam("head_hash"),
    updated_at=bindparam("head_at"))
_COLUMNS = ("seq", "recorded_at", "actor", "action", "object_type", "object_id", "before_hash",
            "after_hash", "details", "prev_hash", "entry_hash")


@functools.cache
def _append_sql(count: int) -> TextClause:
    """PostgreSQL: ``count`` entries in and the head moved, one statement per count. Text,
    because SQLAlchemy gives an INSERT inside a WITH no cache key: built with its constructs
    it was compiled at every append (tried: the append's CPU doubled)."""
    rows = ", ".join("(" + ", ".join(f":{name}_{n}" for name in _COLUMNS) + ")"
                     for n in range(count))
    # Only the model's own names and a count go into the text; every value is bound.
    sql = (f"WITH appended AS (INSERT INTO {_ENTRIES.name} ({', '.join(_COLUMNS)}) "  # noqa: S608
           f"VALUES {rows}) UPDATE {_HEAD.name} SET seq = :head_seq, "
           "entry_hash = :head_hash, updated_at = :head_at WHERE id = 1")
    return text(sql)


def append(session: Session, head: Head, notes: list[Note]) -> list[dict[str, Any]]:
    """Append ``notes`` after ``head`` (locked by :func:`lock_head`); returns the rows."""
    if not notes:
        return []
    fallback = current_actor(session).name
    rows: list[dict[str, Any]] = []
    seq, prev = head.seq, head.entry_hash
    for item in notes:
        seq += 1
        now = utcnow()
        actor = (item.actor or fallback)[:200]
        object_id = item.object_id[:200] if item.object_id else None
        details = canonical_details(item.details)
        # The stored time is what the hash covers: microseconds, UTC.
        digest = entry_hash(entry_payload(
            seq=seq, time=format_time(now), actor=actor, action=item.action[:100],
            object_type=item.object_type[:64], object_id=object_id,
            before_hash=item.before_hash, after_hash=item.after_hash, details=details,
            prev_hash=prev))
        rows.append({"seq": seq, "recorded_at": now, "actor": actor,
                     "action": item.action[:100], "object_type": item.object_type[:64],
                     "object_id": object_id, "before_hash": item.before_hash,
                     "after_hash": item.after_hash, "details": details, "prev_hash": prev,
                     "entry_hash": digest})
        prev = digest
    moved = {"head_seq": seq, "head_hash": prev, "head_at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        # The entries and the head's move in one statement: one round trip fewer while the
        # head's lock is held and every other append (a fleet's 200 sync starts) waits.
        params = {f"{name}_{n}": row[name] for n, row in enumerate(rows) for name in _COLUMNS}
        session.execute(_append_sql(len(rows)), {**params, **moved})
    else:
        session.execute(insert(_ENTRIES), rows)
        session.execute(_MOVE, moved)
    head.seq, head.entry_hash = seq, prev
    return rows
