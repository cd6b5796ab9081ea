"""A loopback REST API serving N deterministic records, for sync tests and the benchmark.

``GET /items?cursor=OFFSET&limit=L[&updated_since=TS]`` answers
``{"items": [...], "next_cursor": "OFFSET+L" | null}``: cursor pagination in the body, like
many SaaS APIs. Records have ~15 fields. Tests change the source between syncs: ``changed``
ids get a new title and a later ``updated_at``, ``removed`` ids disappear, ``broken`` ids lose
their e-mail (so a mapping that requires it fails on them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

BASE_TS = 1_700_000_000


@dataclass
class Source:
    count: int
    changed: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)
    broken: set[int] = field(default_factory=set)
    requests: int = 0

    def record(self, i: int) -> dict[str, Any]:
        changed = i in self.changed
        ts = BASE_TS + i + (10_000_000 if changed else 0)
        return {
            "id": f"u{i:07d}",
            "login": f"user{i}",
            "email": None if i in self.broken else f"user{i}@example.com",
            "first_name": f"First{i % 997}",
            "last_name": f"Last{i % 991}",
            "title": ("Senior " if changed else "") + ["Engineer", "Analyst", "Manager"][i % 3],
            "department": ["Security", "IT", "Finance", "Sales"][i % 4],
            "active": i % 17 != 0,
            "mfa_enabled": i % 5 != 0,
            "manager_id": f"u{i // 10:07d}" if i >= 10 else None,
            "location": {"city": ["Berlin", "Paris", "Austin"][i % 3], "country": "XX"},
            "groups": [f"g{i % 13}", f"g{i % 7}"],
            "created_at": f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
            "updated_at": ts,
            "risk_score": (i * 37) % 100,
        }

    def page(self, offset: int, limit: int, since: int | None) -> dict[str, Any]:
        items = []
        i = offset
        end = min(offset + limit, self.count)
        for i in range(offset, end):
            if i in self.removed:
                continue
            record = self.record(i)
            if since is not None and record["updated_at"] < since:
                continue
            items.append(record)
        nxt = end if end < self.count else None
        return {"items": items, "next_cursor": str(nxt) if nxt is not None else None}


def _handler(source: Source) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/items":
                self.send_error(404)
                return
            q = parse_qs(url.query)
            offset = int(q.get("cursor", ["0"])[0])
            limit = int(q.get("limit", ["1000"])[0])
            since = int(q["updated_since"][0]) if "updated_since" in q else None
            source.requests += 1
            body = json.dumps(source.page(offset, limit, since)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_source(source: Source) -> Iterator[str]:
    """Serve ``source`` on 127.0.0.1 in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(source))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def generic_rest_config(base_url: str, *, incremental: bool = False, page: int = 1000
                        ) -> dict[str, Any]:
    """Generic REST connector configuration for the source (full refresh or incremental)."""
    stream: dict[str, Any] = {
        "name": "users", "path": "/items", "records": "items", "primary_key": ["id"],
        "params": {"limit": page},
        "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    }
    if incremental:
        stream["incremental"] = {"cursor_field": "updated_at", "param": "updated_since"}
    return {"base_url": base_url, "streams": [stream]}


#: A 12-field mapping of the source's users to canonical identities.
IDENTITY_MAPPING = {
    "name": "users", "source": "users", "target": "identity",
    "field_mappings": [
        {"target": "external_id", "source": "id"},
        {"target": "username", "source": "login"},
        {"target": "email", "source": "email", "steps": ["trim", "lower"],
         "rules": {"required": True}},
        {"target": "display_name", "source": ["first_name", "last_name"],
         "steps": [{"function": "concat", "params": {"separator": " "}}]},
        {"target": "given_name", "source": "first_name"},
        {"target": "family_name", "source": "last_name"},
        {"target": "title", "source": "title"},
        {"target": "department", "source": "department"},
        {"target": "status", "source": "active",
         "steps": ["to_string", {"function": "lookup", "params": {
             "table": {"true": "active", "false": "disabled"}, "case_insensitive": True}}]},
        {"target": "mfa_enabled", "source": "mfa_enabled"},
        {"target": "manager_external_id", "source": "manager_id"},
        {"target": "updated_at", "source": "updated_at",
         "steps": [{"function": "parse_datetime", "params": {"unit": "s"}}]},
    ],
}
