"""The benchmark's loopback REST source, run as its own process so its CPU is not ours.

It serves the records of ``tests.support.record_source.Source`` (the same data the sync tests
use) at ``GET /items?cursor=OFFSET&limit=1000`` and answers ``{"items": [...],
"next_cursor": ...}``. Pages of the default size are encoded once, before the server says it
is ready, into a temporary file and sent from there: during a measurement the source only copies
bytes, so every contender gets the same cheap source. Other requests are encoded on demand.

Run it as ``python -m bench.source_server --records N``; it prints ``READY <base url>`` on
stdout once the pages are encoded. ``POST /_bench/variant?changed_every=K`` re-encodes the
pages with every K-th record changed (``0`` restores the original data) and answers when done;
``GET /_bench/stats`` counts requests and bytes served.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

from tests.support.record_source import Source

PAGE = 1000

try:  # orjson encodes a page ~20x faster than json; either gives the same records.
    import orjson

    def _encode(value: Any) -> bytes:
        return orjson.dumps(value)

    ENCODER = "orjson"
except ImportError:  # pragma: no cover - depends on what is installed
    def _encode(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    ENCODER = "json"


class PageStore:
    """The pre-encoded pages of one variant of the source, in a temporary file."""

    def __init__(self, source: Source, page: int = PAGE) -> None:
        self.source = source
        self.page = page
        self.lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._index: list[tuple[int, int]] = []
        self.requests = 0
        self.bytes_sent = 0

    def encode(self, changed_every: int) -> float:
        """(Re-)encode every page with every ``changed_every``-th record changed; seconds."""
        started = time.perf_counter()
        self.source.changed = (set(range(0, self.source.count, changed_every))
                               if changed_every > 0 else set())
        handle: BinaryIO = tempfile.TemporaryFile(prefix="bench-pages-")  # noqa: SIM115
        index: list[tuple[int, int]] = []
        position = 0
        for offset in range(0, self.source.count, self.page):
            body = _encode(self.source.page(offset, self.page, None))
            handle.write(body)
            index.append((position, len(body)))
            position += len(body)
        handle.flush()
        with self.lock:
            old, self._file, self._index = self._file, handle, index
        if old is not None:
            old.close()
        return time.perf_counter() - started

    def body(self, offset: int, limit: int, since: int | None) -> bytes:
        if since is None and limit == self.page and offset % self.page == 0:
            with self.lock:
                number = offset // self.page
                if self._file is not None and number < len(self._index):
                    position, length = self._index[number]
                    return self._count(os.pread(self._file.fileno(), length, position))
        with self.lock:
            return self._count(_encode(self.source.page(offset, limit, since)))

    def _count(self, body: bytes) -> bytes:
        self.requests += 1
        self.bytes_sent += len(body)
        return body

    @property
    def pages(self) -> int:
        return len(self._index)

    @property
    def size(self) -> int:
        return sum(length for _, length in self._index)


def _handler(store: PageStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # quiet: one line per page is noise
            pass

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _query(self) -> tuple[str, dict[str, list[str]]]:
            url = urlparse(self.path)
            return url.path, parse_qs(url.query)

        def do_GET(self) -> None:
            path, query = self._query()
            if path == "/_bench/stats":
                self._reply(200, _encode({"requests": store.requests, "bytes": store.bytes_sent,
                                          "pages": store.pages, "encoder": ENCODER}))
                return
            if path != "/items":
                self._reply(404, b'{"error": "not found"}')
                return
            try:
                offset = int(query.get("cursor", ["0"])[0])
                limit = int(query.get("limit", [str(PAGE)])[0])
                since = int(query["updated_since"][0]) if "updated_since" in query else None
            except ValueError:
                self._reply(400, b'{"error": "cursor, limit and updated_since are integers"}')
                return
            self._reply(200, store.body(offset, limit, since))

        def do_POST(self) -> None:
            path, query = self._query()
            if path != "/_bench/variant":
                self._reply(404, b'{"error": "not found"}')
                return
            try:
                every = int(query.get("changed_every", ["0"])[0])
            except ValueError:
                self._reply(400, b'{"error": "changed_every is an integer"}')
                return
            seconds = store.encode(every)
            self._reply(200, _encode({"changed": len(store.source.changed),
                                      "seconds": round(seconds, 3)}))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hung up: expected
            super().handle_error(request, client_address)


def serve(records: int, port: int = 0, ready: Callable[[str], None] | None = None) -> None:
    """Encode the pages, then serve until the process is stopped."""
    store = PageStore(Source(records))
    store.encode(0)
    server = _Server(("127.0.0.1", port), _handler(store))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (ready or (lambda url: print(f"READY {url}", flush=True)))(base)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")
    try:
        serve(args.records, args.port)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
