"""The benchmark's parts: the targets' arithmetic, the source's pages, the CPU sampler."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import pg
from bench.pgcpu import BackendCpu, process_cpu_seconds
from bench.report import render, verdicts
from bench.source_server import PageStore
from bench.sync_bench import build_parser
from tests.support.record_source import Source


def _result(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "records": 1_000_000,
        "engine": {"records_per_s": 30_000.0, "seconds": 33.3, "exact": True,
                   "rss_mark_records": 100_000, "peak_rss_at_mark_bytes": 200 * 2**20,
                   "peak_rss_bytes": 260 * 2**20,
                   "resync": {"seconds": 20.0, "rows_written": 10_000, "updated": 10_000}},
        "dlt": {"available": True, "version": "1.0", "records_per_s": 10_000.0},
        "copy": {"records_per_s": 150_000.0},
    }
    base.update(parts)
    return base


def test_targets_are_judged_on_the_ratios() -> None:
    checks = verdicts(_result())
    by_name = {t["name"]: t for t in checks["targets"]}
    assert by_name["engine_vs_dlt"]["value"] == 3.0
    assert by_name["engine_vs_dlt"]["met"]
    assert by_name["engine_vs_copy"]["value"] == 0.2
    assert by_name["engine_vs_copy"]["met"] is False
    assert by_name["rss_growth"]["value"] == 1.3
    assert by_name["rss_growth"]["met"]
    assert "1,000,000" in by_name["rss_growth"]["target"]


def test_a_target_just_missed_is_not_met() -> None:
    result = _result(dlt={"available": True, "records_per_s": 15_001.0})
    result["engine"]["peak_rss_bytes"] = int(200 * 2**20 * 1.51)
    by_name = {t["name"]: t for t in verdicts(result)["targets"]}
    assert by_name["engine_vs_dlt"]["met"] is False
    assert by_name["rss_growth"]["met"] is False


def test_an_unmeasured_contender_is_not_measured_not_a_verdict() -> None:
    result = _result(dlt={"available": False, "error": "dlt is not installed"})
    by_name = {t["name"]: t for t in verdicts(result)["targets"]}
    assert by_name["engine_vs_dlt"] == {**by_name["engine_vs_dlt"], "value": None, "met": None}
    table = render(result)
    assert "NOT MEASURED: dlt is not installed" in table
    assert "not measured" in table
    assert "engine / COPY" in table
    assert "20.0%" in table


def test_prepared_pages_are_the_source_records() -> None:
    source = Source(2_500)
    store = PageStore(source)
    store.encode(0)
    assert store.pages == 3
    for offset in (0, 1000, 2000):
        assert json.loads(store.body(offset, 1000, None)) == Source(2_500).page(offset, 1000,
                                                                                None)
    last = json.loads(store.body(2000, 1000, None))
    assert len(last["items"]) == 500
    assert last["next_cursor"] is None
    # Requests the pages were not prepared for are answered from the source itself.
    assert json.loads(store.body(5, 10, None))["items"][0]["id"] == "u0000005"
    assert store.requests == 5


def test_the_changed_variant_changes_every_kth_record_and_can_be_undone() -> None:
    store = PageStore(Source(2_000))
    store.encode(100)
    items = json.loads(store.body(0, 1000, None))["items"] + json.loads(
        store.body(1000, 1000, None))["items"]
    changed = [r["id"] for r in items if r["title"].startswith("Senior ")]
    assert changed == [f"u{i:07d}" for i in range(0, 2000, 100)]
    store.encode(0)
    assert not any(r["title"].startswith("Senior ")
                   for r in json.loads(store.body(0, 1000, None))["items"])


def test_the_guide_documents_every_option() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "performance.md")
    documented = set(re.findall(r"^\| `(--[a-z-]+)", guide.read_text(), re.MULTILINE))
    options = {o for action in build_parser()._actions for o in action.option_strings
               if o.startswith("--") and o != "--help"}
    assert documented == options


def test_process_cpu_is_read_from_proc() -> None:
    burn = sum(i * i for i in range(300_000))
    assert burn > 0
    mine = process_cpu_seconds(os.getpid())
    assert mine is not None
    assert mine > 0
    assert process_cpu_seconds(2**22 + 1) is None  # above Linux's pid_max: no such process


def test_backend_cpu_counts_the_work_of_the_databases_backends(bench_server: str) -> None:
    server = bench_server
    name = f"bench_cpu_{uuid.uuid4().hex[:8]}"
    url = pg.recreate(server, name)
    try:
        with BackendCpu(server, name) as idle, psycopg.connect(url) as conn:
            conn.execute("SELECT 1")
        with BackendCpu(server, name) as busy, psycopg.connect(url) as conn:
            conn.execute("SELECT count(*) FROM generate_series(1, 4000000)")
            time.sleep(0.3)  # the connection outlives one sampling interval
    finally:
        pg.drop(server, name)
    assert idle.seconds is not None
    assert busy.seconds is not None
    assert busy.seconds > idle.seconds
    assert busy.seconds >= 0.1
