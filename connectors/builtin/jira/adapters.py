"""Jira REST API adapters: Cloud (v3, ADF bodies, token-paged search) and Server / Data
Center (v2, plain-text bodies, offset-paged search). ``serverInfo`` picks one.

The differences the connector meets, in one place:

============================  ==============================  ==============================
                              Cloud (v3)                      Server / Data Center (v2)
============================  ==============================  ==============================
search                        ``/search/jql``,                ``/search``, ``startAt`` +
                              ``nextPageToken``, bounded JQL  ``maxResults`` (server caps
                                                              it silently) + ``total``
description / comment bodies  Atlassian Document Format       plain text (wiki markup)
users                         ``/users/search`` (accountId)   ``/user/search?username=.``
projects                      ``/project/search`` (paged)     ``/project`` (one list)
user reference                ``{"accountId": ...}``          ``{"name": ...}``
============================  ==============================  ==============================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.sdk.errors import DataError, PaginationLoopError
from connectors.sdk.http import HttpClient

__all__ = ["JiraAdapter", "JiraCloudAdapter", "JiraServerAdapter", "adf_to_text", "text_to_adf"]


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: a paragraph per blank-line block, hard breaks per line."""
    content: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes} if nodes else
                       {"type": "paragraph"})
    return {"type": "doc", "version": 1, "content": content}


_BLOCKS = {"paragraph", "heading", "blockquote", "codeBlock", "listItem", "rule", "panel",
           "tableRow", "mediaSingle"}


def adf_to_text(node: Any) -> str:
    """The readable text of an ADF document (blocks separated by blank lines)."""
    if not isinstance(node, Mapping):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status", "date", "inlineCard"):
        attrs = node.get("attrs") or {}
        return str(attrs.get("text") or attrs.get("shortName") or attrs.get("url") or "")
    children = [adf_to_text(child) for child in node.get("content") or []]
    if kind in ("doc", "bulletList", "orderedList", "table", "listItem", "tableRow"):
        return "\n\n".join(c for c in children if c) if kind == "doc" else "\n".join(children)
    return "".join(children)


class JiraAdapter:
    """What differs between Jira deployments; see the module docstring."""

    api_version: ClassVar[str]
    deployment: ClassVar[str]

    def __init__(self, http: HttpClient, page_size: int) -> None:
        self.http = http
        self.page_size = page_size
        self._zone: ZoneInfo | None = None

    def path(self, rest: str) -> str:
        return f"/rest/api/{self.api_version}/{rest.lstrip('/')}"

    def body(self, text: str) -> Any:
        raise NotImplementedError

    def text(self, body: Any) -> str | None:
        raise NotImplementedError

    def user_id(self, user: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def search(self, jql: str, fields: list[str]) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    def projects(self) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    def users(self) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def user_zone(self) -> ZoneInfo:
        """The API user's profile time zone: JQL reads dates in it."""
        if self._zone is None:
            me = await self.http.get_json(self.path("myself"))
            name = me.get("timeZone") if isinstance(me, dict) else None
            try:
                self._zone = ZoneInfo(str(name)) if name else ZoneInfo("UTC")
            except (ZoneInfoNotFoundError, ValueError):
                self._zone = ZoneInfo("UTC")
        return self._zone

    async def _offset_pages(
        self, path: str, params: Mapping[str, Any], *, key: str | None, total_key: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """``startAt`` paging that trusts the items returned, not the ``maxResults`` asked
        for: Jira silently caps page sizes, so a short page is not the last one."""
        start = 0
        while True:
            body = await self.http.get_json(
                path, params={**params, "startAt": start, "maxResults": self.page_size}
            )
            items = body.get(key) if key and isinstance(body, dict) else body
            if not isinstance(items, list):
                raise DataError(f"Jira answered {path} without the expected list.")
            for item in items:
                if isinstance(item, dict):
                    yield item
            start += len(items)
            total = body.get(total_key) if total_key and isinstance(body, dict) else None
            last = body.get("isLast") if isinstance(body, dict) else None
            if not items or last is True or (isinstance(total, int) and start >= total):
                return


class JiraCloudAdapter(JiraAdapter):
    """Jira Cloud, REST API v3."""

    api_version = "3"
    deployment = "cloud"

    def body(self, text: str) -> Any:
        return text_to_adf(text)

    def text(self, body: Any) -> str | None:
        if body is None:
            return None
        return adf_to_text(body) if isinstance(body, Mapping) else str(body)

    def user_id(self, user: Mapping[str, Any]) -> str | None:
        value = user.get("accountId")
        return str(value) if value else None

    async def search(self, jql: str, fields: list[str]) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields),
                                      "maxResults": self.page_size}
            if token:
                params["nextPageToken"] = token
            body = await self.http.get_json(self.path("search/jql"), params=params)
            issues = body.get("issues") if isinstance(body, dict) else None
            if not isinstance(issues, list):
                raise DataError("Jira's search answer has no issue list.")
            for issue in issues:
                if isinstance(issue, dict):
                    yield issue
            token = body.get("nextPageToken")
            if body.get("isLast", True) or not token:
                return
            if token in seen:
                raise PaginationLoopError("Jira's search returned the same page token twice.")
            seen.add(token)

    async def projects(self) -> AsyncIterator[dict[str, Any]]:
        async for project in self._offset_pages(
            self.path("project/search"), {}, key="values", total_key="total"
        ):
            yield project

    async def users(self) -> AsyncIterator[dict[str, Any]]:
        async for user in self._offset_pages(self.path("users/search"), {}, key=None,
                                             total_key=None):
            yield user


class JiraServerAdapter(JiraAdapter):
    """Jira Server / Data Center, REST API v2."""

    api_version = "2"
    deployment = "server"

    def body(self, text: str) -> Any:
        return text

    def text(self, body: Any) -> str | None:
        if body is None:
            return None
        return adf_to_text(body) if isinstance(body, Mapping) else str(body)

    def user_id(self, user: Mapping[str, Any]) -> str | None:
        value = user.get("key") or user.get("name")
        return str(value) if value else None

    async def search(self, jql: str, fields: list[str]) -> AsyncIterator[dict[str, Any]]:
        async for issue in self._offset_pages(
            self.path("search"), {"jql": jql, "fields": ",".join(fields)},
            key="issues", total_key="total",
        ):
            yield issue

    async def projects(self) -> AsyncIterator[dict[str, Any]]:
        body = await self.http.get_json(self.path("project"))
        if not isinstance(body, list):
            raise DataError("Jira answered /project without a list of projects.")
        for project in body:
            if isinstance(project, dict):
                yield project

    async def users(self) -> AsyncIterator[dict[str, Any]]:
        async for user in self._offset_pages(
            self.path("user/search"), {"username": ".", "includeInactive": "true"},
            key=None, total_key=None,
        ):
            yield user
