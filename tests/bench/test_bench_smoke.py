"""The sync benchmark end to end in quick mode: it runs, prints its table, writes valid JSON.

Performance is not asserted (the machine is shared); correctness of what each contender wrote
is, because a benchmark that loses records measures nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from bench import sync_bench

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def _databases(prefix: str) -> list[str]:
    with psycopg.connect(f"{SERVER}/postgres") as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (prefix + "%",)).fetchall()
    return [r[0] for r in rows]


@pytest.mark.timeout(180)
def test_quick_run_prints_the_table_and_writes_json(tmp_path: Path, bench_server: str
                                                    ) -> None:
    prefix = f"bench_smoke_{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sync_bench", "--quick", "--db-prefix", prefix,
         "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=170, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for line in ("this engine (initial full sync)", "psycopg COPY, prepared rows (ceiling)",
                 "engine / dlt", "engine / COPY", "peak RSS of the engine process",
                 "re-sync with 1% changed", "rows written", "targets (issue 5)"):
        assert line in out
    assert "Traceback" not in proc.stderr

    files = list(tmp_path.glob("sync-*.json"))
    assert len(files) == 1
    assert str(files[0]) in out
    result = json.loads(files[0].read_text())
    assert result["records"] == sync_bench.QUICK
    assert result["quick"] is True
    engine = result["engine"]
    assert engine["exact"] is True
    assert engine["counts"]["created"] == sync_bench.QUICK
    assert engine["rss_mark_records"] >= sync_bench.QUICK // 10
    assert 0 < engine["peak_rss_at_mark_bytes"] <= engine["peak_rss_bytes"]
    resync = engine["resync"]
    assert resync["exact"] is True
    assert resync["changed_at_source"] == sync_bench.QUICK // 100 == resync["rows_written"]
    assert result["copy"]["exact"] is True
    assert result["copy"]["rows"] == sync_bench.QUICK
    dlt = result["dlt"]
    if dlt["available"]:
        assert dlt["exact"] is True
        assert dlt["rows_loaded"] == sync_bench.QUICK
        assert "dlt " + dlt["version"] in out
    else:  # not installed or failed: said loudly, never a made-up number
        assert "NOT MEASURED" in out
        assert "records_per_s" not in dlt
    assert [t["name"] for t in result["verdicts"]["targets"]] == [
        "engine_vs_dlt", "engine_vs_copy", "rss_growth"]
    assert all(t["met"] in (True, False, None) for t in result["verdicts"]["targets"])
    assert _databases(prefix) == []  # the contenders' databases were dropped


def test_bad_arguments_are_refused_with_the_option_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sync_bench.main(["--records", "10"])
    assert exit_info.value.code == 2
    assert "--records must be at least 1000" in capsys.readouterr().err


def test_unreachable_postgres_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = sync_bench.main(["--quick", "--pg", "postgresql://postgres@127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1 is unreachable" in err
    assert "Traceback" not in err
