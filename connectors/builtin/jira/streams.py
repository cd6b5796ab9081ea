"""The Jira connector's streams: projects, users and issues (incremental by ``updated``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.builtin.jira.adapters import JiraAdapter
from connectors.sdk.streams import Stream

__all__ = ["ISSUE_FIELDS", "Issues", "Projects", "Users", "jql_since"]

ISSUE_FIELDS = [
    "summary", "status", "issuetype", "priority", "project", "assignee", "reporter",
    "labels", "created", "updated", "resolutiondate", "duedate", "description",
]

AdapterSource = Callable[[], Awaitable[JiraAdapter]]


def _n(*types: str) -> dict[str, Any]:
    return {"type": [*types, "null"]}


def jql_since(cursor: str, zone: Any) -> str:
    """``updated >= "yyyy-MM-dd HH:mm"`` for a cursor, in the API user's time zone.

    JQL reads dates in the searching user's zone with minute precision, so the cursor is
    converted and floored to the minute; the SDK drops what the inclusive filter re-reads.
    """
    parsed = datetime.fromisoformat(cursor)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    local = parsed.astimezone(zone)
    return f'updated >= "{local.strftime("%Y-%m-%d %H:%M")}"'


class _JiraStream(Stream):
    def __init__(self, adapter: AdapterSource) -> None:
        self.adapter = adapter


class Projects(_JiraStream):
    name = "projects"
    description = "Jira projects."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "key", "name"],
        "properties": {
            "id": {"type": "string"},
            "key": {"type": "string"},
            "name": {"type": "string"},
            "projectTypeKey": _n("string"),
            "isPrivate": _n("boolean"),
            "lead": _n("object"),
            "self": {"type": "string"},
        },
    }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        adapter = await self.adapter()
        async for project in adapter.projects():
            yield project


class Users(_JiraStream):
    """Users, with ``id`` = the Cloud ``accountId`` or the Server user ``key``."""

    name = "users"
    description = "Jira users (active and inactive)."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "active"],
        "properties": {
            "id": {"type": "string"},
            "accountId": {"type": "string"},
            "accountType": {"type": "string"},
            "key": {"type": "string"},
            "name": {"type": "string"},
            "displayName": _n("string"),
            "emailAddress": _n("string"),
            "active": {"type": "boolean"},
            "timeZone": _n("string"),
        },
    }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        adapter = await self.adapter()
        async for user in adapter.users():
            ident = adapter.user_id(user)
            if ident:
                yield {"id": ident, **user}


class Issues(_JiraStream):
    """Issues of the selected projects, oldest update first; incremental by ``updated``.

    Records keep Jira's shape (``id``, ``key``, ``fields``) plus ``updated`` (the cursor),
    ``description_text`` (plain text from ADF or wiki text) and ``url`` (the browse link).
    """

    name = "issues"
    description = "Jira issues: status, type, priority, people, labels, description."
    primary_key = ("id",)
    cursor_field = "updated"
    is_sorted = True
    json_schema = {
        "type": "object",
        "required": ["id", "key", "fields", "updated"],
        "properties": {
            "id": {"type": "string"},
            "key": {"type": "string"},
            "self": {"type": "string"},
            "url": _n("string"),
            "updated": {"type": "string"},
            "description_text": _n("string"),
            "fields": {
                "type": "object",
                "required": ["summary", "status"],
                "properties": {
                    "summary": {"type": "string"},
                    "status": {"type": "object"},
                    "issuetype": _n("object"),
                    "priority": _n("object"),
                    "project": {"type": "object"},
                    "assignee": _n("object"),
                    "reporter": _n("object"),
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "created": {"type": "string"},
                    "updated": {"type": "string"},
                    "resolutiondate": _n("string"),
                    "duedate": _n("string"),
                    "description": {"type": ["object", "string", "null"]},
                },
            },
        },
    }

    def __init__(
        self,
        adapter: AdapterSource,
        *,
        projects: list[str],
        jql: str | None,
        browse_base: Callable[[], str | None],
        checkpoint_every: int,
    ) -> None:
        super().__init__(adapter)
        self.projects = projects
        self.jql = jql
        self.browse_base = browse_base
        self.checkpoint_interval = checkpoint_every

    async def query(self, cursor: Any | None) -> str:
        adapter = await self.adapter()
        clauses: list[str] = []
        if self.projects:
            clauses.append("project in (" + ", ".join(f'"{p}"' for p in self.projects) + ")")
        if self.jql:
            clauses.append(f"({self.jql})" if " or " in self.jql.lower() else self.jql)
        if cursor is not None:
            clauses.append(jql_since(str(cursor), await adapter.user_zone()))
        elif not clauses:
            clauses.append('updated >= "1970-01-01 00:00"')  # Cloud refuses unbounded JQL
        return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        adapter = await self.adapter()
        base = self.browse_base()
        async for issue in adapter.search(await self.query(cursor), ISSUE_FIELDS):
            fields = issue.get("fields") or {}
            key = issue.get("key")
            yield {
                **issue,
                "updated": fields.get("updated"),
                "description_text": adapter.text(fields.get("description")),
                "url": f"{base}/browse/{key}" if base and key else None,
            }
