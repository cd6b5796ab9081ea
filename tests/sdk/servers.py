"""A real HTTP server on 127.0.0.1 for SDK tests, driven by a Python handler function."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Reply]


@dataclass
class Server:
    url: str
    seen: list[Seen]
    handler_ref: list[Handler]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def set_handler(self, handler: Handler) -> None:
        self.handler_ref[0] = handler

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected, not an error."""


@contextmanager
def serve(handler: Handler) -> Iterator[Server]:
    seen: list[Seen] = []
    ref = [handler]
    lock = threading.Lock()

    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            request = Seen(self.command, parts.path, query, dict(self.headers.items()), body)
            with lock:
                seen.append(request)
            reply = ref[0](request)
            payload = (
                reply.body
                if isinstance(reply.body, bytes)
                else json.dumps(reply.body).encode()
                if reply.body is not None
                else b""
            )
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = _QuietServer(("127.0.0.1", 0), _H)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", seen, ref)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
