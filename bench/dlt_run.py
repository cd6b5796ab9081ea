"""Contender 2, run in its own process: dlt's ``rest_api`` source into its postgres destination.

Settings, and why (dlt's defaults unless a fair upsert needs otherwise):

* cursor paginator on ``next_cursor`` sent as ``?cursor=``, ``limit=1000``, records at
  ``items``: the same requests our Generic REST instance makes;
* ``primary_key="id"`` and ``write_disposition="merge"``: an upsert keyed like ours (dlt loads
  into a staging schema, then merges with SQL), not a blind append;
* ``max_table_nesting=0``: ``location`` and ``groups`` stay JSON columns, one row per record as
  in our store; dlt's default would also write a child table for ``groups`` (2 more rows per
  record) and was slower here, so this is the generous choice;
* the default loader file format (``insert_values``); ``csv`` (COPY) measured the same here.

dlt gets a working directory under a temporary folder and telemetry off. Output: one JSON
object written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any

from bench import pg
from bench.pgcpu import BackendCpu

SETTINGS: dict[str, Any] = {
    "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    "params": {"limit": 1000}, "data_selector": "items", "primary_key": "id",
    "write_disposition": "merge", "max_table_nesting": 0, "loader_file_format": "default",
}


def _cpu_seconds() -> float:
    """User + system CPU of this process and of the children it waited for (normalize)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _isolate(workdir: str) -> None:
    """Before dlt is imported: no telemetry, no global folder, no config from the cwd."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = os.path.join(workdir, "data")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    os.chdir(workdir)


def measure(dsn: str, source: str, records: int, workdir: str) -> dict[str, Any]:
    _isolate(workdir)
    # dlt reads its environment when imported: import it only once that is set.
    import dlt  # noqa: PLC0415
    from dlt.common.runtime import anon_tracker  # noqa: PLC0415
    from dlt.sources.rest_api import rest_api_source  # noqa: PLC0415

    # With telemetry off dlt still builds (and then drops) each event, and building one writes
    # an id file into its global folder (/var/dlt for root, whatever DLT_DATA_DIR says).
    anon_tracker.get_anonymous_id = lambda: "simpletrust-bench"

    config: Any = {
        "client": {"base_url": source, "paginator": SETTINGS["paginator"]},
        "resource_defaults": {"primary_key": SETTINGS["primary_key"],
                              "write_disposition": SETTINGS["write_disposition"]},
        "resources": [{"name": "users", "endpoint": {
            "path": "items", "params": SETTINGS["params"],
            "data_selector": SETTINGS["data_selector"]}}],
    }
    rest = rest_api_source(config)
    rest.max_table_nesting = SETTINGS["max_table_nesting"]
    pipeline = dlt.pipeline(
        pipeline_name="bench_sync", destination=dlt.destinations.postgres(dsn),
        dataset_name="bench", pipelines_dir=os.path.join(workdir, "pipelines"))
    server, database = pg.split_url(dsn)
    with BackendCpu(server, database) as server_cpu:
        started, cpu = time.perf_counter(), _cpu_seconds()
        pipeline.run(rest)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*), count(DISTINCT id) FROM bench.users")
    total, distinct = (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "available": True, "version": dlt.__version__, "seconds": seconds,
        "records_per_s": records / seconds if seconds else None, "cpu_seconds": cpu,
        "server_cpu_seconds": server_cpu.seconds, "rows_loaded": total,
        "exact": total == records and distinct == records,
        "peak_rss_bytes": peak if sys.platform == "darwin" else peak * 1024,
        "settings": SETTINGS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="dlt's sync measurement (a child)")
    parser.add_argument("--dsn", required=True, help="postgresql://user:password@host/db")
    parser.add_argument("--source", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as workdir:
        result = measure(args.dsn, args.source, args.records, workdir)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
