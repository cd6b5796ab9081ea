"""Sync leases: who runs an execution, renewed by heartbeats, taken over when they lapse.

Every claim is one conditional UPDATE … RETURNING. On PostgreSQL two agents updating the same
row serialise on its lock, and the second re-checks the condition after the first commits, so
exactly one agent takes an execution over. The sync engine fences its own writes with the
same row (it stops when the execution no longer names it).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from server.db.models import IntegrationInstance, SyncExecution, SyncStatus
from server.db.types import utcnow
from server.events.emit import emit, emit_sync_started

ACTIVE = (SyncStatus.PENDING, SyncStatus.RUNNING)


def claim_orphans(session: Session, agent_id: str, now: dt.datetime, lease: dt.timedelta,
                  *, limit: int = 50, own: bool = False) -> list[uuid.UUID]:
    """Take over active executions whose lease lapsed (or that never had one for a while,
    e.g. created by an agent that died before starting them); commits.

    ``own``: also those still naming this agent (at start-up: this agent was killed and its
    id is stable, so it resumes its syncs without waiting for the leases).
    """
    grace = now - 2 * lease
    lapsed = or_(
        SyncExecution.lease_expires_at < now,
        and_(SyncExecution.lease_expires_at.is_(None), SyncExecution.created_at < grace),
        *([SyncExecution.agent_id == agent_id] if own else []),
    )
    candidates = session.scalars(
        SyncExecution.__table__.select().with_only_columns(SyncExecution.id)
        .where(SyncExecution.status.in_(ACTIVE), lapsed).limit(limit)).all()
    taken: list[uuid.UUID] = []
    for execution_id in candidates:
        row = session.execute(
            update(SyncExecution)
            .where(SyncExecution.id == execution_id, SyncExecution.status.in_(ACTIVE), lapsed)
            .values(agent_id=agent_id, lease_expires_at=now + lease)
            .returning(SyncExecution.id)
            .execution_options(synchronize_session=False)).first()
        session.commit()  # one row at a time: never hold several row locks
        if row is not None:
            taken.append(row[0])
    return taken


def claim_to_start(session: Session, execution_id: uuid.UUID, agent_id: str,
                   now: dt.datetime, lease: dt.timedelta) -> bool:
    """Right before running: own the execution unless another live agent does; commits."""
    row = session.execute(
        update(SyncExecution)
        .where(SyncExecution.id == execution_id, SyncExecution.status.in_(ACTIVE),
               or_(SyncExecution.agent_id.is_(None), SyncExecution.agent_id == agent_id,
                   SyncExecution.lease_expires_at.is_(None),
                   SyncExecution.lease_expires_at < now))
        .values(agent_id=agent_id, lease_expires_at=now + lease)
        .returning(SyncExecution.id)
        .execution_options(synchronize_session=False)).first()
    if row is not None:
        execution = session.get(SyncExecution, execution_id)
        assert execution is not None
        instance = session.get(IntegrationInstance, execution.instance_id)
        emit_sync_started(session, execution, instance)  # once per execution (dedupe key)
    session.commit()
    return row is not None


def renew_leases(session: Session, agent_id: str, execution_ids: Collection[uuid.UUID],
                 now: dt.datetime, lease: dt.timedelta,
                 every: dt.timedelta = dt.timedelta(0)) -> int:
    """Extend the leases of the executions this agent runs or has queued; commits.

    ``every``: how often this is called. A lease extended since the last call (a sync's batch
    extends its own) still has more than ``lease - every`` to run and is left alone, if that
    keeps two calls' margin (``lease > 3 * every``): each renewal rewrites an execution row,
    a new row version in PostgreSQL, 200 a second for a fleet of 200 syncs (issue 6)."""
    if not execution_ids:
        return 0
    renew: ColumnElement[bool] = SyncExecution.id.in_(list(execution_ids))
    if every > dt.timedelta(0) and lease > 3 * every:
        renew = and_(renew, or_(SyncExecution.lease_expires_at.is_(None),
                                SyncExecution.lease_expires_at < now + lease - every))
    result = session.execute(
        update(SyncExecution)
        .where(renew, SyncExecution.status.in_(ACTIVE),
               or_(SyncExecution.agent_id.is_(None), SyncExecution.agent_id == agent_id))
        .values(agent_id=agent_id, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


class FreshClaims:
    """Executions this agent's scheduler just created, owned and leased, with the payload of
    their ``sync.started`` event (read from the rows the claim had in hand).

    The start gate of such an execution needs no claim: nobody can take it over before its
    lease lapses. It only writes the event, one insert instead of a claim's update and three
    reads; with 200 slots due together the gates of every claimed sync ran, six at a time,
    before the first sync could begin (issue 6).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[uuid.UUID, tuple[float, dict[str, Any]]] = {}

    def add(self, execution_id: uuid.UUID, started_event: dict[str, Any]) -> None:
        with self._lock:
            self._items[execution_id] = (time.monotonic(), started_event)

    def take(self, execution_id: uuid.UUID, within: float) -> dict[str, Any] | None:
        """The event of a claim made less than ``within`` seconds ago (else None: claim)."""
        with self._lock:
            item = self._items.pop(execution_id, None)
        if item is None or time.monotonic() - item[0] >= within:
            return None
        return item[1]


def gate_for(session_factory: sessionmaker[Session], agent_id: str, lease: dt.timedelta,
             fresh: FreshClaims | None = None) -> Callable[[uuid.UUID], bool]:
    """The SyncManager's start gate: run an execution only once this agent owns it.

    ``fresh``: executions claimed with their slot less than half a lease ago are owned (the
    claim wrote this agent and the lease): only their ``sync.started`` event is written.
    """
    def gate(execution_id: uuid.UUID) -> bool:
        started = fresh.take(execution_id, lease.total_seconds() / 2) if fresh else None
        with session_factory() as session:
            if started is not None:
                emit(session, "sync.started", started,
                     dedupe_key=f"sync.started:{execution_id}",
                     instance_id=uuid.UUID(started["instance_id"]))
                session.commit()
                return True
            return claim_to_start(session, execution_id, agent_id, utcnow(), lease)
    return gate
