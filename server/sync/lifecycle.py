"""The two transactions that open and close a sync execution.

``begin`` claims the execution for this agent, checks the circuit breaker and builds the
connector (for a slot this agent's scheduler claims, :func:`begin_claimed` does it in the
claim's transaction); ``finish`` records the outcome, the audit entry, the events and the monitoring
hooks. They run once per sync whatever its size, so a fleet of small syncs is bound by them
(bench/ratelimit_bench.py); the batch-by-batch path stays in :mod:`server.sync.engine`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from connectors.sdk import ConnectorError
from connectors.sdk.connector import Connector
from server import audit
from server.audit import hooks as audit_hooks
from server.db.models import (
    AuthenticationConfig,
    IntegrationInstance,
    LogType,
    SyncExecution,
    SyncStatus,
)
from server.db.types import utcnow
from server.events.emit import (
    emit,
    emit_many,
    emit_sync_finished,
    event_row,
    sync_finished_rows,
)
from server.monitoring import hooks as monitoring_hooks
from server.monitoring import recovery
from server.services import activity
from server.sync import store
from server.sync.runtime import build_connector, execution_for_sync

if TYPE_CHECKING:
    from server.sync.engine import SyncEngine

#: What :func:`begin` returns: the connector (None: the sync ended there), the selected
#: streams, the counts of streams done before, the status.
Begun = tuple[Connector[Any] | None, list[str], dict[str, store.Counts], SyncStatus]

#: Syncs begun in their slot's claim (:func:`begin_claimed`), by execution id, until their
#: own :func:`begin` takes the result (this process's syncs; ids are unique).
_begun: dict[uuid.UUID, Begun] = {}


_INSTANCES = cast(Table, IntegrationInstance.__table__)
_EXECUTIONS = cast(Table, SyncExecution.__table__)
_CONNECTED = (update(_INSTANCES).where(_INSTANCES.c.id == bindparam("iid"))
              .values(last_connected=bindparam("now"), updated_at=bindparam("now")))


def _write(session: Session, execution: SyncExecution, **values: Any) -> None:
    """Write ``values`` to the execution's row now, by a plain UPDATE, and to the object as
    its loaded state. Nothing hooks into an execution's flush; as ORM changes these made a
    unit-of-work flush of their own at every sync's start and end."""
    session.connection().execute(_update_statement(tuple(values)),
                                 {"eid": execution.id, **{f"v_{k}": v for k, v in values.items()}})
    for name, value in values.items():
        set_committed_value(execution, name, value)


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> Update:
    """The UPDATE of these execution columns, built once (values bound at execution)."""
    return (update(_EXECUTIONS).where(_EXECUTIONS.c.id == bindparam("eid"))
            .values({name: bindparam(f"v_{name}") for name in columns}))


def _connected(session: Session, instance: IntegrationInstance) -> None:
    """``last_connected = now`` as a plain UPDATE: runtime state, not configuration. As an ORM
    change it made the audit hooks read the instance's latest revision and hash a snapshot of
    it at every sync's end, to find that no revision was due."""
    now = utcnow()
    session.connection().execute(_CONNECTED, {"iid": instance.id, "now": now})
    set_committed_value(instance, "last_connected", now)
    set_committed_value(instance, "updated_at", now)


def counts_of(saved: dict[str, Any]) -> store.Counts:
    """Counts saved in an execution's stats."""
    counts = store.Counts()
    for name in counts.as_dict():
        setattr(counts, name, int(saved.get(name) or 0))
    return counts


def begin(
    engine: SyncEngine, execution_id: uuid.UUID, started: dict[str, Any] | None = None
) -> Begun:
    """Mark the execution running for this agent and build its connector. Returns the
    connector (None if the sync ended here: breaker open or connector refused), the selected
    streams, the counts of streams a resumed sync had finished, and the status.

    ``started``: the ``sync.started`` payload of a sync this agent's scheduler just claimed
    (:class:`server.agents.claims.FreshClaims`), written here. It was the start gate's only
    work for such a sync: a thread-pool trip and a transaction of its own for one insert, 200
    of them queued ahead of the syncs' starts when 200 slots came due."""
    begun = take_begun(execution_id)
    if begun is not None:  # begun in its slot's claim (begin_claimed): nothing left to do
        return begun
    with engine.session_factory() as session:
        found = execution_for_sync(session, execution_id)
        if found is None:
            raise LookupError(f"no sync execution {execution_id}")
        execution, instance = found
        if started is not None:
            emit(session, "sync.started", started, dedupe_key=f"sync.started:{execution_id}",
                 instance_id=execution.instance_id)
        resuming = execution.status == SyncStatus.RUNNING
        now = utcnow()
        _write(session, execution, status=SyncStatus.RUNNING, agent_id=engine.agent_id,
               lease_expires_at=now + engine.lease, **({} if resuming else {"start_time": now}))
        skipped = recovery.blocked(session, instance, execution, now)
        if skipped is not None:  # the circuit breaker is open: no work, no noise
            session.commit()
            finish(engine, execution_id, store.Counts(), SyncStatus.CANCELLED,
                   {"category": "circuit_breaker", "message": skipped})
            return None, [], {}, SyncStatus.CANCELLED
        activity.record_now(
            session, "sync.resume" if resuming else "sync.start",
            f"sync {'resumed' if resuming else 'started'} ({execution.trigger_type.value})",
            instance_id=instance.id, sync_id=execution.id)
        try:
            connector = build_connector(session, engine.registry, engine.vault, instance,
                                        **engine._context_options())
        except ConnectorError as exc:
            session.commit()
            finish(engine, execution_id, store.Counts(), SyncStatus.FAILED, exc.to_dict())
            return None, [], {}, SyncStatus.FAILED
        session.commit()
        streams = list((execution.options or {}).get("streams") or [])
        stats = execution.stats or {}
        done = {name: counts_of(s) for name, s in (stats.get("streams") or {}).items()
                if s.get("done")}
        return connector, streams, done, SyncStatus.RUNNING


def begin_claimed(
    engine: SyncEngine, session: Session,
    claimed: Sequence[tuple[SyncExecution, IntegrationInstance, dict[str, Any]]],
) -> list[Begun | None]:
    """:func:`begin`'s work for executions this agent's scheduler is claiming, in the claims'
    transaction (the caller commits, then :func:`hand_over`): the same rows, events, logs and
    audit entries, without a transaction, a thread-pool trip and a read of the execution, its
    instance and breaker of their own (issue 6: 200 slots due together claimed, then began,
    the beginnings a second of the agent's CPU before the last sync's first request). The
    slots of one tick are begun together: one statement per kind of row, not one per sync.

    For each execution (given with its instance, breaker known to the session, and its
    ``sync.started`` payload) what to hand over, or None with none of it written: the breaker
    is open or the connector cannot be built (whatever the error); the sync's own
    :func:`begin` meets it as before, and the claim stands. The claim wrote owner and lease."""
    begun: list[Begun | None] = []
    starting: list[tuple[SyncExecution, IntegrationInstance, dict[str, Any]]] = []
    for execution, instance, started in claimed:
        if recovery.blocked(session, instance, execution, execution.start_time) is not None:
            begun.append(None)
            continue
        try:
            connector = build_connector(session, engine.registry, engine.vault, instance,
                                        **engine._context_options())
        except Exception:  # noqa: BLE001 - whatever it is, begin meets it as before the claim
            begun.append(None)  # (a failure here must not undo the claim: it would be retried)
            continue
        starting.append((execution, instance, started))
        begun.append((connector, list((execution.options or {}).get("streams") or []), {},
                      SyncStatus.RUNNING))
    if not starting:
        return begun
    now = utcnow()
    session.connection().execute(_update_statement(("status", "start_time")), [
        {"eid": execution.id, "v_status": SyncStatus.RUNNING, "v_start_time": now}
        for execution, _, _ in starting])
    emit_many(session, [event_row("sync.started", started,
                                  dedupe_key=f"sync.started:{execution.id}",
                                  instance_id=execution.instance_id, now=now)
                        for execution, _, started in starting])
    activity.record_many(session, [
        activity.Entry("sync.start", f"sync started ({execution.trigger_type.value})",
                       instance_id=instance.id, sync_id=execution.id)
        for execution, instance, _ in starting])
    for execution, instance, _ in starting:
        set_committed_value(execution, "status", SyncStatus.RUNNING)
        set_committed_value(execution, "start_time", now)
        if instance.auth_config_id is not None:
            auth = session.get(AuthenticationConfig, instance.auth_config_id)
            if auth is not None:
                audit_hooks.credential_used(session, auth, action="sync.start",
                                            object_type="sync", object_id=str(execution.id))
    return begun


def hand_over(execution_id: uuid.UUID, begun: Begun) -> None:
    """After the claim committed: the sync's :func:`begin` returns ``begun``."""
    _begun[execution_id] = begun


def take_begun(execution_id: uuid.UUID) -> Begun | None:
    """What the claim began for the execution (once), or None: :func:`begin` it."""
    return _begun.pop(execution_id, None)


def finish(
    engine: SyncEngine, execution_id: uuid.UUID, total: store.Counts, status: SyncStatus,
    error: dict[str, Any] | None, request_rows: list[dict[str, Any]] | None = None,
) -> None:
    """Close the execution with ``status`` (unless another agent took it over)."""
    with engine.session_factory() as session:
        found = execution_for_sync(session, execution_id, lock=True)
        assert found is not None
        execution, instance = found
        if execution.agent_id not in (None, engine.agent_id):
            return  # taken over: the new owner finishes it
        finish_in(engine, session, execution, instance, status, error, request_rows or [])
        session.commit()


def finish_in(
    engine: SyncEngine, session: Session, execution: SyncExecution,
    instance: IntegrationInstance, status: SyncStatus, error: dict[str, Any] | None,
    request_rows: list[dict[str, Any]], *, forget_seen: bool = True,
    values: dict[str, Any] | None = None,
) -> None:
    """:func:`finish`'s writes in the caller's transaction, the execution's row locked by the
    caller (the sync's last batch finishes it in its own transaction: the end of 200 syncs
    ending together was their two transactions each, ~27 round trips a sync, issue 6).
    ``values``: more columns of the execution to write with its end (the batch's counts);
    ``forget_seen``: False when the caller knows no seen-key note is left."""
    ended: dict[str, Any] = {**(values or {}), "status": status, "end_time": utcnow(),
                             "lease_expires_at": None}
    if error is not None:
        ended["error_details"] = {**(execution.error_details or {}), **error}
    _write(session, execution, **ended)
    if status == SyncStatus.COMPLETED:
        _connected(session, instance)
    log_type, message = _outcome(status, execution.stats or {}, error)
    if status != SyncStatus.FAILED and forget_seen:  # a failed sync keeps them for its retry
        store.forget_seen(session, execution.id)
    activity.record_now(session, f"sync.{status.value}", message, log_type=log_type,
                        instance_id=execution.instance_id, sync_id=execution.id,
                        details=_log_details(session, execution, error))
    emit_sync_finished(session, execution, instance)  # sync.* and record.* events
    # Issue 7: samples, circuit breaker, tasks, alerts.
    monitoring_hooks.sync_finished(session, execution, instance, error, request_rows,
                                   engine.monitoring)


def complete_many(
    engine: SyncEngine, session: Session,
    ended: Sequence[tuple[SyncExecution, IntegrationInstance, list[dict[str, Any]]]],
    values: Sequence[dict[str, Any]],
) -> None:
    """:func:`finish_in` (completed, no seen-key note left) for syncs whose last batches are
    written together (:mod:`server.sync.ending`), their rows locked by the caller: the same
    rows, events, logs, samples and audit entries, one statement per kind of row, not one per
    sync. ``values``: each execution's counts, written with its end."""
    if not ended:
        return
    now = utcnow()
    done = {"status": SyncStatus.COMPLETED, "end_time": now, "lease_expires_at": None}
    written = [{**more, **done} for more in values]
    session.connection().execute(_update_statement(tuple(written[0])), [
        {"eid": execution.id, **{f"v_{k}": v for k, v in columns.items()}}
        for (execution, _, _), columns in zip(ended, written, strict=True)])
    for (execution, _, _), columns in zip(ended, written, strict=True):
        for name, value in columns.items():
            set_committed_value(execution, name, value)
    instances = sorted({instance.id: instance for _, instance, _ in ended}.values(),
                       key=lambda i: i.id)  # (rows locked in id order)
    session.connection().execute(_CONNECTED, [{"iid": i.id, "now": now} for i in instances])
    for instance in instances:
        set_committed_value(instance, "last_connected", now)
        set_committed_value(instance, "updated_at", now)
    entries = []
    events: list[dict[str, Any]] = []
    for execution, instance, _ in ended:
        log_type, message = _outcome(SyncStatus.COMPLETED, execution.stats or {}, None)
        entries.append(activity.Entry(
            "sync.completed", message, instance_id=execution.instance_id, log_type=log_type,
            details=_log_details(session, execution, None), sync_id=execution.id))
        events += sync_finished_rows(execution, instance, now=now)
    activity.record_many(session, entries)
    emit_many(session, events)
    monitoring_hooks.syncs_completed(session, list(ended), engine.monitoring)


def _outcome(status: SyncStatus, stats: dict[str, Any], error: dict[str, Any] | None
             ) -> tuple[LogType, str]:
    """The log entry's type and message for a sync that ended with ``status``."""
    if status == SyncStatus.FAILED:
        return LogType.ERROR, f"sync failed: {(error or {}).get('message', 'unknown error')}"
    summary = ", ".join(f"{stats.get(k, 0)} {k}" for k in
                        ("created", "updated", "unchanged", "deleted", "failed"))
    if status == SyncStatus.COMPLETED:
        return LogType.SUCCESS, f"sync completed: {summary}"
    return LogType.WARNING, f"sync cancelled: {summary}"


def _log_details(session: Session, execution: SyncExecution, error: dict[str, Any] | None
                 ) -> dict[str, Any]:
    """The end's log details; the audit entry carries a digest of the content hashes this
    sync wrote."""
    written = audit.written_by(session, execution)
    return {"stats": execution.stats or {}, "written": written.as_dict(),
            **({"error": error} if error else {})}
