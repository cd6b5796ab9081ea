"""The sync benchmark: this engine vs dlt vs a raw COPY, on the same data, in one run.

    .venv/bin/python -m bench.sync_bench                 # 1,000,000 records (several minutes)
    .venv/bin/python -m bench.sync_bench --quick         # 10,000 records: a smoke run

One loopback REST source process serves N records (1,000 per page, ~15 fields) to every
contender; each contender writes into its own fresh PostgreSQL database, dropped afterwards.
The engine and dlt run in child processes (their memory is their own and the source's CPU is
not theirs). Prints a table (``bench.report``) and writes the same as JSON to
``bench/results/sync-<UTC timestamp>.json``. What the numbers mean:
``docs/guides/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import copy_ceiling, pg
from bench.report import render, verdicts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FULL, QUICK = 1_000_000, 10_000
DEFAULT_MARK = 100_000
CHILD_TIMEOUT = 4 * 3600


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem that stops the benchmark, with what to do about it."""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    return env


@contextmanager
def source_process(records: int, timeout: float = 900) -> Iterator[str]:
    """The loopback source in its own process; yields its base URL once its pages are ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.source_server", "--records", str(records)],
        cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            raise BenchError(f"the source process did not start (exit {proc.poll()}, "
                             f"said {line.strip()!r})")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_child(module: str, args: list[str], label: str) -> dict[str, Any]:
    """Run ``python -m module args --out FILE``; its JSON, or an ``error`` naming the cause."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        out = Path(tmp) / "result.json"
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", module, *args, "--out", str(out)], cwd=ROOT,
                env=_child_env(), capture_output=True, text=True,
                timeout=CHILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"{label} did not finish within {CHILD_TIMEOUT} s"}
        if proc.returncode != 0 or not out.exists():
            tail = [line for line in (proc.stderr or "").strip().splitlines() if line.strip()]
            sys.stderr.write(proc.stderr[-4000:] if proc.stderr else "")
            return {"error": f"{label} failed (exit {proc.returncode}): "
                             f"{tail[-1] if tail else 'no output'}"}
        result: dict[str, Any] = json.loads(out.read_text())
        say(f"{label} done in {time.perf_counter() - started:,.1f} s")
        return result


def set_variant(source: str, changed_every: int) -> None:
    reply = httpx.post(f"{source}/_bench/variant", params={"changed_every": changed_every},
                       timeout=900)
    reply.raise_for_status()


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "server", "connectors"],
                               cwd=ROOT, text=True, capture_output=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in server/ or connectors/" if dirty else "")


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> dict[str, Any]:
    records: int = args.records
    mark: int = args.rss_mark or (DEFAULT_MARK if records >= 2 * DEFAULT_MARK
                                  else max(1000, records // 10))
    names = {k: f"{args.db_prefix}_{k}" for k in ("engine", "dlt", "copy")}
    now = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "benchmark": "sync", "format": 1, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "records": records, "page_size": 1000, "mapped_fields": 12, "quick": args.quick,
        "commit": _git_commit(), "postgres_version": pg.server_version(args.pg),
        "machine": {"cpus": os.cpu_count(), "load_before": _load(),
                    "platform": platform.platform(), "python": platform.python_version()},
        "engine": {}, "dlt": {}, "copy": {},
    }
    say(f"starting the source with {records:,} records (pages are encoded before timing)")
    with source_process(records) as source:
        try:
            say("engine: initial sync, then the re-sync with 1% changed")
            url = pg.recreate(args.pg, names["engine"])
            result["engine"] = run_child("bench.engine_run", [
                "--db-url", url.replace("postgresql://", "postgresql+psycopg://", 1),
                "--source", source, "--records", str(records), "--rss-mark", str(mark),
                "--changed-every", str(args.changed_every)], "engine")
            set_variant(source, 0)

            if args.no_dlt:
                result["dlt"] = {"available": False, "error": "skipped (--no-dlt)"}
            elif importlib.util.find_spec("dlt") is None:
                result["dlt"] = {"available": False, "error": (
                    "dlt is not installed: .venv/bin/pip install 'dlt[postgres]'")}
            else:
                say("dlt: rest_api -> postgres, merge on id")
                url = pg.recreate(args.pg, names["dlt"])
                user = url.split("://", 1)[1].split("@", 1)[0] if "@" in url else ""
                if user and ":" not in user:
                    # dlt insists on a password; trust authentication ignores it.
                    url = url.replace("@", ":bench@", 1)
                result["dlt"] = {"available": True, **run_child("bench.dlt_run", [
                    "--dsn", url, "--source", source, "--records", str(records)], "dlt")}
                if "error" in result["dlt"]:
                    result["dlt"]["available"] = False

            say("COPY ceiling: preparing the rows (not timed), then COPY")
            result["copy"] = copy_ceiling.measure(pg.recreate(args.pg, names["copy"]), source)
            stats = httpx.get(f"{source}/_bench/stats", timeout=30).json()
            result["source"] = {"process": "separate", "server": "http.server (stdlib)",
                                "encoder": stats.get("encoder"), "pages": stats.get("pages"),
                                "requests": stats.get("requests"),
                                "bytes_sent": stats.get("bytes")}
        finally:
            if not args.keep_databases:
                for name in names.values():
                    pg.drop(args.pg, name)
    result["machine"]["load_after"] = _load()
    result["verdicts"] = verdicts(result)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, help=f"records at the source (default {FULL:,};"
                        f" {QUICK:,} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK:,} records unless --records says otherwise")
    parser.add_argument("--no-dlt", action="store_true", help="leave dlt out")
    parser.add_argument("--rss-mark", type=int, help="records at which the first peak RSS is "
                        "taken (default 100,000; a tenth of --records below 200,000)")
    parser.add_argument("--changed-every", type=int, default=100,
                        help="the re-sync changes every K-th record (default 100: 1%%)")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", pg.DEFAULT_SERVER),
                        help="PostgreSQL server, postgresql://USER@HOST:PORT (env BENCH_PG_URL)")
    parser.add_argument("--db-prefix", default="bench",
                        help="databases <prefix>_engine/_dlt/_copy are created and dropped")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--keep-databases", action="store_true",
                        help="leave the contenders' databases for inspection")
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.records is None:
        args.records = QUICK if args.quick else FULL
    if args.records < 1000:
        parser.error("--records must be at least 1000 (one page)")
    if args.rss_mark is not None and not 0 < args.rss_mark < args.records:
        parser.error("--rss-mark must be between 1 and --records")
    if args.changed_every < 1:
        parser.error("--changed-every must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        result = run(args)
    except (BenchError, pg.BenchDatabaseError, httpx.HTTPError) as exc:
        print(f"benchmark stopped: {exc}", file=sys.stderr)
        return 1
    table = render(result)
    print(table)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"sync-{result['timestamp'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {path}")
    if not (result["dlt"] or {}).get("available"):
        print(f"\n!!! dlt was NOT measured: {result['dlt'].get('error')} !!!", file=sys.stderr)
    return 0 if "error" not in result["engine"] else 1


if __name__ == "__main__":
    sys.exit(main())
