"""Run one sync execution: every selected stream, batch by batch, resumable at any point.

For each stream: read records from the connector, map each to its canonical entity (a record
that fails goes to the dead-letter table and counts as failed, never failing the sync), upsert
the batch, and commit it together with the stream's checkpoint. A full refresh then marks the
records it did not see as deleted. Database work runs in a thread so the agent's event loop (its
API) stays responsive while a sync writes.

Failures are handled by class (:mod:`server.monitoring.recovery`): a stream that fails with a
transient error is retried from its last checkpoint with backoff, a rate limit is waited out,
refused credentials are refreshed once; when the sync ends, the monitoring hook records its
metrics, runs the circuit breaker and evaluates the instance's alerts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, KeysView
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

from connectors.sdk import (
    ConnectorError,
    RecordMessage,
    SkippedRecordMessage,
    StateMessage,
    StreamDescriptor,
    SyncMode,
)
from connectors.sdk.auth.oauth import OAuth2Auth
from connectors.sdk.connector import Connector
from connectors.sdk.http import RetryPolicy
from server.db.models import (
    DataMapping,
    DeadLetter,
    IntegrationInstance,
    LogType,
    StreamState,
    SyncExecution,
    SyncStatus,
)
from server.db.types import utcnow
from server.events.emit import emit
from server.monitoring import recovery, samples
from server.monitoring.config import MonitoringConfig
from server.services import activity
from server.services.registry import Registry
from server.sync import collector, lifecycle, store
from server.sync import ending as ending_
from server.sync.mappings import (
    ResolvedMapping,
    StoredMapping,
    active_inbound_id,
    default_entity,
    resolve_stored,
)
from server.sync.runtime import build_connector, execution_for_sync
from server.vault import Vault

log = logging.getLogger(__name__)

#: Records per transaction. Each batch also writes its counts, lease and samples: at 1,000
#: that per-batch work was several microseconds per record; 5,000 keeps a batch a few MB.
DEFAULT_BATCH = 5000
#: Batches written at once, each on its own connection, committing in order: while one waits
#: for its commit (or for the interpreter lock, which the read loop holds while it maps), the
#: next one's records are already going into PostgreSQL.
IN_FLIGHT = 2
LEASE = dt.timedelta(seconds=60)
Progress = Callable[[dict[str, Any]], None]


#: The GIL switch interval while a sync runs. The writer thread gives the GIL back during
#: every PostgreSQL round trip and then waits for the read loop, which holds it while it
#: parses and maps, to be forced to drop it: up to the interval (5 ms by default) per round
#: trip. Measured (200,000 records, load ~5): trivial statements of the writer took 6-19 ms
#: each at 5 ms and 3-10 ms at 1 ms.
SWITCH_INTERVAL = 0.001


class _SwitchInterval:
    """A shorter GIL switch interval while at least one sync runs in this process."""

    running = 0
    default = sys.getswitchinterval()

    @classmethod
    @contextlib.contextmanager
    def short(cls) -> Iterator[None]:
        if cls.running == 0:
            cls.default = sys.getswitchinterval()
            sys.setswitchinterval(min(cls.default, SWITCH_INTERVAL))
        cls.running += 1
        try:
            yield
        finally:
            cls.running -= 1
            if cls.running == 0:
                sys.setswitchinterval(cls.default)


class SyncCancelled(Exception):
    """A person asked the running sync to stop."""


class LeaseLost(Exception):
    """Another agent took the execution over (this one missed its lease): stop, write nothing."""


@dataclass
class StreamRun:
    """What the engine holds for the stream being read (bounded by the batch size)."""

    name: str
    scope: store.Scope
    mapping: ResolvedMapping | None
    primary_key: tuple[str, ...]
    full_refresh: bool
    buffer: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    counts: store.Counts = field(default_factory=store.Counts)
    #: The sync's last stream: its last batch ends the sync in its own transaction, and
    #: ``sync_finished`` says it did (see lifecycle.finish_in).
    ends_sync: bool = False
    sync_finished: bool = False
    #: Seen-key notes written for this stream (a full refresh's unchanged records).
    seen_noted: bool = False
    written_since_analyze: int = 0
    #: Written since the last committed checkpoint: a retry of the stream reads them again.
    since_checkpoint: store.Counts = field(default_factory=store.Counts)
    dead_since_checkpoint: list[uuid.UUID] = field(default_factory=list)
    #: Records a retry will read again that were already counted (absorbed as they come).
    reread: int = 0
    #: The scope held no record when the stream was opened: batches are inserted without
    #: looking up existing rows until a key collides (store.upsert_batch ``assume_new``).
    fresh: bool = False
    #: The scope was empty when this attempt opened the stream: every record of the stream is
    #: then one this attempt wrote, so a full refresh has no unseen record to look for.
    started_empty: bool = False

    def take(self, counts: store.Counts) -> store.Counts:
        """Add a batch's counts, less the unchanged records a retry read again (its own
        writes, counted before); returns the batch's counts as written."""
        raw = store.Counts()
        raw.add(counts)
        absorbed = min(self.reread, counts.unchanged)  # a retry reading its own writes
        counts.unchanged -= absorbed
        self.reread -= absorbed
        self.counts.add(counts)
        return raw

    def committed(self, raw: store.Counts, dead_ids: list[uuid.UUID], *, checkpoint: bool
                  ) -> None:
        """A batch was committed, with a checkpoint or without one."""
        if checkpoint:
            self.since_checkpoint, self.dead_since_checkpoint = store.Counts(), []
        else:
            self.since_checkpoint.add(raw)
            self.dead_since_checkpoint += dead_ids


@dataclass
class OpenedStream:
    run: StreamRun
    state: dict[str, Any] | None
    mode: SyncMode


#: How long a batch written early waits for the one before to commit before it rolls back and
#: is written again after it: a lock the batch before needs and this one holds (none is known:
#: see _write_transaction) would otherwise be a deadlock PostgreSQL cannot see.
TURN_TIMEOUT = 30.0
_EXECUTIONS = cast(Table, SyncExecution.__table__)
_STATES = cast(Table, StreamState.__table__)
#: A batch's read of its execution (owner, counts so far, cancel) and its update of the
#: counts and lease: plain statements, built once. As an ORM load (populate_existing) and a
#: unit-of-work flush at the commit they were most of the final batch's own statements'
#: agent CPU, at the end of every sync (issue 6). Nothing hooks into an execution's flush.
_LOCK_EXECUTION = (select(_EXECUTIONS.c.agent_id, _EXECUTIONS.c.stats,
                          _EXECUTIONS.c.cancel_requested)
                   .where(_EXECUTIONS.c.id == bindparam("eid"))
                   .with_for_update(key_share=True))
_COUNTED = (update(_EXECUTIONS).where(_EXECUTIONS.c.id == bindparam("eid"))
            .values(stats=bindparam("counts"), records_processed=bindparam("records"),
                    success_count=bindparam("success"), error_count=bindparam("errors"),
                    lease_expires_at=bindparam("lease")))


_INSTANCES = cast(Table, IntegrationInstance.__table__)


def _open_statement() -> Select[Any]:
    """What a stream's open reads, in one statement: the execution's options and mapping
    versions, its instance's name, the stream's saved state, the instance's active inbound
    mapping of the stream (outer joined by :func:`mappings.active_inbound_id`), and whether
    records of the entity it writes are stored (the mapping row's target, else
    ``:fallback``: the connector's default mapping's or the raw entity), with that entity
    (``checked_entity``) so the caller can tell when the mapping it runs writes another."""
    e, i, s = _EXECUTIONS.c, _INSTANCES.c, _STATES.c
    m = cast(Table, DataMapping.__table__).alias("m")
    stream = bindparam("stream", type_=String())
    checked = case((m.c.id.is_(None), bindparam("fallback", type_=String())),
                   (func.coalesce(m.c.target, "") == "", literal("unknown")),
                   else_=m.c.target)
    joined = (_EXECUTIONS.join(_INSTANCES, i.id == e.instance_id)
              .outerjoin(_STATES, and_(s.instance_id == e.instance_id, s.stream == stream))
              .outerjoin(m, m.c.id == active_inbound_id(e.instance_id, stream)
                         .correlate(_EXECUTIONS)))
    return (select(e.id, e.instance_id, e.options, e.mapping_versions,
                   i.name.label("instance_name"), s.instance_id.label("state_found"), s.state,
                   s.sync_id.label("state_sync_id"),
                   *(m.c[name].label(f"m_{name}") for name in StoredMapping._fields),
                   checked.label("checked_entity"),
                   store.holds_records(e.instance_id, checked).label("held"))
            .select_from(joined).where(e.id == bindparam("eid")))


_OPEN = _open_statement()
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
_MAPPING_VERSIONS = (update(_EXECUTIONS).where(_EXECUTIONS.c.id == bindparam("eid"))
                     .values(mapping_versions=bindparam("versions")))


@functools.cache
def _state_upsert(dialect: str) -> Insert:
    """The checkpoint's upsert for ``dialect``, built once (values bound at execution)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_STATES).values(
        instance_id=bindparam("iid"), stream=bindparam("stream"), state=bindparam("state"),
        sync_id=bindparam("sid"), updated_at=bindparam("now"))
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[_STATES.c.instance_id, _STATES.c.stream],
        set_={"state": stmt.excluded.state, "sync_id": stmt.excluded.sync_id,
              "updated_at": stmt.excluded.updated_at})
    return upsert


class _Turn:
    """One batch's place in the commit order: the batch after it writes its records at once,
    then waits here before its checkpoint and commit (and gives up if this one failed)."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.committed = False

    def wait(self, timeout: float | None = None) -> None:
        if not self.finished.wait(timeout):
            raise _TooEarly
        if not self.committed:
            raise _Abandoned


class _Abandoned(Exception):
    """The batch before this one did not commit: this one rolls back (the stream fails or is
    retried from its last checkpoint with the error of the batch before)."""


class _TooEarly(Exception):
    """The batch before did not commit within TURN_TIMEOUT: this one is written again after."""


@dataclass
class _Writing:
    """A batch being written: its task, its keys, its turn."""

    task: asyncio.Future[bool]
    keys: KeysView[str]
    turn: _Turn


def _key_of(record: dict[str, Any], primary_key: tuple[str, ...]) -> str | None:
    values = []
    for path in primary_key:
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return None
        values.append(value)
    if not values:
        return None
    return str(values[0]) if len(values) == 1 else json.dumps(values, default=str)


class SyncEngine:
    def __init__(
        self, session_factory: sessionmaker[Session], registry: Registry, vault: Vault, *,
        agent_id: str = "local", batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.session_factory = session_factory
        self.registry = registry
        self.vault = vault
        self.agent_id = agent_id
        self.batch_size = batch_size
        #: Batches written at once on PostgreSQL (see _run_stream).
        self.in_flight = IN_FLIGHT
        self.turn_timeout = TURN_TIMEOUT
        self.lease = LEASE
        #: Issue 7: thresholds, recovery by error class, the HTTP clients' retry policy.
        self.monitoring = MonitoringConfig()
        self.recovery = recovery.RecoveryPolicy()
        self.http_retry: RetryPolicy | None = None
        self.sleep: Callable[[float], Any] = asyncio.sleep
        self._recorders: dict[uuid.UUID, samples.SampleRecorder] = {}
        self._end_queue: ending_.EndQueue | None = None

    # ---- the run ------------------------------------------------------------------------

    async def run(self, execution_id: uuid.UUID, progress: Progress | None = None, *,
                  started: dict[str, Any] | None = None) -> SyncStatus:
        """Run (or resume) the execution to its end; returns its final status. ``started``:
        the ``sync.started`` payload of a sync the scheduler just claimed, written in the
        transaction that marks it running (see :func:`server.sync.lifecycle.begin`)."""
        with _SwitchInterval.short():
            return await self._run(execution_id, progress, started)

    async def _run(self, execution_id: uuid.UUID, progress: Progress | None,
                   started: dict[str, Any] | None) -> SyncStatus:
        # Begun in its slot's claim: nothing left to do, no thread-pool trip (200 of them
        # queued behind each other when 200 slots came due together).
        begun = lifecycle.take_begun(execution_id)
        connector, streams, done, early = (
            begun if begun is not None
            else await asyncio.to_thread(self._begin, execution_id, started))
        if connector is None:
            return early
        total = store.Counts()
        for counts in done.values():  # streams a resumed or retried sync finished before
            total.add(counts)
        recorder = samples.SampleRecorder(uuid.UUID(str(connector.context.instance_id)),
                                          execution_id)
        recorder.attach(connector.context.metrics)
        self._recorders[execution_id] = recorder
        attempts = recovery.Attempts()
        try:
            descriptors, connector = await self._discover(execution_id, connector, attempts,
                                                          recorder)
            selected = streams or list(descriptors)
            unknown = [s for s in selected if s not in descriptors]
            if unknown:
                raise ConnectorError(f"unknown stream(s): {', '.join(unknown)}; this connector "
                                     f"offers {', '.join(descriptors)}")
            pending = [name for name in selected if name not in done]
            finished = False
            for name in pending:
                counts, connector, finished = await self._recovering_stream(
                    execution_id, connector, descriptors[name], total, progress, attempts,
                    recorder, last=name == pending[-1])
                total.add(counts)
            if not finished:  # (the last stream's last batch ends the sync, unless cancelled)
                await asyncio.to_thread(self._finish, execution_id, total,
                                        SyncStatus.COMPLETED, None, recorder.take())
            return SyncStatus.COMPLETED
        except SyncCancelled:
            await asyncio.to_thread(self._finish, execution_id, total, SyncStatus.CANCELLED,
                                    {"message": "cancelled on request"}, recorder.take())
            return SyncStatus.CANCELLED
        except ConnectorError as exc:
            error = exc.to_dict()
            if attempts.retries or attempts.waits or attempts.refreshed:
                error["recovery"] = {"retries": attempts.retries, "waits": attempts.waits,
                                     "refreshed": attempts.refreshed}
            await asyncio.to_thread(self._finish, execution_id, total, SyncStatus.FAILED,
                                    error, recorder.take())
            return SyncStatus.FAILED
        except LeaseLost:
            log.warning("sync %s was taken over by another agent; this agent stops it",
                        execution_id)
            return SyncStatus.RUNNING
        except asyncio.CancelledError:
            # The agent is stopping: leave the execution running with its lease; the next start
            # (or another agent) resumes it from its checkpoints.
            raise
        except Exception as exc:
            log.exception("sync %s failed unexpectedly", execution_id)
            await asyncio.to_thread(self._finish, execution_id, total, SyncStatus.FAILED,
                                    {"type": type(exc).__name__, "category": "internal",
                                     "message": "the sync failed unexpectedly; the agent log "
                                                "has the details"}, recorder.take())
            return SyncStatus.FAILED
        finally:
            self._recorders.pop(execution_id, None)
            await connector.aclose()

    async def _recovering_stream(
        self, execution_id: uuid.UUID, connector: Connector[Any], desc: StreamDescriptor,
        total: store.Counts, progress: Progress | None, attempts: recovery.Attempts,
        recorder: samples.SampleRecorder, *, last: bool = False,
    ) -> tuple[store.Counts, Connector[Any], bool]:
        """Run one stream; on a failure its class allows, retry it from its last checkpoint.
        Returns its counts, the connector (rebuilt if credentials were refreshed) and whether
        its last batch ended the sync (``last``: the sync's last stream)."""
        previous: StreamRun | None = None
        while True:
            opened = await asyncio.to_thread(self._open_stream, execution_id, connector, desc,
                                             previous)
            opened.run.ends_sync = last
            try:
                with collector.relaxed():
                    counts = await self._run_stream(execution_id, connector, opened, total,
                                                    progress)
                return counts, connector, opened.run.sync_finished
            except ConnectorError as exc:
                connector = await self._recover(exc, execution_id, connector, attempts,
                                                recorder, opened.run)
                previous = opened.run

    async def _discover(
        self, execution_id: uuid.UUID, connector: Connector[Any], attempts: recovery.Attempts,
        recorder: samples.SampleRecorder,
    ) -> tuple[dict[str, StreamDescriptor], Connector[Any]]:
        while True:
            try:
                return {d.name: d for d in await connector.sync_streams()}, connector
            except ConnectorError as exc:
                connector = await self._recover(exc, execution_id, connector, attempts,
                                                recorder, None)

    async def _recover(
        self, exc: ConnectorError, execution_id: uuid.UUID, connector: Connector[Any],
        attempts: recovery.Attempts, recorder: samples.SampleRecorder, run: StreamRun | None,
    ) -> Connector[Any]:
        """Wait (and refresh credentials) as the failure's class says, or re-raise it."""
        decision = self.recovery.decide(exc, attempts)
        if not decision.retry:
            if decision.note:
                exc.message = f"{exc.message} ({decision.note})"
            raise exc
        await asyncio.to_thread(self._note_retry, execution_id, run, exc, decision)
        await self.sleep(decision.delay)
        if decision.refresh:
            connector = await self._refreshed(connector, execution_id, recorder)
        return connector

    async def _refreshed(self, connector: Connector[Any], execution_id: uuid.UUID,
                         recorder: samples.SampleRecorder) -> Connector[Any]:
        """The connector rebuilt with its credentials loaded afresh (an OAuth token fetched
        anew): the one refresh an authentication failure gets."""
        await connector.aclose()
        fresh = await asyncio.to_thread(self._rebuild, execution_id)
        recorder.attach(fresh.context.metrics)
        if isinstance(fresh.credentials, OAuth2Auth):
            await fresh.credentials.aget_token(force=True)
        return fresh

    def _rebuild(self, execution_id: uuid.UUID) -> Connector[Any]:
        with self.session_factory() as session:
            execution = session.get(SyncExecution, execution_id)
            assert execution is not None
            instance = session.get(IntegrationInstance, execution.instance_id)
            assert instance is not None
            connector = build_connector(session, self.registry, self.vault, instance,
                                        **self._context_options())
            session.commit()
            return connector

    def _context_options(self) -> dict[str, Any]:
        return {"retry": self.http_retry} if self.http_retry is not None else {}

    def _note_retry(self, execution_id: uuid.UUID, run: StreamRun | None,
                    exc: ConnectorError, decision: recovery.Decision) -> None:
        """Log the recovery step; drop the dead letters the retry will write again."""
        with self.session_factory() as session:
            if run is not None and run.dead_since_checkpoint:
                session.query(DeadLetter).filter(
                    DeadLetter.id.in_(run.dead_since_checkpoint)).delete(
                    synchronize_session=False)
            execution = session.get(SyncExecution, execution_id)
            assert execution is not None
            where = f"stream {run.name}" if run is not None else "discovery"
            activity.record(session, "sync.retry",
                            f"{where}: {exc.category.value} failure, {decision.note}",
                            log_type=LogType.WARNING, instance_id=execution.instance_id,
                            sync_id=execution_id, details={"error": exc.to_dict(),
                                                           "delay_s": round(decision.delay, 3)})
            session.commit()

    async def _run_stream(
        self, execution_id: uuid.UUID, connector: Connector[Any], opened: OpenedStream,
        total: store.Counts, progress: Progress | None,
    ) -> store.Counts:
        run, state, mode = opened.run, opened.state, opened.mode
        # Batches are written while the next ones are read and mapped: up to ``in_flight`` at
        # a time, each on its own connection, committing in order, each with the checkpoint
        # that follows it (see _Turn).
        flying: collections.deque[_Writing] = collections.deque()
        limit = self._in_flight_limit()
        take, take_page, batch_size = self._take, self._take_page, self.batch_size

        async def flush(checkpoint: dict[str, Any] | None) -> None:
            batch = store.prepare(run.buffer)
            # A batch that shares a key with one in flight waits for it: its lookup must
            # see that batch's rows (and a fresh insert would wait on them in PostgreSQL).
            while flying and (len(flying) >= limit or any(
                    not w.keys.isdisjoint(batch) for w in flying)):
                await self._settle(flying.popleft(), run, total, progress)
            flying.append(self._write_next(execution_id, run, batch, checkpoint, total,
                                           final=False,
                                           after=flying[-1].turn if flying else None))

        # A checkpoint waits for the message after it: a record (or a skipped one) commits it
        # with the records before it, as at once; the stream's end writes it with the last
        # batch. A stream always ends with a checkpoint, so at once made every sync end with
        # two transactions, the second empty (200 syncs ending together: 200 more trips
        # through the thread pool, issue 6). The price: a checkpoint commits one message late.
        unsaved: dict[str, Any] | None = None
        try:
            async for message in connector.read_paged(run.name, state, sync_mode=mode):
                if isinstance(message, StateMessage):
                    unsaved = message.state  # (a later one, with no record between, wins)
                    continue
                if unsaved is not None:
                    checkpoint, unsaved = unsaved, None
                    await flush(checkpoint)
                if type(message) is list:
                    # A run of records (a page): mapped in one loop, cut where a batch fills
                    # exactly as one record at a time would be.
                    start, end = 0, len(message)
                    while start < end:
                        # (skipped records may have filled it already: then one record,
                        # as before)
                        room = max(batch_size - len(run.buffer) - len(run.dead), 1)
                        take_page(run, message if start == 0 and room >= end
                                  else message[start:start + room])
                        start += room
                        if len(run.buffer) + len(run.dead) >= batch_size:
                            await flush(None)
                    continue
                if type(message) is RecordMessage or isinstance(message, RecordMessage):
                    take(run, message.data)
                    if len(run.buffer) + len(run.dead) < batch_size:
                        continue
                    await flush(None)
                elif isinstance(message, SkippedRecordMessage):
                    run.dead.append({"raw": {"location": message.location}, "errors": [
                        {"field": None, "message": message.reason}], "message": message.reason})
            while flying:
                await self._settle(flying.popleft(), run, total, progress)
            final = self._write_next(execution_id, run, store.prepare(run.buffer), unsaved,
                                     total, final=True, after=None)
            await self._settle(final, run, total, progress, final=True)
        finally:
            # Batches still in flight end (commit, or roll back after one that failed) before
            # the stream is retried from its checkpoint or the sync ends.
            pending = [w.task for w in flying]
            if pending:
                await asyncio.wait(pending)
                for task in pending:  # their errors are the first one's consequences
                    if not task.cancelled():
                        task.exception()
        return run.counts

    def _in_flight_limit(self) -> int:
        """Batches written at once: two on PostgreSQL; SQLite has one writer at a time (a
        second transaction would wait for the database lock its predecessor holds, and the
        predecessor may wait for it)."""
        dialect = getattr(self.session_factory.kw.get("bind"), "dialect", None)
        return self.in_flight if getattr(dialect, "name", None) == "postgresql" else 1

    def _write_next(
        self, execution_id: uuid.UUID, run: StreamRun, batch: store.Prepared,
        state: dict[str, Any] | None, total: store.Counts, *, final: bool,
        after: _Turn | None,
    ) -> _Writing:
        # The batch's canonical JSON and hashes were made on the read loop (store.prepare):
        # the writer threads are the ones that wait for PostgreSQL, so their per-record Python
        # work was in series with the database and this loop's is not.
        dead = run.dead
        run.buffer, run.dead = [], []
        recorder = self._recorders.get(execution_id)
        rows = recorder.take() if recorder is not None else []
        turn = _Turn()
        if final and run.ends_sync:  # ended with the syncs ending now (server.sync.ending)
            ending = ending_.Ending(execution_id, run, batch, dead, state, total, rows)
            return _Writing(self._endings().submit(ending), batch.keys(), turn)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(
            self._write_batch, execution_id, run, batch, dead, state, total, final, rows,
            after, turn))
        return _Writing(task, batch.keys(), turn)

    def _endings(self) -> ending_.EndQueue:
        """This loop's queue of syncs' last batches (made on first use)."""
        loop = asyncio.get_running_loop()
        if self._end_queue is None or self._end_queue.loop is not loop:
            self._end_queue = ending_.EndQueue(self, self._write_ending)
        return self._end_queue

    def _write_ending(self, ending: ending_.Ending) -> bool:
        """A sync's last batch written alone (not with others ending at the same time)."""
        return self._write_batch(ending.execution_id, ending.run, ending.batch, ending.dead,
                                 ending.state, ending.total, True, ending.request_rows)

    async def _settle(
        self, writing: _Writing, run: StreamRun, total: store.Counts,
        progress: Progress | None, *, final: bool = False,
    ) -> None:
        """Wait for a batch being written; report progress; stop if cancelled."""
        cancel = await writing.task
        if progress is not None:
            seen = store.Counts()
            seen.add(total)
            seen.add(run.counts)
            progress({"stream": run.name, **seen.as_dict(), "final": final})
        if cancel:
            raise SyncCancelled

    def _take_page(self, run: StreamRun, records: list[dict[str, Any]]) -> None:
        """Map records into the batch: :meth:`_take` for each, in one loop."""
        if run.mapping is None:
            if len(run.primary_key) != 1 or "." in run.primary_key[0]:
                for record in records:
                    self._take(run, record)
                return
            key = run.primary_key[0]
            append = run.buffer.append
            for record in records:  # _key_of of one plain field
                value = record.get(key) if type(record) is dict else None
                if value is None:
                    self._take(run, record)  # no primary key (a dead letter), or not a dict
                else:
                    append((value if type(value) is str else str(value), record))
            return
        output, append, take = run.mapping.compiled.output, run.buffer.append, self._take
        for record in records:
            out = output(record)
            if out is not None:
                external_id = out.get("external_id")
                if external_id:
                    append((external_id if type(external_id) is str else str(external_id),
                            out))
                    continue
            take(run, record)  # the errors, field by field

    def _take(self, run: StreamRun, record: dict[str, Any]) -> None:
        """Map one record into the batch, or into the dead letters with its errors."""
        if run.mapping is None:
            key = _key_of(record, run.primary_key)
            if key is None:
                run.dead.append({"raw": record, "errors": [
                    {"field": ",".join(run.primary_key) or "primary_key",
                     "message": "the record has no primary key value"}],
                    "message": "no primary key"})
                return
            run.buffer.append((key, record))
            return
        compiled = run.mapping.compiled
        output = compiled.output(record)
        if output is not None and output.get("external_id"):
            run.buffer.append((str(output["external_id"]), output))
            return
        result = compiled.apply(record)  # the errors, field by field
        output = result.output
        if output is None or not output.get("external_id"):
            errors = [e.model_dump() for e in result.errors] or [
                {"field": "external_id", "message": "the mapping produced no external_id"}]
            run.dead.append({"raw": record, "errors": errors,
                             "message": "; ".join(f"{e.get('field')}: {e.get('message')}"
                                                  for e in errors)[:2000]})
            return
        run.buffer.append((str(output["external_id"]), output))

    # ---- database work (in a worker thread) ---------------------------------------------

    def _begin(
        self, execution_id: uuid.UUID, started: dict[str, Any] | None = None
    ) -> tuple[Connector[Any] | None, list[str], dict[str, store.Counts], SyncStatus]:
        return lifecycle.begin(self, execution_id, started)

    def _finish(
        self, execution_id: uuid.UUID, total: store.Counts, status: SyncStatus,
        error: dict[str, Any] | None, request_rows: list[dict[str, Any]] | None = None,
    ) -> None:
        lifecycle.finish(self, execution_id, total, status, error, request_rows)

    def _open_stream(
        self, execution_id: uuid.UUID, connector: Connector[Any], desc: StreamDescriptor,
        previous: StreamRun | None = None,
    ) -> OpenedStream:
        """The stream's run, from its last checkpoint; after a failed attempt (``previous``)
        the counts so far carry over and records it wrote since that checkpoint are not
        counted twice.

        One SELECT reads what the stream needs (see :data:`_OPEN`), one UPDATE records the
        mapping version: 200 syncs due together open their streams at once, through a few
        threads that share the interpreter lock with the event loop doing their requests,
        and each round trip of the ORM reads, lookups and flush this replaces (three ORM
        gets, the mapping lookup, a flush, the emptiness check in a transaction of its own)
        made its thread wait for the lock again."""
        raw_entity = f"{connector.metadata.key}.{desc.name}"
        fallback = default_entity(type(connector), desc.name) or raw_entity
        with self.session_factory() as session:
            # Each statement its own transaction: no BEGIN and COMMIT round trips. The old
            # ORM reads and flush were no more atomic (READ COMMITTED, nothing locked), and
            # only this sync writes its mapping versions.
            connection = session.connection(execution_options=_AUTOCOMMIT)
            row = connection.execute(_OPEN, {"eid": execution_id, "stream": desc.name,
                                             "fallback": fallback}).first()
            assert row is not None, f"no sync execution {execution_id}"
            options = row.options or {}
            incremental = (SyncMode.INCREMENTAL in desc.sync_modes
                           and not options.get("full_refresh"))
            mode = SyncMode.INCREMENTAL if incremental else SyncMode.FULL_REFRESH
            state: dict[str, Any] | None = None
            if row.state_found is not None and (incremental or row.state_sync_id == row.id):
                state = row.state or None
            pinned = ((row.mapping_versions or {}).get(desc.name) or {}).get("version")
            stored = (StoredMapping(*(row._mapping[f"m_{name}"]
                                     for name in StoredMapping._fields))
                      if row.m_id is not None else None)
            mapping = resolve_stored(session, stored, desc.name, type(connector), pinned)
            entity = mapping.entity_type if mapping else raw_entity
            versions = dict(row.mapping_versions or {})
            versions[desc.name] = mapping.reference if mapping else {"raw": entity}
            if versions != row.mapping_versions:  # as the ORM flush wrote it: when changed
                connection.execute(_MAPPING_VERSIONS, {"eid": execution_id,
                                                       "versions": versions})
            session.commit()
            provenance = {
                "instance_id": str(row.instance_id), "instance": row.instance_name,
                "connector": connector.metadata.key,
                "connector_version": connector.metadata.version,
                "api_version": connector.api_version, "stream": desc.name,
                "sync_id": str(row.id),
                "mapping": mapping.reference if mapping else None,
            }
            scope = store.Scope(row.instance_id, entity, desc.name, row.id, provenance)
            run = StreamRun(desc.name, scope, mapping, tuple(desc.primary_key),
                            full_refresh=not incremental)
            # The SELECT looked for records of the entity the mapping row names; a pinned
            # older version may write another one.
            run.fresh = run.started_empty = (
                not row.held if row.checked_entity == entity
                else store.scope_is_empty(session, scope))
            if previous is not None:
                again = previous.since_checkpoint
                run.counts.add(previous.counts)
                # Their dead letters were dropped and come again; records written since the
                # checkpoint keep what they were counted as and come back unchanged.
                run.counts.failed -= again.failed
                run.counts.skipped -= again.skipped
                run.reread = again.created + again.updated + again.unchanged
            return OpenedStream(run, state, mode)

    def _write_batch(
        self, execution_id: uuid.UUID, run: StreamRun, batch: store.Prepared,
        dead: list[dict[str, Any]], state: dict[str, Any] | None, total: store.Counts,
        final: bool, request_rows: list[dict[str, Any]] | None = None,
        after: _Turn | None = None, turn: _Turn | None = None,
    ) -> bool:
        """One transaction: records, dead letters, checkpoint, counts, lease, request samples.
        Returns cancel. With ``after`` (the batch before, still being written) the records go
        in at once and the rest waits until that batch has committed."""
        try:
            try:
                return self._write_transaction(execution_id, run, batch, dead, state, total,
                                               final, request_rows or [], after, turn)
            except _TooEarly:
                assert after is not None
                log.warning("sync %s: batch of stream %s waited %.0f s for the one before; "
                            "written again after it", execution_id, run.name, self.turn_timeout)
                after.wait()  # this batch's transaction is rolled back: it holds no lock now
                return self._write_transaction(execution_id, run, batch, dead, state, total,
                                               final, request_rows or [], None, turn)
        finally:
            if turn is not None:
                turn.finished.set()

    def _write_transaction(
        self, execution_id: uuid.UUID, run: StreamRun, batch: store.Prepared,
        dead: list[dict[str, Any]], state: dict[str, Any] | None, total: store.Counts,
        final: bool, request_rows: list[dict[str, Any]], after: _Turn | None,
        turn: _Turn | None,
    ) -> bool:
        with self.session_factory() as session:
            counts = store.upsert_batch(session, run.scope, batch, track_seen=run.full_refresh,
                                        assume_new=run.fresh)
            if counts.collided:
                run.fresh = False
            if run.full_refresh and counts.unchanged:
                run.seen_noted = True  # (the unchanged records are the ones noted)
            self._emit_failed_checks(session, execution_id, run, counts)
            dead_ids = self._add_dead(session, execution_id, run, dead, counts)
            # The sync's last batch ends it here (unless cancelled): the samples go in with
            # the sync's own, one COPY.
            ending = final and run.ends_sync
            if not ending:
                samples.write(session, request_rows)
            if after is not None:
                # Commits stay in order: the checkpoint after the batch before.
                after.wait(self.turn_timeout)
            if final and run.full_refresh:
                self._end_full_refresh(session, execution_id, run, counts)
            if state is not None:
                self._save_state(session, execution_id, run, state)
            found: tuple[SyncExecution, IntegrationInstance] | None = None
            if ending:  # no batch comes after the last: FOR UPDATE, with what finish reads
                found = execution_for_sync(session, execution_id, lock=True)
                assert found is not None
                agent_id, stats, cancel = (found[0].agent_id, found[0].stats,
                                           found[0].cancel_requested)
            else:
                # FOR NO KEY UPDATE, not FOR UPDATE: the batch after this one already holds
                # KEY SHARE on the row (its samples' and dead letters' foreign keys) while it
                # waits for this one to commit; FOR UPDATE would wait for it in turn.
                agent_id, stats, cancel = session.connection().execute(
                    _LOCK_EXECUTION, {"eid": execution_id}).one()
            if agent_id not in (None, self.agent_id):
                raise LeaseLost(execution_id)  # rolls the batch back: the new owner writes it
            raw = run.take(counts)
            counted: dict[str, Any] = {"eid": execution_id, "counts": stats}
            self._count(counted, run, total, final=final)
            if found is not None and not cancel:
                lifecycle.finish_in(self, session, *found, SyncStatus.COMPLETED, None,
                                    request_rows, forget_seen=False,
                                    values=self._end_values(counted))
                run.sync_finished = True
            else:
                if ending:
                    samples.write(session, request_rows)
                session.connection().execute(_COUNTED, counted)
            session.commit()
            run.committed(raw, dead_ids, checkpoint=state is not None or final)
            if turn is not None:
                turn.committed = True
            run.written_since_analyze += counts.created
            # While the stream is fresh no batch looks rows up, so nothing needs statistics:
            # one ANALYZE when it stops being fresh (a collision) or at its end, where a load
            # used to run one each time the table doubled (~0.2 s each at 200,000 rows).
            if (not run.fresh or final) and store.refresh_statistics(
                    session, run.written_since_analyze):
                session.commit()
                run.written_since_analyze = 0
            return bool(cancel)

    @staticmethod
    def _add_dead(session: Session, execution_id: uuid.UUID, run: StreamRun,
                  dead: list[dict[str, Any]], counts: store.Counts) -> list[uuid.UUID]:
        """The batch's dead letters (counted as skipped or failed); their ids."""
        counts.skipped = sum(1 for d in dead if d.get("raw", {}).keys() == {"location"})
        counts.failed = len(dead) - counts.skipped
        dead_ids = [uuid.uuid4() for _ in dead]
        if dead:
            session.add_all(DeadLetter(
                id=dead_id, instance_id=run.scope.instance_id, sync_id=execution_id,
                stream=run.name, raw=d["raw"], errors=d["errors"], message=d["message"])
                for dead_id, d in zip(dead_ids, dead, strict=True))
        return dead_ids

    @staticmethod
    def _end_full_refresh(session: Session, execution_id: uuid.UUID, run: StreamRun,
                          counts: store.Counts) -> None:
        """A full refresh's last batch: what it did not see is deleted, its notes dropped."""
        if not run.started_empty:
            counts.deleted = store.mark_unseen_deleted(session, run.scope)
        # A stream that started empty has no note from before (notes are of stored records),
        # and the sync's other streams dropped theirs with their last batches.
        if run.seen_noted or not run.started_empty:
            store.forget_seen(session, execution_id)

    def _count(self, counted: dict[str, Any], run: StreamRun, total: store.Counts, *,
               final: bool) -> None:
        """The execution's counts (per stream and overall) and lease after a batch, from the
        stats it had (``counted["counts"]``): the values of :data:`_COUNTED`, into ``counted``."""
        stats = dict(counted["counts"] or {})
        per_stream = dict(stats.get("streams") or {})
        per_stream[run.name] = {**run.counts.as_dict(), "entity_type": run.scope.entity_type,
                                "done": final}
        stats["streams"] = per_stream
        overall = store.Counts()
        overall.add(total)
        overall.add(run.counts)
        stats.update(overall.as_dict())
        success = overall.created + overall.updated + overall.unchanged
        counted.update(counts=stats, records=success + overall.failed, success=success,
                       errors=overall.failed, lease=utcnow() + self.lease)

    @staticmethod
    def _end_values(counted: dict[str, Any]) -> dict[str, Any]:
        """The execution's columns a sync's end writes from :meth:`_count`'s values."""
        return {"stats": counted["counts"], "records_processed": counted["records"],
                "success_count": counted["success"], "error_count": counted["errors"]}

    @staticmethod
    def _save_states(session: Session, rows: list[dict[str, Any]]) -> None:
        """Checkpoints of syncs ending together (:mod:`server.sync.ending`), one statement:
        rows of ``iid``, ``stream``, ``state``, ``sid`` and ``now``."""
        if rows:
            session.connection().execute(_state_upsert(session.get_bind().dialect.name), rows)

    @staticmethod
    def _save_state(session: Session, execution_id: uuid.UUID, run: StreamRun,
                    state: dict[str, Any]) -> None:
        """The stream's checkpoint, in the batch's transaction: one INSERT … ON CONFLICT
        DO UPDATE. As an ORM get then add or change it was a read and a flush, two round
        trips in every sync's last batch, 200 syncs' at once when a fleet ends (issue 6)."""
        SyncEngine._save_states(session, [{"iid": run.scope.instance_id, "stream": run.name,
                                           "state": state, "sid": execution_id,
                                           "now": utcnow()}])

    @staticmethod
    def _emit_failed_checks(session: Session, execution_id: uuid.UUID, run: StreamRun,
                            counts: store.Counts) -> None:
        for record_id, external_id, data in counts.failed_checks:
            # Once per version of a failing check: a re-delivery is de-duplicated.
            digest = store.content_hash(data)
            emit(session, "check.failed", {
                "record_id": str(record_id), "external_id": external_id,
                "instance_id": str(run.scope.instance_id),
                "instance": run.scope.provenance.get("instance"),
                "sync_id": str(execution_id), "check_id": data.get("check_id"),
                "status": "fail", "severity": data.get("severity"),
                "title": data.get("title") or data.get("name"),
                "resource": data.get("resource_name") or data.get("resource_external_id"),
                "content_hash": digest, "check": data,
            }, dedupe_key=f"check.failed:{record_id}:{digest}",
                instance_id=run.scope.instance_id)
