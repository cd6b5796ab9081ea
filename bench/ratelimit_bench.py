"""Rate-limit benchmark: 200 instances scheduled together against per-tenant 10 requests/s.

    .venv/bin/python -m bench.ratelimit_bench                    # both cases below
    .venv/bin/python -m bench.ratelimit_bench --case rate        # the rate-limit-bound case
    .venv/bin/python -m bench.ratelimit_bench --case cpu         # the CPU-bound case
    .venv/bin/python -m bench.ratelimit_bench --tenants 50 --pages 60 --per-page 5  # custom
    .venv/bin/python -m bench.ratelimit_bench --pacing headers   # no client limit: headers only
    .venv/bin/python -m bench.ratelimit_bench --profile /tmp/rl  # py-spy the agent (if installed)
    .venv/bin/python -m bench.ratelimit_bench --case rate --workers 2  # 2 sync processes
    .venv/bin/python -m bench.ratelimit_bench --client-floor     # HTTP clients' CPU per request

A loopback server gives each tenant (``/t/<n>/items``) a token bucket of 10 requests/s (burst
10), says so on every answer (``X-RateLimit-Limit``, ``-Remaining``, and ``-Reset``: seconds
until the next token), and answers 429 with ``Retry-After: 1`` beyond it. One agent
(``simpletrust agent`` on a fresh PostgreSQL database, up to 256 syncs at once) has one Generic
REST instance per tenant and one schedule each, all due at the same second. With ``--pacing
configured`` (default) the instance's client-side limit is the server's 10/s, burst 10; with
``--pacing headers`` it has none and must pace from the headers alone.

The ceiling is what the server's limiter allows, exactly: a tenant needing R requests can get
the first ``burst`` at once and one every 1/rate after, so no run can take less than
``max(R - burst, 0) / rate`` seconds (R counted per tenant by the server: pages plus the
connector's other requests). Measured: from the slot's due time to the end of the last sync
(``end_to_end``: what a user waits for, scheduler and per-sync costs included) and from the
first request to the last (``requests``). ``share_of_ceiling`` is the shortest possible time
over the end-to-end time (equivalently records/s over the most records/s the limiter allows);
the steady-state ceiling (tenants x rate x records per page) is printed beside it.
Targets (issue 6): >= 85% of the ceiling, no 429 (none is needed: the allowance is known).

Two workloads, because records per page decide what the run measures:

- ``rate`` (the default target case): 120 pages of 2 records per tenant. The limiter allows
  2,000 requests/s in all, 4,000 records/s: a third of what the engine writes into PostgreSQL
  on this machine, so the allowance, not the machine, is the binding constraint, and the run
  lasts 11 s of limiter time, long enough that a start-up delay of a second is not the whole
  story. This case answers the issue's question: do the scheduler, the limiter and the
  engine use the allowance?
- ``cpu``: 30 pages of 100 records (the first version of this benchmark). The limiter would
  allow 200,000 records/s, above what this 2-core machine can even COPY into PostgreSQL
  (~110,000 rows/s), for 2.1 s: the run measures the agent's CPU per record and per sync
  start, not pacing, and its share of the ceiling can only be small. Reported, not a target.

The source itself is an asyncio server on the benchmark's own thread (one keep-alive
connection costs it a few tens of microseconds per request, far less than a thread per
connection), and its CPU is reported (``source_cpu_s``, the whole benchmark process): on two
cores every CPU second the source spends is one the agent cannot. Also reported: the agent's
and PostgreSQL's CPU seconds and the machine's busy share during the run, which say whether a
shortfall is waiting or a CPU ceiling. With ``--workers N`` (``SIMPLETRUST_SYNC_WORKERS``) the
agent's CPU includes its sync worker processes, and claims and starts are also given per
process. Writes ``bench/results/ratelimit-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from sqlalchemy import func, select, update

from bench import pg
from bench.pgcpu import BackendCpu, process_cpu_seconds
from bench.webhook_bench import ROOT, agent_process, say
from server.db.engine import make_engine, make_session_factory
from server.db.models import SyncExecution, SyncSchedule

RESULTS = ROOT / "bench" / "results"
RATE, BURST = 10.0, 10.0


class Throttle:
    """The server's per-tenant token buckets (the limiter the ceiling is computed from)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = defaultdict(lambda: BURST)
        self.stamp: dict[str, float] = {}
        self.requests: Counter[str] = Counter()
        self.ok = 0
        self.throttled = 0
        self.first: float | None = None
        self.last = 0.0
        #: Wall-clock time of each tenant's first and last allowed request (to set beside
        #: the syncs' start and end times, which the database holds as wall-clock times).
        self.tenant_first: dict[str, float] = {}
        self.tenant_last: dict[str, float] = {}

    def take(self, tenant: str) -> tuple[bool, dict[str, str]]:
        """Spend a token of ``tenant``; the rate-limit headers to answer with."""
        now = time.monotonic()
        with self.lock:
            before = self.stamp.get(tenant, now)
            tokens = min(BURST, self.tokens[tenant] + (now - before) * RATE)
            self.stamp[tenant] = now
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
                self.ok += 1
                self.requests[tenant] += 1
                self.first = self.first or now
                self.last = now
                wall = time.time()
                self.tenant_first.setdefault(tenant, wall)
                self.tenant_last[tenant] = wall
            else:
                self.throttled += 1
            self.tokens[tenant] = tokens
        headers = {"X-RateLimit-Limit": f"{RATE:g}",
                   "X-RateLimit-Remaining": str(math.floor(tokens)),
                   "X-RateLimit-Reset": f"{max(0.0, 1 - tokens) / RATE:.3f}"}
        if not allowed:
            headers["Retry-After"] = "1"
        return allowed, headers


class _Source(asyncio.Protocol):
    """One keep-alive connection of the source: GET requests in, JSON pages out."""

    def __init__(self, throttle: Throttle, pages: int, per_page: int) -> None:
        self.throttle, self.pages, self.per_page = throttle, pages, per_page
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            self._answer(target)

    def _answer(self, target: str) -> None:
        url = urlparse(target)
        parts = url.path.strip("/").split("/")
        tenant = parts[1] if len(parts) == 3 else ""
        allowed, headers = self.throttle.take(tenant)
        if allowed:
            page = int((parse_qs(url.query).get("cursor") or ["0"])[0])
            items = [{"id": f"{tenant}-{page}-{i}", "n": i} for i in range(self.per_page)]
            nxt = str(page + 1) if page + 1 < self.pages else None
            status, body = "200 OK", json.dumps({"items": items, "next_cursor": nxt}).encode()
        else:
            status, body = "429 Too Many Requests", b'{"error":"slow down"}'
        lines = [f"HTTP/1.1 {status}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        assert self.transport is not None
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


@contextmanager
def serve(throttle: Throttle, pages: int, per_page: int) -> Iterator[str]:
    """The loopback source on its own thread and event loop; yields its base URL."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        lambda: _Source(throttle, pages, per_page), "127.0.0.1", 0, backlog=1024))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        server.close()
        loop.close()


def children_running(pid: int, module: bytes) -> list[int]:
    """The children of ``pid`` whose command line names ``module``."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if module in cmd:
                found.append(int(child))
    return found


def agent_pid() -> int | None:
    """The agent this process started (its only child running ``server.cli.main``)."""
    agents = children_running(os.getpid(), b"server.cli.main")
    return agents[0] if agents else None


def agent_tree_cpu(pid: int) -> tuple[float, int] | None:
    """CPU seconds of the agent and its sync worker children (``server.agents.workers``),
    and how many such children run."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    workers = children_running(pid, b"server.agents.workers")
    return own + sum(process_cpu_seconds(w) or 0.0 for w in workers), len(workers)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@contextmanager
def profiled(pid: int | None, out: str | None) -> Iterator[None]:
    """py-spy the agent (all its busy threads, its sync workers too) while the block runs,
    if asked."""
    spy = shutil.which("py-spy") or os.environ.get("PY_SPY")
    if out is None or pid is None or spy is None:
        if out is not None:
            say("no py-spy (put it on PATH or in PY_SPY): not profiling")
        yield
        return
    proc = subprocess.Popen([spy, "record", "-p", str(pid), "-o", out, "--format", "raw",
                             "-r", "50", "--threads", "--nonblocking", "--subprocesses"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        proc.wait(timeout=60)
        say(f"py-spy profile (collapsed stacks) in {out}")


def db_counters(server: str, database: str) -> dict[str, int]:
    """The database's transaction and row counters (``pg_stat_database``): per sync, a figure
    of the agent's database work that no other load on the machine changes."""
    time.sleep(1.2)  # backends publish their counters at most once a second when idle
    with pg.admin_connect(server) as conn:
        row = conn.execute("SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, "
                           "tup_deleted FROM pg_stat_database WHERE datname = %s",
                           (database,)).fetchone()
    names = ("commits", "rollbacks", "rows_inserted", "rows_updated", "rows_deleted")
    return dict(zip(names, (int(str(v)) for v in row), strict=True)) if row else {}


def _quantiles(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum of sorted ``values``."""
    if not values:
        return {}
    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 2)
    return {"p50": pick(0.5), "p90": pick(0.9), "max": round(values[-1], 2)}


def client_floor(clients: int = 50, requests: int = 100) -> dict[str, float]:
    """CPU microseconds per request of HTTP clients alone, against the same source with its
    limiter off, all in this process (the source's own share included in each figure): bare
    asyncio streams (the floor of a Python client), bare aiohttp (the SDK's transport alone),
    httpx, the SDK's HttpClient (httpx on aiohttp plus the guard, rate limiter, metrics and
    retries), the same client through ``httpx.AsyncClient.request`` instead of its own
    request path (``sending.Sender``, before it existed), and on httpx's own httpcore
    transport."""
    import aiohttp  # noqa: PLC0415

    from connectors.sdk.http import AddressPolicy, HttpClient  # noqa: PLC0415

    global RATE, BURST  # the floor is measured without the limiter
    saved, (RATE, BURST) = (RATE, BURST), (1e9, 1e9)

    async def bare(base: str, n: int) -> None:
        url = urlparse(base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        for page in range(requests):
            writer.write(f"GET /t/{n}/items?limit=2&cursor={page} HTTP/1.1\r\n"
                         f"Host: {url.netloc}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            json.loads(await reader.readexactly(length))
        writer.close()

    async def bare_aiohttp(base: str, n: int) -> None:
        async with aiohttp.ClientSession() as session:
            for page in range(requests):
                async with session.get(f"{base}/t/{n}/items",
                                       params={"limit": 2, "cursor": page}) as response:
                    json.loads(await response.read())

    async def plain(base: str, n: int) -> None:
        async with httpx.AsyncClient(base_url=f"{base}/t/{n}") as http:
            for page in range(requests):
                (await http.get("/items", params={"limit": 2, "cursor": page})).json()

    async def sdk(base: str, n: int, transport: httpx.AsyncBaseTransport | None = None,
                  own_path: bool = True) -> None:
        policy = AddressPolicy(allow_loopback=True)
        async with HttpClient(f"{base}/t/{n}", policy=policy, transport=transport) as http:
            if not own_path:
                http._sender.usable = lambda: False  # type: ignore[method-assign]
            for page in range(requests):
                (await http.get("/items", params={"limit": 2, "cursor": page})).json()

    async def sdk_on_httpcore(base: str, n: int) -> None:
        await sdk(base, n, httpx.AsyncHTTPTransport(trust_env=False))

    async def sdk_httpx_path(base: str, n: int) -> None:
        await sdk(base, n, own_path=False)

    out: dict[str, float] = {}
    try:
        with serve(Throttle(), 10**6, 2) as base:
            for name, client in (("bare_asyncio", bare), ("bare_aiohttp", bare_aiohttp),
                                 ("httpx", plain), ("sdk", sdk),
                                 ("sdk_httpx_path", sdk_httpx_path),
                                 ("sdk_on_httpcore", sdk_on_httpcore)):
                async def fleet(run: Any = client) -> None:
                    await asyncio.gather(*(run(base, n) for n in range(clients)))
                started = time.process_time()
                asyncio.run(fleet())
                out[name] = round((time.process_time() - started) / (clients * requests) * 1e6)
    finally:
        RATE, BURST = saved
    return out


#: The two workloads (see the module docstring): (pages, records per page).
CASES = {"rate": (120, 2), "cpu": (30, 100)}
CASE_NAMES = {"rate": "rate-limit-bound", "cpu": "CPU-bound", "custom": "custom"}


def run_case(args: argparse.Namespace, case: str, pages: int, per_page: int,
             profile: str | None) -> dict[str, Any]:
    """One run: a fresh database and agent, ``args.tenants`` schedules due together."""
    database = f"st_bench_ratelimit_{os.getpid()}"
    db_url = pg.recreate(args.pg, database).replace("postgresql://", "postgresql+psycopg://")
    throttle = Throttle()
    limits = ({"rate_limit_per_second": RATE, "rate_limit_burst": BURST}
              if args.pacing == "configured" else {})
    try:
        env = {"SIMPLETRUST_MAX_PARALLEL_SYNCS": str(args.parallel),
               "SIMPLETRUST_AGENT_HEARTBEAT_SECONDS": "1"}
        if args.workers is not None:
            env["SIMPLETRUST_SYNC_WORKERS"] = str(args.workers)
        with serve(throttle, pages, per_page) as source, \
                agent_process(db_url, env) as (base, token, _env):
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                                timeout=60)
            connector = next(c["id"] for c in http.get("/connectors", params={
                "q": "generic"}).json()["items"] if c["key"] == "generic-rest")
            say(f"{CASE_NAMES[case]}: creating {args.tenants} instances and schedules")
            for n in range(args.tenants):
                config = {"base_url": f"{source}/t/{n}", "streams": [{
                    "name": "items", "path": "/items", "records": "items",
                    "primary_key": ["id"], "params": {"limit": per_page},
                    "paginator": {"type": "cursor", "cursor_path": "next_cursor",
                                  "cursor_param": "cursor"}}]}
                inst = http.post("/instances", json={
                    "name": f"tenant-{n:03d}", "connector_id": connector,
                    "configuration": config,
                    "options": {"allow_loopback": True, **limits}}).json()
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
            pid = agent_pid()
            time.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds() - 0.5))
            counters_before = db_counters(args.pg, database)
            tree_before = agent_tree_cpu(pid) if pid else None
            source_before = time.process_time()
            busy_before = machine_busy()
            deadline = time.monotonic() + 1200
            with BackendCpu(args.pg, database) as pg_cpu, profiled(pid, profile):
                while True:
                    with make_session_factory(engine)() as session:
                        done = session.scalar(select(func.count()).select_from(SyncExecution)
                                              .where(SyncExecution.status.in_(
                                                  ["completed", "failed"])))
                        total = session.scalar(select(func.count())
                                               .select_from(SyncExecution))
                    if total == args.tenants and done == args.tenants:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {done} of {args.tenants} syncs finished")
                    time.sleep(0.2)
                tree_after = agent_tree_cpu(pid) if pid else None
                source_cpu = time.process_time() - source_before
                busy_after = machine_busy()
            counters_after = db_counters(args.pg, database)
            with make_session_factory(engine)() as session:
                rows = session.execute(select(SyncExecution.status, SyncExecution.stats,
                                              SyncExecution.created_at,
                                              SyncExecution.start_time,
                                              SyncExecution.end_time,
                                              SyncExecution.agent_id)).all()
            engine.dispose()
            http.close()
    finally:
        pg.drop(args.pg, database)
    records = sum(int((r.stats or {}).get("created") or 0) for r in rows)
    failed = sum(1 for r in rows if r.status.value != "completed")
    last_end = max(r.end_time for r in rows if r.end_time is not None)
    end_to_end = (last_end.astimezone(dt.UTC) - due).total_seconds()
    span = max(throttle.last - (throttle.first or throttle.last), 1e-9)
    per_tenant = max(throttle.requests.values(), default=0)
    floor_s = max(per_tenant - BURST, 0) / RATE
    claims = sorted((r.created_at.astimezone(dt.UTC) - due).total_seconds() for r in rows)
    starts = sorted((r.start_time.astimezone(dt.UTC) - due).total_seconds() for r in rows)
    lengths = sorted((r.end_time - r.start_time).total_seconds() for r in rows if r.end_time)
    # Where a sync's time goes: before its first request (start-up), between its first and
    # last (the limiter's part: at least (R - burst) / rate), after its last (writing, ending).
    epoch = due.timestamp()
    first_requests = sorted(t - epoch for t in throttle.tenant_first.values())
    last_requests = sorted(t - epoch for t in throttle.tenant_last.values())
    tenant_spans = sorted(throttle.tenant_last[t] - throttle.tenant_first[t]
                          for t in throttle.tenant_first)
    ends = sorted((r.end_time.astimezone(dt.UTC) - due).total_seconds()
                  for r in rows if r.end_time)
    by_process: dict[str, dict[str, Any]] = {}
    for agent in sorted({r.agent_id or "" for r in rows}):
        mine = [r for r in rows if (r.agent_id or "") == agent]
        by_process[agent] = {
            "syncs": len(mine),
            "claimed_after_due_s": _quantiles(sorted(
                (r.created_at.astimezone(dt.UTC) - due).total_seconds() for r in mine)),
            "started_after_due_s": _quantiles(sorted(
                (r.start_time.astimezone(dt.UTC) - due).total_seconds() for r in mine))}
    agent_cpu = (tree_after[0] - tree_before[0]) if tree_before and tree_after else None
    sync_processes = 1 + (tree_after[1] if tree_after else 0)
    busy = ((busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1))
    result = {
        "case": CASE_NAMES[case], "tenants": args.tenants, "pages": pages,
        "per_page": per_page, "pacing": args.pacing, "max_parallel_syncs": args.parallel,
        "sync_processes": sync_processes,
        "profiled": profile is not None,
        "limiter": {"rate_per_s": RATE, "burst": BURST},
        "records": records, "failed_syncs": failed, "requests_ok": throttle.ok,
        "requests_per_tenant": per_tenant, "responses_429": throttle.throttled,
        "shortest_possible_s": round(floor_s, 3),
        "end_to_end_s": round(end_to_end, 2), "requests_span_s": round(span, 2),
        "records_per_s": round(records / end_to_end, 1),
        "requests_per_s": round(throttle.ok / span, 1),
        "ceiling_records_per_s": round(records / floor_s, 1) if floor_s else None,
        "steady_ceiling_records_per_s": args.tenants * RATE * per_page,
        "share_of_ceiling": round(floor_s / end_to_end, 3),
        "share_of_ceiling_requests_span": round(floor_s / span, 3),
        "slot_claimed_after_due_s": _quantiles(claims),
        "sync_start_after_due_s": _quantiles(starts),
        "sync_duration_s": _quantiles(lengths),
        "first_request_after_due_s": _quantiles(first_requests),
        "last_request_after_due_s": _quantiles(last_requests),
        "tenant_request_span_s": _quantiles(tenant_spans),
        "sync_end_after_due_s": _quantiles(ends),
        "by_sync_process": by_process,
        "agent_cpu_s": round(agent_cpu, 2) if agent_cpu is not None else None,
        "agent_cpu_us_per_request": (round(agent_cpu / max(throttle.ok, 1) * 1e6)
                                     if agent_cpu is not None else None),
        "postgres_cpu_s": round(pg_cpu.seconds, 2) if pg_cpu.seconds is not None else None,
        "source_cpu_s": round(source_cpu, 2),
        # Includes the benchmark's own polling (5 reads a second), a few per sync at most.
        "database_per_sync": {k: round((counters_after.get(k, 0) - v) / max(len(rows), 1), 1)
                              for k, v in counters_before.items()},
        "machine_busy_share": round(busy, 3),
    }
    result["targets"] = {"share_of_ceiling": 0.85, "no_429": True,
                         "met": result["share_of_ceiling"] >= 0.85 and throttle.throttled == 0}
    return result


def report(result: dict[str, Any]) -> None:
    """The case's figures, in a few lines."""
    r = result
    print(f"== {r['case']}: {r['tenants']} tenants, {r['pages']} pages x {r['per_page']} "
          f"records, {RATE:g} req/s burst {BURST:g} each ({r['pacing']} pacing); "
          f"{r['requests_per_tenant']} requests per tenant: shortest possible run "
          f"{r['shortest_possible_s']:.2f} s")
    print(f"records {r['records']} in {r['end_to_end_s']:.2f} s from the due time to the last "
          f"sync's end: {r['records_per_s']:,.0f} records/s = {r['share_of_ceiling']:.1%} of "
          f"the ceiling ({r['ceiling_records_per_s'] or 0:,.0f}/s for this run, "
          f"{r['steady_ceiling_records_per_s']:,.0f}/s steady)")
    print(f"requests: {r['requests_ok']} in {r['requests_span_s']:.2f} s first to last = "
          f"{r['requests_per_s']:,.0f}/s ({r['share_of_ceiling_requests_span']:.1%} of the "
          f"ceiling over that span)")
    claims, starts, lengths = (r["slot_claimed_after_due_s"], r["sync_start_after_due_s"],
                               r["sync_duration_s"])
    print(f"slots claimed {claims['p50']:.2f} s (median) to {claims['max']:.2f} s (last) after "
          f"the due time; syncs started {starts['p50']:.2f} s to {starts['max']:.2f} s, ran "
          f"{lengths['p50']:.2f} s (median) to {lengths['max']:.2f} s")
    first, last, spans, ends = (r["first_request_after_due_s"], r["last_request_after_due_s"],
                                r["tenant_request_span_s"], r["sync_end_after_due_s"])
    print(f"per sync after the due time (median / last): started {starts['p50']:.2f} / "
          f"{starts['max']:.2f} s, first request {first['p50']:.2f} / {first['max']:.2f} s, "
          f"last request {last['p50']:.2f} / {last['max']:.2f} s, ended {ends['p50']:.2f} / "
          f"{ends['max']:.2f} s; a tenant's first to last request {spans['p50']:.2f} s "
          f"(median; the limiter allows {r['shortest_possible_s']:.2f} s)")
    if len(r.get("by_sync_process") or {}) > 1:
        for agent, p in r["by_sync_process"].items():
            print(f"  {agent}: {p['syncs']} syncs, claimed by {p['claimed_after_due_s']['max']:.2f}"
                  f" s, started {p['started_after_due_s']['p50']:.2f} s to "
                  f"{p['started_after_due_s']['max']:.2f} s")
    print(f"CPU: agent {r['agent_cpu_s']} s in {r.get('sync_processes', 1)} sync process(es) "
          f"({r['agent_cpu_us_per_request']} us per request), "
          f"PostgreSQL {r['postgres_cpu_s']} s, source {r['source_cpu_s']} s; machine busy "
          f"{r['machine_busy_share']:.0%} over the run")
    per_sync = r["database_per_sync"]
    print("database per sync: " + ", ".join(f"{v:g} {k.replace('_', ' ')}"
                                            for k, v in per_sync.items()))
    target = "met" if r["targets"]["met"] else "NOT met"
    print(f"429s provoked: {r['responses_429']}; failed syncs: {r['failed_syncs']}; "
          f"target (>= 85%, no 429): {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["both", "rate", "cpu"], default="both",
                        help="which workload (ignored with --pages or --per-page)")
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--pages", type=int, help="custom workload: pages per tenant")
    parser.add_argument("--per-page", type=int, help="custom workload: records per page")
    parser.add_argument("--pacing", choices=["configured", "headers"], default="configured")
    parser.add_argument("--parallel", type=int, default=256,
                        help="SIMPLETRUST_MAX_PARALLEL_SYNCS of the agent")
    parser.add_argument("--workers", type=int,
                        help="SIMPLETRUST_SYNC_WORKERS of the agent (default: the agent's)")
    parser.add_argument("--profile", help="write py-spy profiles of the agent to PREFIX-CASE")
    parser.add_argument("--pg", default=pg.DEFAULT_SERVER)
    parser.add_argument("--client-floor", action="store_true",
                        help="only measure HTTP clients' CPU per request (no agent)")
    args = parser.parse_args()
    if args.client_floor:
        floor = client_floor()
        print("CPU per request, 50 clients x 100 requests, source included: " + ", ".join(
            f"{name} {us} us" for name, us in floor.items()))
        return
    if args.pages is not None or args.per_page is not None:
        plan = {"custom": (args.pages or CASES["rate"][0],
                           args.per_page or CASES["rate"][1])}
    else:
        plan = {name: CASES[name] for name in (["rate", "cpu"] if args.case == "both"
                                                else [args.case])}
    results = []
    for case, (pages, per_page) in plan.items():
        profile = f"{args.profile}-{case}.txt" if args.profile else None
        results.append(run_case(args, case, pages, per_page, profile))
        report(results[-1])
    out_doc = {"benchmark": "ratelimit", "when": dt.datetime.now(dt.UTC).isoformat(),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_after": os.getloadavg()},
               "commit": _commit(), "cases": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ratelimit-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(out_doc, indent=2))
    say(f"wrote {out.relative_to(ROOT)}")


def _commit() -> str:
    """The measured commit, marked when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if dirty.strip() else head


if __name__ == "__main__":
    main()
