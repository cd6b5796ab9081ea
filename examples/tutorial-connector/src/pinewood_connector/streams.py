"""The `issues` stream: paginated by a cursor in the body, incremental on `updated_at`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from connectors.sdk import CursorPaginator, HttpClient, RecordSelector, Stream


class Issues(Stream):
    name = "issues"
    description = "Issues of the configured project"
    json_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "in_progress", "closed"]},
            "priority": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "title", "status", "updated_at"],
    }
    primary_key = ("id",)
    cursor_field = "updated_at"
    is_sorted = True  # Pinewood returns issues oldest change first: checkpoint as we go

    def __init__(self, http: HttpClient, project: str, page_size: int) -> None:
        self.http = http
        self.path = f"/api/v1/projects/{quote(project, safe='')}/issues"
        self.page_size = page_size
        self.checkpoint_interval = page_size  # one checkpoint per page

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        params: dict[str, Any] = {"limit": self.page_size, "order": "updated_at"}
        if cursor is not None:
            params["updated_since"] = cursor  # inclusive: the SDK drops what it already read
        async for page in self.http.paginate(
            self.path,
            params=params,
            paginator=CursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
            selector=RecordSelector("issues"),
        ):
            for issue in page.records:
                yield issue
