"""Contender 1, run in its own process: this engine's initial sync and 1%-changed re-sync.

The process does what the agent does for a manual sync: migrate a fresh database, register the
connectors, create a Generic REST instance with the 12-field identity mapping pointed at the
loopback source, and run ``SyncManager.launch`` (a full refresh: read -> map -> validate ->
upsert with content hashes, seen-key tracking and deletion detection). It measures its own peak
RSS (``ru_maxrss``) when the progress callback first reports ``--rss-mark`` records and after
the initial sync, so the figures are this process's alone (the source runs elsewhere).

Output: one JSON object written to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import pg
from bench.pgcpu import BackendCpu
from server.config import load_settings
from server.db import migrate
from server.db.engine import make_engine, make_session_factory
from server.db.models import (
    DataMapping,
    EvidenceRecord,
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    SyncExecution,
    TriggerType,
)
from server.services.registry import Registry
from server.sync.manager import SyncManager, create_execution
from server.vault import MasterKey, Vault
from tests.support.record_source import IDENTITY_MAPPING, generic_rest_config

COUNTED = ("created", "updated", "unchanged", "deleted", "failed", "skipped")


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class Probe:
    """Progress callback: the peak RSS when ``mark`` records are done, and a timeline.

    The timeline has ``[records, seconds since start, peak RSS]`` every ``step`` records, so a
    slowdown as the store grows (or memory that creeps) shows up in the results.
    """

    def __init__(self, mark: int, step: int) -> None:
        self.mark, self.step = mark, max(step, 1)
        self.records_at_mark: int | None = None
        self.peak_at_mark: int | None = None
        self.started = time.perf_counter()
        self.timeline: list[list[float]] = []

    def __call__(self, progress: dict[str, Any]) -> None:
        done = sum(int(progress.get(k, 0)) for k in ("created", "updated", "unchanged",
                                                      "failed"))
        if self.peak_at_mark is None and done >= self.mark:
            self.records_at_mark, self.peak_at_mark = done, peak_rss_bytes()
        if done >= (len(self.timeline) + 1) * self.step:
            self.timeline.append([done, round(time.perf_counter() - self.started, 3),
                                  peak_rss_bytes()])


def cpu_seconds() -> float:
    """User + system CPU of this process (and any children it waited for) so far."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _stats(execution: SyncExecution) -> dict[str, int]:
    stats = execution.stats or {}
    return {k: int(stats.get(k, 0)) for k in COUNTED}


async def measure(db_url: str, source: str, records: int, rss_mark: int, changed_every: int
                  ) -> dict[str, Any]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    data_dir = tempfile.mkdtemp(prefix="bench-engine-")
    registry = Registry(load_settings(database_url=db_url, data_dir=data_dir))
    with factory() as session:
        registry.sync_rows(session)
        connector = session.scalar(select(IntegrationConnector).where(
            IntegrationConnector.key == "generic-rest"))
        if connector is None:
            raise RuntimeError("the generic-rest connector is not registered")
        instance = IntegrationInstance(
            id=uuid.uuid4(), name="bench source", connector_id=connector.id,
            status=InstanceStatus.ACTIVE, configuration=generic_rest_config(source, page=1000),
            options={"allow_loopback": True})
        session.add(instance)
        session.flush()
        spec = dict(IDENTITY_MAPPING)
        fields = spec.pop("field_mappings")
        session.add(DataMapping(id=uuid.uuid4(), instance_id=instance.id,
                                field_mappings=fields, **spec))
        first = create_execution(session, instance, TriggerType.MANUAL)
        session.commit()
        instance_id, first_id = instance.id, first.id
    manager = SyncManager(factory, registry, Vault.from_key(MasterKey.generate()))
    mark = Probe(rss_mark, records // 10)

    server, database = pg.split_url(db_url)
    with BackendCpu(server, database) as initial_server:
        started, cpu = time.perf_counter(), cpu_seconds()
        mark.started = started
        status = await manager.launch(first_id, mark)
        initial_seconds = time.perf_counter() - started
        initial_cpu = cpu_seconds() - cpu
    peak_initial = peak_rss_bytes()
    with factory() as session:
        execution = session.get(SyncExecution, first_id)
        assert execution is not None
        initial = _stats(execution)
        stored = session.scalar(select(func.count()).select_from(EvidenceRecord))

    # The re-sync: the source now has every `changed_every`-th record changed.
    async with httpx.AsyncClient(timeout=600) as client:
        reply = await client.post(f"{source}/_bench/variant",
                                  params={"changed_every": changed_every})
        reply.raise_for_status()
        changed = int(reply.json()["changed"])
    with factory() as session:
        instance_row = session.get(IntegrationInstance, instance_id)
        assert instance_row is not None
        second_id = create_execution(session, instance_row, TriggerType.MANUAL).id
        session.commit()
    with BackendCpu(server, database) as resync_server:
        started, cpu = time.perf_counter(), cpu_seconds()
        second_status = await manager.launch(second_id)
        resync_seconds = time.perf_counter() - started
        resync_cpu = cpu_seconds() - cpu
    with factory() as session:
        execution = session.get(SyncExecution, second_id)
        assert execution is not None
        resync = _stats(execution)
        last_sync = getattr(EvidenceRecord, "last_sync_id", None)
        touched = (session.scalar(select(func.count()).select_from(EvidenceRecord)
                                  .where(last_sync == second_id))
                   if last_sync is not None else None)
    engine.dispose()
    written = resync["created"] + resync["updated"] + resync["deleted"]
    return {
        "status": status.value, "seconds": initial_seconds,
        "records_per_s": records / initial_seconds if initial_seconds else None,
        "cpu_seconds": initial_cpu, "server_cpu_seconds": initial_server.seconds,
        "counts": initial, "stored_records": stored,
        "exact": (status.value == "completed" and initial["created"] == records
                  and initial["failed"] == 0 and stored == records),
        "timeline": mark.timeline, "rss_mark_records": mark.records_at_mark,
        "peak_rss_at_mark_bytes": mark.peak_at_mark,
        "peak_rss_bytes": peak_initial, "peak_rss_after_resync_bytes": peak_rss_bytes(),
        "resync": {
            "status": second_status.value, "changed_at_source": changed,
            "seconds": resync_seconds, "cpu_seconds": resync_cpu,
            "server_cpu_seconds": resync_server.seconds, "rows_written": written,
            **resync,
            "records_touched_by_resync": touched,
            "exact": (second_status.value == "completed" and resync["updated"] == changed
                      and resync["created"] == 0 and resync["deleted"] == 0),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="this engine's sync measurement (a child)")
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--rss-mark", type=int, required=True)
    parser.add_argument("--changed-every", type=int, default=100)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(measure(args.db_url, args.source, args.records, args.rss_mark,
                                 args.changed_every))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
