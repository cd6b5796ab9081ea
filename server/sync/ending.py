"""The last batches of syncs that end at the same time, written in one transaction.

A sync's last batch also ends it (:func:`server.sync.lifecycle.finish_in`): records,
checkpoint, counts, the end, its log, events, samples and alerts, about twenty round trips
to the database in a transaction and a trip through the agent's thread pool of its own. When
a fleet ends together (issue 6: 200 rate-limited syncs of one tick reach their last page
within a second) those transactions queued in the pool's few threads, each round trip
waiting again for the interpreter lock, and the fleet's last second went to them.

Here the last batches that are waiting when a writer is free go together: one transaction,
one statement per kind of row (:func:`server.sync.lifecycle.complete_many`), each sync's
records and dead letters as its own batch would write them. A sync that another agent took
over, that was asked to stop, or whose row is busy is written alone the usual way, after
the group; if the group fails as a whole, every one of its batches is written alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.db.types import utcnow
from server.sync import lifecycle, store
from server.sync.runtime import executions_free

if TYPE_CHECKING:
    from server.sync.engine import StreamRun, SyncEngine

log = logging.getLogger(__name__)

#: Most syncs ended in one transaction, and most records written in it.
GROUP_MOST = 100
GROUP_RECORDS = 20_000
#: Groups written at once (each in a thread of its own): one waits for PostgreSQL while the
#: other runs Python.
AT_ONCE = 2


@dataclass
class Ending:
    """A sync's last batch (of its last stream), waiting to be written."""

    execution_id: uuid.UUID
    run: StreamRun
    batch: store.Prepared
    dead: list[dict[str, Any]]
    state: dict[str, Any] | None
    total: store.Counts
    request_rows: list[dict[str, Any]]


#: Writes one ending alone (the engine's usual last-batch transaction); returns cancel.
WriteOne = Callable[[Ending], bool]


class EndQueue:
    """Endings waiting for a writer, on one event loop. :meth:`submit` returns a future of
    what the batch's own write returns: whether the sync was asked to stop."""

    def __init__(self, engine: SyncEngine, write_one: WriteOne) -> None:
        self.engine = engine
        self.write_one = write_one
        self.loop = asyncio.get_running_loop()
        self._waiting: list[tuple[Ending, asyncio.Future[bool]]] = []
        self._writers = 0

    @property
    def waiting(self) -> int:
        """Endings not yet taken by a writer."""
        return len(self._waiting)

    def submit(self, ending: Ending) -> asyncio.Future[bool]:
        done: asyncio.Future[bool] = self.loop.create_future()
        self._waiting.append((ending, done))
        if self._writers < AT_ONCE:
            # (it starts in the loop's next step: endings submitted in this one join it)
            self._writers += 1
            self.loop.create_task(self._write_waiting(), name="sync-endings")
        return done

    def _take(self) -> list[tuple[Ending, asyncio.Future[bool]]]:
        taken, records = 0, 0
        for ending, _ in self._waiting:
            if taken and (taken >= GROUP_MOST or records + len(ending.batch) > GROUP_RECORDS):
                break
            taken += 1
            records += len(ending.batch)
        group, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return group

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group = self._take()
                try:
                    outcomes = await asyncio.to_thread(write_group, self.engine,
                                                       [e for e, _ in group])
                except Exception:  # (each batch alone says what it was)
                    log.warning("writing %d syncs' last batches together failed; writing "
                                "each alone", len(group), exc_info=True)
                    outcomes = [None] * len(group)
                alone = []
                for (ending, done), outcome in zip(group, outcomes, strict=True):
                    if outcome is None:
                        alone.append((ending, done))
                    elif not done.done():
                        done.set_result(outcome)  # (committed: not kept waiting for the rest)
                for ending, done in alone:
                    await self._alone(ending, done)
        finally:
            self._writers -= 1

    async def _alone(self, ending: Ending, done: asyncio.Future[bool]) -> None:
        try:
            cancel = await asyncio.to_thread(self.write_one, ending)
        except Exception as exc:  # noqa: BLE001 - the sync's own settle raises it
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(cancel)


def write_group(engine: SyncEngine, endings: list[Ending]) -> list[bool | None]:
    """Write the endings' last batches and end their syncs in one transaction; for each,
    False (written, not cancelled) or None (not written: write it alone). The runs change
    only once the transaction committed, so a group that fails leaves them as they were."""
    outcomes: list[bool | None] = [None] * len(endings)
    with engine.session_factory() as session:
        found = executions_free(session, [e.execution_id for e in endings])
        mine: list[tuple[int, Ending]] = []
        for n, ending in enumerate(endings):
            row = found.get(ending.execution_id)
            if row is not None and not row[0].cancel_requested and (
                    row[0].agent_id in (None, engine.agent_id)):
                mine.append((n, ending))
        if not mine:
            return outcomes
        ended: list[tuple[Any, Any, list[dict[str, Any]]]] = []
        values: list[dict[str, Any]] = []
        written: list[tuple[Ending, StreamRun, store.Counts, list[uuid.UUID]]] = []
        #: The checkpoints, one per stream (one sync of an instance runs at a time).
        states: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        now = utcnow()
        for _, ending in mine:
            execution, instance = found[ending.execution_id]
            after, raw, dead_ids = _write_records(engine, session, ending)
            if ending.state is not None:
                states[(after.scope.instance_id, after.name)] = {
                    "iid": after.scope.instance_id, "stream": after.name,
                    "state": ending.state, "sid": ending.execution_id, "now": now}
            counted: dict[str, Any] = {"eid": ending.execution_id, "counts": execution.stats}
            engine._count(counted, after, ending.total, final=True)
            values.append(engine._end_values(counted))
            ended.append((execution, instance, ending.request_rows))
            written.append((ending, after, raw, dead_ids))
        engine._save_states(session, list(states.values()))
        lifecycle.complete_many(engine, session, ended, values)
        session.commit()
        for n, _ in mine:
            outcomes[n] = False
        analyze = 0
        for ending, after, raw, dead_ids in written:
            run = ending.run
            run.counts, run.reread = after.counts, after.reread
            run.fresh, run.seen_noted = after.fresh, after.seen_noted
            run.committed(raw, dead_ids, checkpoint=True)
            run.sync_finished = True
            analyze += run.written_since_analyze + after.written_since_analyze
            run.written_since_analyze = 0
        try:
            if store.refresh_statistics(session, analyze):
                session.commit()
        except Exception:  # (the batches are committed; statistics can wait)
            log.warning("refreshing the evidence table's statistics failed", exc_info=True)
    return outcomes


def _write_records(engine: SyncEngine, session: Any, ending: Ending
                   ) -> tuple[StreamRun, store.Counts, list[uuid.UUID]]:
    """One ending's records, dead letters and end of a full refresh, as its own last batch
    writes them; returns its run as it will be once committed (``written_since_analyze``:
    the records created), the batch's counts before absorption and its dead letters' ids."""
    run = ending.run
    counts = store.upsert_batch(session, run.scope, ending.batch, track_seen=run.full_refresh,
                                assume_new=run.fresh)
    so_far = store.Counts()
    so_far.add(run.counts)
    after = dataclasses.replace(
        run, counts=so_far, fresh=run.fresh and not counts.collided,
        seen_noted=run.seen_noted or (run.full_refresh and counts.unchanged > 0))
    engine._emit_failed_checks(session, ending.execution_id, run, counts)
    dead_ids = engine._add_dead(session, ending.execution_id, run, ending.dead, counts)
    if run.full_refresh:
        engine._end_full_refresh(session, ending.execution_id, after, counts)
    raw = after.take(counts)
    after.written_since_analyze = counts.created
    return after, raw, dead_ids
