"""A fake Pinewood API on 127.0.0.1, so the tests run the real connector over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "pw-test-token-4c1d9e"  # noqa: S105 - test credentials
WEBHOOK_SECRET = "whsec-test-7b2f"  # noqa: S105
ISSUES_PATH = "/api/v1/projects/OPS/issues"


class FakePinewood:
    """The API's state: issues (oldest change first), the token's scopes, issues created."""

    def __init__(self) -> None:
        self.url = ""
        self.scopes = ["issues:read", "issues:write"]
        self.issues: list[dict[str, Any]] = [
            {"id": n, "title": f"Issue {n}", "status": "open", "priority": "normal",
             "updated_at": f"2024-06-0{min(n, 6)}T09:00:00Z"}
            for n in range(1, 8)  # issues 6 and 7 share a timestamp: the cursor boundary
        ]

    def touch(self, issue_id: int, when: str) -> None:
        """Change an issue, as a user would: new status, newer updated_at."""
        issue = next(i for i in self.issues if i["id"] == issue_id)
        issue.update(status="closed", updated_at=when)

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes,
               auth: str | None) -> tuple[int, Any]:
        if auth != f"Bearer {TOKEN}":
            return 401, {"error": "invalid_token"}
        if method == "GET" and path == "/api/v1/me":
            return 200, {"login": "sync-bot", "scopes": self.scopes}
        if method == "GET" and path == ISSUES_PATH:
            return 200, self._page(query)
        if method == "POST" and path == ISSUES_PATH:
            data = json.loads(body)
            issue = {"id": len(self.issues) + 1, "title": data["title"], "status": "open",
                     "priority": data["priority"], "updated_at": "2024-07-01T00:00:00Z"}
            self.issues.append(issue)
            return 201, issue
        return 404, {"error": "not_found"}

    def _page(self, query: dict[str, str]) -> dict[str, Any]:
        since = query.get("updated_since", "")
        rows = sorted((i for i in self.issues if i["updated_at"] >= since),
                      key=lambda i: (i["updated_at"], i["id"]))
        offset = int(query.get("cursor", "0"))
        limit = int(query.get("limit", "50"))
        end = offset + limit
        return {"issues": rows[offset:end], "next_cursor": str(end) if end < len(rows) else None}


@contextmanager
def serve(api: FakePinewood) -> Iterator[FakePinewood]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, reply = api.handle(self.command, url.path, query, body,
                                       self.headers.get("Authorization"))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
