"""A loopback REST source that misbehaves on request: 500s, 429 storms, timeouts, malformed
JSON, revoked credentials, and a response that hangs half-way through its body.

It serves the records of :class:`tests.support.record_source.Source` with the same cursor
pagination; faults apply to the next requests for a given cursor (or any cursor).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.record_source import Source


@dataclass
class Fault:
    kind: str  # "500", "429", "timeout", "malformed", "hang"
    times: int = 1  # -1: forever
    cursor: str | None = None  # None: any page


@dataclass
class FaultySource(Source):
    token: str | None = None  # the bearer token it accepts (None: no authentication)
    retry_after: float = 0.05
    stall_s: float = 1.5  # how long "timeout" and "hang" stall (beyond the client's timeout)
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, int]] = field(default_factory=list)  # (cursor, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, kind: str, times: int = 1, cursor: str | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(kind, times, cursor))

    def heal(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, cursor: str) -> str | None:
        with self.lock:
            for fault in self.faults:
                if fault.cursor in (None, cursor) and fault.times != 0:
                    fault.times -= 1 if fault.times > 0 else 0
                    return fault.kind
        return None


def _handler(source: FaultySource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None
                  ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = parse_qs(url.query)
            cursor = q.get("cursor", ["0"])[0]
            if source.token is not None and \
                    self.headers.get("Authorization") != f"Bearer {source.token}":
                source.seen.append((cursor, 401))
                self._send(401, b'{"error": "invalid token"}')
                return
            fault = source.take(cursor)
            if fault == "500":
                source.seen.append((cursor, 500))
                self._send(500, b'{"error": "internal"}')
                return
            if fault == "429":
                source.seen.append((cursor, 429))
                self._send(429, b'{"error": "slow down"}',
                           {"Retry-After": str(source.retry_after)})
                return
            if fault == "timeout":
                source.seen.append((cursor, 0))
                time.sleep(source.stall_s)
                self.close_connection = True
                return
            limit = int(q.get("limit", ["1000"])[0])
            since = int(q["updated_since"][0]) if "updated_since" in q else None
            body = json.dumps(source.page(int(cursor), limit, since)).encode()
            source.requests += 1
            if fault == "malformed":
                source.seen.append((cursor, 200))
                self._send(200, body[: len(body) // 2])
                return
            if fault == "hang":
                source.seen.append((cursor, 200))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(source.stall_s)
                self.close_connection = True
                return
            source.seen.append((cursor, 200))
            self._send(200, body)

    return Handler


@contextmanager
def serve_faulty(source: FaultySource) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(source))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
