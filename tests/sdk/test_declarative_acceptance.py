"""Acceptance: a declarative spec reads a paginating, throttling loopback API exactly once,
waits out and counts the 429s, and resumes from its saved state with only newer records."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from connectors.declarative import build_connector_class
from connectors.sdk import (
    ConnectorContext,
    RecordMessage,
    SkippedRecordMessage,
    StateMessage,
)

from .servers import Reply, Seen, serve

SPEC_YAML = """
spec_version: 1
connector:
  key: acme-helpdesk
  name: Acme Helpdesk
  version: 1.0.0
  system_type: ITSM
config:
  base_url: {type: string, title: Acme URL}
  api_key: {type: string, secret: true}
auth: bearer
base_url: "{config.base_url}"
streams:
  - name: tickets
    path: /tickets
    paginator: header_link
    primary_key: id
    incremental: {cursor_field: updated_at, param: updated_since}
    schema:
      type: object
      required: [id, updated_at]
      properties:
        id: {type: integer}
        title: {type: string}
        updated_at: {type: string}
  - name: users
    path: /users
    params: {per_page: 4}
    paginator: {type: cursor, cursor_path: meta.next_cursor, cursor_param: cursor}
    records: data
    primary_key: [id]
    incremental: {cursor_field: modified, param: modified_after}
"""

TOKEN = "helpdesk-key-9Zq"


class Bearer(httpx.Auth):
    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        yield request


class HelpdeskApi:
    """Tickets: page size 3 with Link headers, filter ``updated_since`` inclusive (>=).
    Users: page size from ``per_page``, opaque body cursor, ``modified_after`` exclusive (>).
    The 2nd tickets request and the 2nd users request are answered 429 once each."""

    def __init__(self) -> None:
        self.tickets = [
            {"id": i, "title": f"T{i}", "updated_at": f"2024-03-{i:02d}T10:00:00Z"}
            for i in range(1, 9)
        ]
        self.users = [{"id": 100 + i, "modified": 1000 + i} for i in range(1, 11)]
        self.throttle_at = {("/tickets", 2), ("/users", 2)}
        self.counts: dict[str, int] = {}
        self.throttled: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def __call__(self, r: Seen) -> Reply:
        if r.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {})
        with self.lock:
            self.counts[r.path] = self.counts.get(r.path, 0) + 1
            n = self.counts[r.path]
        if (r.path, n) in self.throttle_at:
            self.throttled.append(r.path)
            return Reply(429, {"error": "slow down"}, {"Retry-After": "1"})
        if r.path == "/tickets":
            since = r.query.get("updated_since", "")
            rows = sorted(
                (t for t in self.tickets if t["updated_at"] >= since),
                key=lambda t: t["updated_at"],
            )
            page = int(r.query.get("page", "1"))
            headers = {}
            if page * 3 < len(rows):
                nxt = f"{self.url}/tickets?page={page + 1}"
                if since:
                    nxt += f"&updated_since={since}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            return Reply(200, rows[(page - 1) * 3 : page * 3], headers)
        if r.path == "/users":
            after = int(r.query.get("modified_after", "0"))
            rows = [u for u in self.users if u["modified"] > after]
            start = int(r.query.get("cursor", "0"))
            size = int(r.query["per_page"])
            chunk = rows[start : start + size]
            nxt = str(start + size) if start + size < len(rows) else None
            return Reply(200, {"data": chunk, "meta": {"next_cursor": nxt}})
        return Reply(404, {})


async def _read(connector: Any, stream: str, state: dict[str, Any] | None):
    records, states, skipped = [], [], []
    async for message in connector.read(stream, state):
        if isinstance(message, RecordMessage):
            records.append(message.data)
        elif isinstance(message, StateMessage):
            states.append(message.state)
        elif isinstance(message, SkippedRecordMessage):
            skipped.append(message)
    return records, json.loads(json.dumps(states[-1])), skipped


async def test_declarative_spec_reads_once_waits_out_429_and_resumes(caplog):
    Helpdesk = build_connector_class(SPEC_YAML)
    assert Helpdesk.metadata.key == "acme-helpdesk"
    assert Helpdesk.config_schema()["properties"]["api_key"]["writeOnly"] is True

    api = HelpdeskApi()
    with serve(api) as server:
        api.url = server.url
        context = ConnectorContext(allow_loopback=True)
        config = {"base_url": server.url, "api_key": TOKEN}
        async with Helpdesk(config, credentials=Bearer(), context=context) as helpdesk:
            check = await helpdesk.check()
            assert check.ok, check.to_dict()

            started = time.monotonic()
            tickets, ticket_state, _ = await _read(helpdesk, "tickets", None)
            users, user_state, _ = await _read(helpdesk, "users", None)
            waited = time.monotonic() - started

            assert [t["id"] for t in tickets] == list(range(1, 9))  # every record, once
            assert [u["id"] for u in users] == list(range(101, 111))
            assert api.throttled == ["/tickets", "/users"]
            assert helpdesk.context.metrics.throttled == 2  # the 429s are counted
            assert helpdesk.context.metrics.throttle_wait_s >= 2.0
            assert waited >= 2.0  # and really waited out (Retry-After: 1, twice)
            assert helpdesk.context.metrics.snapshot()["status_counts"]["429"] == 2

            assert ticket_state["cursor"] == "2024-03-08T10:00:00Z"
            assert user_state["cursor"] == 1010

            # Nothing new: resuming reads nothing (the inclusive ticket filter re-sends #8).
            again, same_state, _ = await _read(helpdesk, "tickets", ticket_state)
            assert again == []
            assert same_state == ticket_state

            # Newer records appear; one shares the saved boundary timestamp.
            api.tickets += [
                {"id": 9, "title": "T9", "updated_at": "2024-03-08T10:00:00Z"},
                {"id": 10, "title": "T10", "updated_at": "2024-03-09T10:00:00Z"},
            ]
            api.users += [{"id": 111, "modified": 1011}, {"id": 112, "modified": 1012}]
            newer_tickets, _, _ = await _read(helpdesk, "tickets", ticket_state)
            newer_users, _, _ = await _read(helpdesk, "users", user_state)
            assert [t["id"] for t in newer_tickets] == [9, 10]
            assert [u["id"] for u in newer_users] == [111, 112]

            ticket_queries = [s.query for s in server.seen if s.path == "/tickets"]
            assert ticket_queries[-1]["updated_since"] == "2024-03-08T10:00:00Z"
            user_queries = [s.query for s in server.seen if s.path == "/users"]
            assert user_queries[-1]["modified_after"] == "1010"

            # What a sync asks: the same streams, keys and modes, and no request (the users
            # schema is not inferred, so it stays permissive).
            seen = len(server.seen)
            for_sync = {s.name: s for s in await helpdesk.sync_streams()}
            assert len(server.seen) == seen
            assert for_sync["users"].json_schema.get("properties") is None
            assert for_sync["tickets"].primary_key == ("id",)
            assert for_sync["tickets"].json_schema["required"] == ["id", "updated_at"]

            # Discover: the declared schema is kept, the users schema is inferred.
            streams = {s.name: s for s in await helpdesk.discover()}
            assert len(server.seen) > seen
            assert {n: (s.primary_key, s.sync_modes) for n, s in streams.items()} == {
                n: (s.primary_key, s.sync_modes) for n, s in for_sync.items()}
            assert streams["tickets"].json_schema["required"] == ["id", "updated_at"]
            assert streams["users"].json_schema["properties"]["modified"]["type"] == ["integer"]

    assert TOKEN not in caplog.text
