"""A loopback HTTP receiver that records every request and fails the first N on purpose."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    fail_first: int = 0
    status_on_failure: int = 500
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    url: str = ""

    def answered(self, status: int) -> list[tuple[dict[str, str], bytes, int]]:
        return [r for r in self.requests if r[2] == status]


@contextmanager
def serve_receiver(receiver: Receiver) -> Iterator[Receiver]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                status = (receiver.status_on_failure
                          if len(receiver.requests) < receiver.fail_first else 200)
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                          body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
