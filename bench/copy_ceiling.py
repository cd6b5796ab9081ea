"""Contender 3, the ceiling: a raw psycopg ``COPY`` of the rows the engine stores.

The rows are prepared before the clock starts: every page is read from the loopback source,
mapped with the same 12-field mapping by the product's mapping engine and hashed with the
store's ``content_hash``, then written as COPY text lines into a temporary file. The timed part
is only ``COPY bench_rows (id, data, content_hash) FROM STDIN`` of that file in 1 MiB blocks
into a table with a primary key, and the commit: what PostgreSQL itself can take from one
client on this machine, with no Python work per row.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import IO, Any

import httpx
import psycopg

from bench import pg
from bench.pgcpu import BackendCpu
from server.mapping import MappingSpec, compile_mapping
from server.sync.store import content_hash
from tests.support.record_source import IDENTITY_MAPPING

BLOCK = 1 << 20


def _escape(text: str) -> str:
    """COPY text format: backslash, tab, newline and carriage return are escaped."""
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def prepare(source: str, page: int = 1000) -> tuple[IO[bytes], int]:
    """Read, map and hash every record into COPY lines; returns the file and the row count."""
    spec = dict(IDENTITY_MAPPING)
    fields = spec.pop("field_mappings")
    compiled = compile_mapping(MappingSpec.model_validate({**spec, "fields": fields}))
    out: IO[bytes] = tempfile.TemporaryFile(prefix="bench-copy-")  # noqa: SIM115
    rows = 0
    cursor: str | None = "0"
    with httpx.Client(base_url=source, timeout=120) as client:
        while cursor is not None:
            reply = client.get("/items", params={"cursor": cursor, "limit": page})
            reply.raise_for_status()
            body: dict[str, Any] = reply.json()
            lines = []
            for record in body["items"]:
                data = compiled.apply(record).output
                if not data or not data.get("external_id"):
                    continue  # the engine would dead-letter it; the ceiling skips it
                text = json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=False)
                lines.append(f"{_escape(str(data['external_id']))}\t{_escape(text)}\t"
                             f"{content_hash(data)}\n")
            out.write("".join(lines).encode())
            rows += len(lines)
            cursor = body.get("next_cursor")
    out.flush()
    return out, rows


def measure(dsn: str, source: str) -> dict[str, Any]:
    prepared_at = time.perf_counter()
    handle, rows = prepare(source)
    prepare_seconds = time.perf_counter() - prepared_at
    with handle, psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_rows (id text PRIMARY KEY, data jsonb NOT NULL, "
                     "content_hash text NOT NULL)")
        conn.commit()
        handle.seek(0)
        with BackendCpu(*pg.split_url(dsn)) as server_cpu:
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(
                    "COPY bench_rows (id, data, content_hash) FROM STDIN") as copy:
                while block := handle.read(BLOCK):
                    copy.write(block)
            conn.commit()
            seconds = time.perf_counter() - started
        row = conn.execute("SELECT count(*) FROM bench_rows").fetchone()
        stored = int(row[0]) if row else 0
    return {"seconds": seconds, "records_per_s": rows / seconds if seconds else None,
            "server_cpu_seconds": server_cpu.seconds, "rows": rows, "stored_rows": stored,
            "exact": stored == rows,
            "prepare_seconds": prepare_seconds}
