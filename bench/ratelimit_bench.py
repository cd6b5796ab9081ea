"""Rate-limit benchmark: 200 instances scheduled together against per-tenant 10 requests/s.

    .venv/bin/python -m bench.ratelimit_bench                # 200 tenants x 30 pages
    .venv/bin/python -m bench.ratelimit_bench --tenants 50

A loopback server gives each tenant (``/t/<n>/items``) a token bucket of 10 requests/s
(burst 10) and answers 429 with ``Retry-After: 1`` beyond it. One agent (``simpletrust agent``
on a fresh PostgreSQL database, up to 256 syncs at once) has one Generic REST instance per
tenant with the client-side limit set to the same 10/s, and one schedule each, all due at the
same second. Reported: aggregate records/s and requests/s from the first request to the last
against the ceiling (tenants x 10 requests/s x records per page), and the 429s provoked.
Targets (issue 6): >= 85% of the ceiling, no 429 beyond the allowance (none: the client
limit equals the server's). Prints a table and writes ``bench/results/ratelimit-*.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from sqlalchemy import func, select, update

from bench import pg
from bench.webhook_bench import ROOT, agent_process, say
from server.db.engine import make_engine, make_session_factory
from server.db.models import SyncExecution, SyncSchedule

RESULTS = ROOT / "bench" / "results"
RATE, BURST = 10.0, 10.0


class Throttle:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = defaultdict(lambda: BURST)
        self.stamp: dict[str, float] = {}
        self.ok = 0
        self.throttled = 0
        self.first: float | None = None
        self.last = 0.0

    def take(self, tenant: str) -> bool:
        now = time.monotonic()
        with self.lock:
            before = self.stamp.get(tenant, now)
            tokens = min(BURST, self.tokens[tenant] + (now - before) * RATE)
            self.stamp[tenant] = now
            if tokens < 1:
                self.tokens[tenant] = tokens
                self.throttled += 1
                return False
            self.tokens[tenant] = tokens - 1
            self.ok += 1
            self.first = self.first or now
            self.last = now
            return True


@contextmanager
def serve(throttle: Throttle, pages: int, per_page: int) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            tenant = parts[1] if len(parts) == 3 else ""
            if not throttle.take(tenant):
                self._send(429, b'{"error":"slow down"}', {"Retry-After": "1"})
                return
            page = int((parse_qs(url.query).get("cursor") or ["0"])[0])
            items = [{"id": f"{tenant}-{page}-{i}", "n": i} for i in range(per_page)]
            nxt = str(page + 1) if page + 1 < pages else None
            self._send(200, json.dumps({"items": items, "next_cursor": nxt}).encode(), {})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--per-page", type=int, default=2)
    parser.add_argument("--pg", default=pg.DEFAULT_SERVER)
    args = parser.parse_args()
    database = f"st_bench_ratelimit_{os.getpid()}"
    db_url = pg.recreate(args.pg, database).replace("postgresql://", "postgresql+psycopg://")
    throttle = Throttle()
    try:
        with serve(throttle, args.pages, args.per_page) as source, agent_process(db_url, {
                "SIMPLETRUST_MAX_PARALLEL_SYNCS": "256",
                "SIMPLETRUST_AGENT_HEARTBEAT_SECONDS": "1"}) as (base, token, _env):
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                                timeout=60)
            connector = next(c["id"] for c in http.get("/connectors", params={
                "q": "generic"}).json()["items"] if c["key"] == "generic-rest")
            say(f"creating {args.tenants} instances and schedules")
            for n in range(args.tenants):
                config = {"base_url": f"{source}/t/{n}", "streams": [{
                    "name": "items", "path": "/items", "records": "items",
                    "primary_key": ["id"], "params": {"limit": args.per_page},
                    "paginator": {"type": "cursor", "cursor_path": "next_cursor",
                                  "cursor_param": "cursor"}}]}
                inst = http.post("/instances", json={
                    "name": f"tenant-{n:03d}", "connector_id": connector,
                    "configuration": config,
                    "options": {"allow_loopback": True, "rate_limit_per_second": RATE,
                                "rate_limit_burst": BURST}}).json()
                http.post(f"/instances/{inst['id']}/activate")
                http.post("/schedules", json={"instance_id": inst["id"],
                                              "schedule_type": "interval",
                                              "interval_minutes": 60})
            engine = make_engine(db_url)
            due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=5)
            with make_session_factory(engine)() as session:
                session.execute(update(SyncSchedule).values(next_execution=due))
                session.commit()
            say(f"all {args.tenants} schedules due at {due:%H:%M:%S}; waiting")
            deadline = time.monotonic() + 600
            while True:
                with make_session_factory(engine)() as session:
                    done = session.scalar(select(func.count()).select_from(SyncExecution).where(
                        SyncExecution.status.in_(["completed", "failed"])))
                    total = session.scalar(select(func.count()).select_from(SyncExecution))
                if total == args.tenants and done == args.tenants:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {done} of {args.tenants} syncs finished")
                time.sleep(0.5)
            with make_session_factory(engine)() as session:
                rows = session.execute(select(SyncExecution.status, SyncExecution.stats)).all()
            engine.dispose()
            http.close()
    finally:
        pg.drop(args.pg, database)
    records = sum(int((r.stats or {}).get("created") or 0) for r in rows)
    failed = sum(1 for r in rows if r.status.value != "completed")
    span = max(throttle.last - (throttle.first or throttle.last), 1e-9)
    ceiling_rps = args.tenants * RATE
    ceiling = ceiling_rps * args.per_page
    # The burst lets each tenant take BURST requests at once: the shortest possible run.
    floor_s = max(args.pages - BURST, 0) / RATE
    result = {
        "benchmark": "ratelimit", "when": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "tenants": args.tenants, "pages": args.pages, "per_page": args.per_page,
        "records": records, "failed_syncs": failed, "requests_ok": throttle.ok,
        "responses_429": throttle.throttled, "span_s": round(span, 2),
        "records_per_s": round(records / span, 1), "requests_per_s": round(throttle.ok / span, 1),
        "ceiling_records_per_s": ceiling, "ceiling_requests_per_s": ceiling_rps,
        "shortest_possible_s": floor_s,
        "share_of_ceiling": round(records / span / ceiling, 3),
    }
    result["targets"] = {"share_of_ceiling": 0.85, "no_429": True,
                         "met": result["share_of_ceiling"] >= 0.85 and throttle.throttled == 0}
    print(f"tenants {args.tenants}, {args.pages} pages x {args.per_page} records, "
          f"{RATE:.0f} req/s each")
    print(f"records {records} in {span:.1f} s: {records / span:,.0f} records/s "
          f"({result['share_of_ceiling']:.0%} of the {ceiling:,.0f}/s ceiling); "
          f"{throttle.ok / span:,.0f} requests/s of {ceiling_rps:,.0f}")
    print(f"429s provoked: {throttle.throttled}; failed syncs: {failed}; target: "
          f"{'met' if result['targets']['met'] else 'NOT met'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ratelimit-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2))
    say(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
