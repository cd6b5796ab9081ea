"""The Splunk connector's streams: saved searches (definitions), notable events, and the
results of configured searches (saved or ad-hoc SPL), incremental by ``_time``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from connectors.builtin.splunk.export import SplunkExporter
from connectors.sdk.errors import DataError
from connectors.sdk.http import HttpClient
from connectors.sdk.streams import Stream

__all__ = ["NotableEvents", "SavedSearches", "SearchResults", "epoch"]

_STR = {"type": "string"}
_STR_OR_LIST = {"type": ["string", "array"], "items": {"type": "string"}}


def epoch(cursor: Any) -> str:
    """A ``_time`` cursor (ISO 8601) as the epoch seconds ``earliest_time`` takes."""
    parsed = datetime.fromisoformat(str(cursor).replace("Z", "+00:00"))
    return f"{parsed.timestamp():.3f}"


class SavedSearches(Stream):
    """Saved searches and alerts: what is monitored, on which schedule, with which actions
    (evidence that detections exist and run)."""

    name = "saved_searches"
    description = "Saved searches, alerts and ES correlation searches (definitions)."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "name", "search"],
        "properties": {
            "id": _STR,
            "name": _STR,
            "app": {"type": ["string", "null"]},
            "owner": {"type": ["string", "null"]},
            "search": _STR,
            "description": {"type": ["string", "null"]},
            "disabled": {"type": "boolean"},
            "is_scheduled": {"type": "boolean"},
            "cron_schedule": {"type": ["string", "null"]},
            "actions": {"type": "array", "items": {"type": "string"}},
            "creates_notable": {"type": "boolean"},
            "earliest_time": {"type": ["string", "null"]},
            "updated": {"type": ["string", "null"]},
        },
    }

    def __init__(self, http: HttpClient, page_size: int) -> None:
        self.http = http
        self.page_size = page_size

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        offset = 0
        while True:
            body = await self.http.get_json(
                "/servicesNS/-/-/saved/searches",
                params={"output_mode": "json", "count": self.page_size, "offset": offset},
            )
            entries = body.get("entry") if isinstance(body, dict) else None
            if not isinstance(entries, list):
                raise DataError("Splunk's saved searches answer has no 'entry' list.")
            for entry in entries:
                if isinstance(entry, dict):
                    yield _saved(entry)
            offset += len(entries)
            total = (body.get("paging") or {}).get("total")
            if not entries or not isinstance(total, int) or offset >= total:
                return


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


def _saved(entry: dict[str, Any]) -> dict[str, Any]:
    content = entry.get("content") or {}
    acl = entry.get("acl") or {}
    actions = [a.strip() for a in str(content.get("actions") or "").split(",") if a.strip()]
    return {
        "id": str(entry.get("id") or entry.get("name")),
        "name": str(entry.get("name")),
        "app": acl.get("app"),
        "owner": acl.get("owner"),
        "search": str(content.get("search", "")),
        "description": content.get("description") or None,
        "disabled": _flag(content.get("disabled")),
        "is_scheduled": _flag(content.get("is_scheduled")),
        "cron_schedule": content.get("cron_schedule") or None,
        "actions": actions,
        "creates_notable": _flag(content.get("action.notable")) or "notable" in actions,
        "earliest_time": content.get("dispatch.earliest_time") or None,
        "updated": entry.get("updated"),
    }


class SearchResults(Stream):
    """Results of one search, streamed from the export endpoint; incremental by ``_time``.

    The first read looks back ``initial_earliest`` (a Splunk time modifier such as ``-24h``);
    later reads start at the cursor (inclusive, so the SDK drops what it re-reads).
    """

    cursor_field = "_time"

    def __init__(
        self,
        exporter: SplunkExporter,
        *,
        name: str,
        spl: str,
        initial_earliest: str,
        primary_key: tuple[str, ...] = (),
        description: str = "",
    ) -> None:
        self.exporter = exporter
        self.name = name
        self.spl = spl
        self.initial_earliest = initial_earliest
        self.primary_key = primary_key
        self.description = description or f"Results of: {spl[:120]}"
        self.json_schema = {
            "type": "object",
            "required": ["_time"],
            "properties": {
                "_time": _STR,
                "_raw": _STR,
                "_cd": _STR,
                "host": _STR,
                "source": _STR,
                "sourcetype": _STR,
                "index": _STR,
                **{key: _STR for key in primary_key},
            },
            "additionalProperties": _STR_OR_LIST,
        }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        earliest = epoch(cursor) if cursor is not None else self.initial_earliest
        async for result in self.exporter.results(self.spl, earliest_time=earliest,
                                                  latest_time="now"):
            yield result


class NotableEvents(SearchResults):
    """Enterprise Security notable events (the ``notable`` index), by ``event_id``."""

    def __init__(self, exporter: SplunkExporter, *, index: str, initial_earliest: str) -> None:
        super().__init__(
            exporter,
            name="notable_events",
            spl=f"search index={index}",
            initial_earliest=initial_earliest,
            primary_key=("event_id",),
            description="Splunk Enterprise Security notable events.",
        )
        self.json_schema["required"] = ["_time", "event_id"]
        self.json_schema["properties"].update({
            "rule_name": _STR, "rule_title": _STR, "urgency": _STR, "status": _STR,
            "status_label": _STR, "owner": _STR, "security_domain": _STR,
        })
