"""A loopback stand-in for the agent's REST API, following the published contract.

Used where the real agent cannot show the behaviour under test: a slow agent (``delay``), an
agent that dies and comes back on the same port (``stop``/``start``), and many concurrent
requests. Bearer auth, problem+json errors, cursor pagination and the `/logs` filters work as
the contract in issue 9 describes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/integration"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StubAgent:
    """Start with ``StubAgent(token).start()``; ``url`` is the agent root URL."""

    def __init__(self, token: str = "stub-admin-token", *, port: int = 0) -> None:
        self.token = token
        self.port = port
        self.delay = 0.0
        self.requests = 0
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.principal = {"id": str(uuid.uuid4()), "name": "admin", "kind": "user", "role": "admin"}
        base = _now() - dt.timedelta(hours=3)
        self.instances: list[dict[str, Any]] = [
            {
                "id": str(uuid.uuid4()),
                "name": f"instance-{i}",
                "connector_id": str(uuid.uuid4()),
                "status": ["active", "error", "inactive"][i % 3],
                "last_connected": (base + dt.timedelta(minutes=i)).isoformat(),
                "error_message": "token expired" if i % 3 == 1 else None,
                "created_at": base.isoformat(),
            }
            for i in range(5)
        ]
        self.logs: list[dict[str, Any]] = []
        for i in range(120):
            self.add_log(
                self.instances[i % 5]["id"],
                ["info", "warning", "error", "success"][i % 4],
                ["sync", "test_connection", "auth_refresh"][i % 3],
                f"message {i}",
                timestamp=base + dt.timedelta(seconds=30 * i),
            )

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StubAgent:
        self._server = _Server(("127.0.0.1", self.port), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- data ------------------------------------------------------------------------------

    def add_log(
        self,
        instance_id: str | None,
        log_type: str,
        operation: str,
        message: str,
        *,
        timestamp: dt.datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        row = {
            "id": str(uuid.uuid4()),
            "instance_id": instance_id,
            "log_type": log_type,
            "operation": operation,
            "message": message,
            "timestamp": (timestamp or _now()).isoformat(),
            "details": details or {"n": len(self.logs), "nested": {"ok": log_type != "error"}},
            "sync_id": None,
            "user_id": None,
        }
        with self.lock:
            self.logs.append(row)
        return row

    # -- HTTP ------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def do_GET(self) -> None:
                agent._dispatch(self, "GET")

            def do_POST(self) -> None:
                agent._dispatch(self, "POST")

        return Handler

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, ctype: str) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _problem(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        body = {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "errors": errors or [],
        }
        self._send(h, status, body, "application/problem+json")

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self.lock:
            self.requests += 1
        parts = urlsplit(h.path)
        path = parts.path
        multi = parse_qs(parts.query)
        query = {k: v[-1] for k, v in multi.items()}
        if not path.startswith(PREFIX):
            self._problem(h, 404, f"No route {path}")
            return
        path = path[len(PREFIX) :] or "/"
        if path == "/health":
            self._send(h, 200, {"status": "ok", "version": "stub"}, "application/json")
            return
        if path == "/openapi.json":
            paths = {
                f"{PREFIX}/instances": {"get": {}, "post": {}},
                f"{PREFIX}/instances/{{instance_id}}/activate": {"post": {}},
                f"{PREFIX}/instances/{{instance_id}}/deactivate": {"post": {}},
                f"{PREFIX}/logs": {"get": {}},
            }
            self._send(h, 200, {"openapi": "3.1.0", "paths": paths}, "application/json")
            return
        if self.delay:
            time.sleep(self.delay)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            self._problem(h, 401, "Missing or invalid bearer token")
            return
        body: Any = None
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._problem(
                    h, 422, "Body is not JSON", [{"field": "body", "message": "bad JSON"}]
                )
                return
        if method == "GET" and path == "/me":
            self._send(h, 200, self.principal, "application/json")
        elif method == "GET" and path == "/instances":
            rows = [i for i in self.instances if query.get("status") in (None, i["status"])]
            self._list(h, rows, query, default_sort="name")
        elif method == "GET" and path.startswith("/instances/") and path.endswith("/status"):
            instance_id = path.split("/")[2]
            found = next((i for i in self.instances if i["id"] == instance_id), None)
            if found is None:
                self._problem(h, 404, f"No instance {instance_id}")
                return
            detail = {
                "id": instance_id,
                "status": found["status"],
                "error_message": found["error_message"],
                "last_connected": found["last_connected"],
                "last_sync": found["last_connected"],
                "next_sync": None,
                "active_schedules": 0,
            }
            self._send(h, 200, detail, "application/json")
        elif method == "POST" and path == "/instances":
            self._create_instance(h, body)
        elif method == "GET" and path == "/logs":
            query["log_type"] = ",".join(multi.get("log_type", []))
            self._list(h, self._filter_logs(query), query, default_sort="-timestamp")
        elif method == "GET" and path in ("/sync-executions", "/metrics", "/auth-configs"):
            self._list(h, [], query, default_sort="-created_at")
        elif method == "POST" and path.startswith("/instances/"):
            self._instance_action(h, path)
        else:
            self._problem(h, 404, f"No route {method} {path}")

    def _filter_logs(self, q: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            rows = list(self.logs)
        for key in ("instance_id", "operation"):
            if q.get(key):
                rows = [r for r in rows if r[key] == q[key]]
        if q.get("log_type"):
            wanted = set(q["log_type"].split(","))
            rows = [r for r in rows if r["log_type"] in wanted]
        if q.get("since"):
            since = dt.datetime.fromisoformat(q["since"])
            rows = [r for r in rows if dt.datetime.fromisoformat(r["timestamp"]) > since]
        if q.get("until"):
            until = dt.datetime.fromisoformat(q["until"])
            rows = [r for r in rows if dt.datetime.fromisoformat(r["timestamp"]) <= until]
        if q.get("q"):
            rows = [r for r in rows if q["q"].lower() in r["message"].lower()]
        return rows

    def _list(
        self,
        h: BaseHTTPRequestHandler,
        rows: list[dict[str, Any]],
        q: dict[str, str],
        *,
        default_sort: str,
    ) -> None:
        sort = q.get("sort") or default_sort
        key = sort.lstrip("-")
        rows = sorted(rows, key=lambda r: str(r.get(key) or ""), reverse=sort.startswith("-"))
        try:
            limit = int(q.get("limit") or 50)
            offset = int(base64.urlsafe_b64decode(q["cursor"]).decode()) if q.get("cursor") else 0
        except ValueError:
            self._problem(h, 422, "Bad query", [{"field": "limit", "message": "not a number"}])
            return
        if not 1 <= limit <= 500:
            self._problem(h, 422, "Bad query", [{"field": "limit", "message": "must be 1-500"}])
            return
        page = rows[offset : offset + limit]
        nxt = offset + limit
        cursor = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(rows) else None
        self._send(h, 200, {"items": page, "next_cursor": cursor}, "application/json")

    def _create_instance(self, h: BaseHTTPRequestHandler, body: Any) -> None:
        if not isinstance(body, dict):
            self._problem(
                h, 422, "Body must be an object", [{"field": "body", "message": "object"}]
            )
            return
        errors = []
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append({"field": "name", "message": "must not be empty"})
        if not body.get("connector_id"):
            errors.append({"field": "connector_id", "message": "is required"})
        if errors:
            self._problem(h, 422, "The instance is not valid", errors)
            return
        if any(i["name"] == name for i in self.instances):
            self._problem(
                h,
                409,
                f"An instance named {name!r} exists",
                [{"field": "name", "message": "taken"}],
            )
            return
        row = {
            "id": str(uuid.uuid4()),
            "name": name,
            "connector_id": body["connector_id"],
            "status": "configuring",
            "last_connected": None,
            "error_message": None,
            "created_at": _now().isoformat(),
        }
        self.instances.append(row)
        self._send(h, 201, row, "application/json")

    def _instance_action(self, h: BaseHTTPRequestHandler, path: str) -> None:
        _, _, rest = path.partition("/instances/")
        instance_id, _, action = rest.partition("/")
        found = next((i for i in self.instances if i["id"] == instance_id), None)
        if found is None:
            self._problem(h, 404, f"No instance {instance_id}")
            return
        if action not in ("activate", "deactivate"):
            self._problem(h, 404, f"No action {action}")
            return
        found["status"] = "active" if action == "activate" else "inactive"
        self._send(h, 200, found, "application/json")
