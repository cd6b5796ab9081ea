"""Async client for the agent's REST API (`/api/integration`).

One `httpx.AsyncClient` per agent, used from the qasync loop. Every failure leaves as a
`ConsoleError` (see `app.core.errors`), so the UI never has to know about httpx.

Example::

    client = ApiClient("http://127.0.0.1:8765", token)
    me = await client.me()
    async for row in client.iter_items("/logs", {"log_type": "error"}, page_size=200):
        ...
    await client.aclose()
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.core.errors import AgentUnreachableError, ApiError, ConsoleError, ProtocolError

API_PREFIX = "/api/integration"
DEFAULT_AGENT_URL = "http://127.0.0.1:8765"

JsonDict = dict[str, Any]
Params = Mapping[str, object | None]


def normalize_agent_url(url: str) -> str:
    """Reduce what a user typed to the agent's root URL, e.g. ``http://127.0.0.1:8765``.

    Accepts a bare ``host:port``, a trailing slash, or the full API base URL. The result is
    also the keyring username under which the agent stores its admin token.

    Raises:
        ValueError: with a message naming the problem (empty, wrong scheme, no host).
    """
    text = url.strip()
    if not text:
        raise ValueError("Agent URL: must not be empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"Agent URL: scheme must be http or https, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("Agent URL: a host name is missing")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("Agent URL: the port must be a number from 1 to 65535") from None
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint: ``{"items": [...], "next_cursor": ...}``."""

    items: list[JsonDict]
    next_cursor: str | None


def _encode_value(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode_params(params: Params | None) -> dict[str, str | list[str]]:
    """Drop empty values; lists and tuples become repeated keys (``log_type=a&log_type=b``)."""
    out: dict[str, str | list[str]] = {}
    for key, value in (params or {}).items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple | set | frozenset):
            if value:
                out[key] = [_encode_value(v) for v in value]
        else:
            out[key] = _encode_value(value)
    return out


class ApiClient:
    """The agent's REST API, as coroutines that raise `ConsoleError`s.

    Listeners registered with `on_unreachable` / `on_unauthorized` hear about transport
    failures and 401s on any request, so the connection state reacts at once instead of
    waiting for the next health poll.
    """

    def __init__(
        self,
        agent_url: str,
        token: str | None = None,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.agent_url = normalize_agent_url(agent_url)
        self.base_url = self.agent_url + API_PREFIX
        self._token = token
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
            headers={"Accept": "application/json, application/problem+json"},
            follow_redirects=False,
        )
        self._unreachable: list[Callable[[AgentUnreachableError], None]] = []
        self._unauthorized: list[Callable[[ApiError], None]] = []

    def __repr__(self) -> str:  # never shows the token
        return f"ApiClient({self.agent_url!r}, token={'set' if self._token else 'none'})"

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def set_token(self, token: str | None) -> None:
        """Use another token from the next request on."""
        self._token = token or None

    def on_unreachable(self, callback: Callable[[AgentUnreachableError], None]) -> None:
        self._unreachable.append(callback)

    def on_unauthorized(self, callback: Callable[[ApiError], None]) -> None:
        self._unauthorized.append(callback)

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: object | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one request and return the decoded JSON body (None for an empty body)."""
        headers: dict[str, str] = {}
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = await self._client.request(
                method,
                path.lstrip("/"),
                params=_encode_params(params),
                json=json_body,
                headers=headers,
            )
        except httpx.TransportError as exc:
            error = AgentUnreachableError(self.agent_url, _describe_transport_error(exc))
            for callback in list(self._unreachable):
                callback(error)
            raise error from None
        body = _decode(response)
        if response.status_code >= 400:
            api_error = ApiError.from_response(response.status_code, response.reason_phrase, body)
            if response.status_code == 401 and "Authorization" in headers:
                for cb in list(self._unauthorized):
                    cb(api_error)
            raise api_error
        return body

    async def get(self, path: str, params: Params | None = None, *, auth: bool = True) -> Any:
        return await self.request("GET", path, params=params, auth=auth)

    async def post(self, path: str, body: object | None = None) -> Any:
        return await self.request("POST", path, json_body=body)

    async def patch(self, path: str, body: object | None = None) -> Any:
        return await self.request("PATCH", path, json_body=body)

    async def put(self, path: str, body: object | None = None) -> Any:
        return await self.request("PUT", path, json_body=body)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    async def health(self, *, detail: bool = False) -> JsonDict:
        """`GET /health`: without a token the overall status; ``detail`` sends the token for
        the per-instance and per-connector health (score, state, reason)."""
        body = await self.get("/health", auth=detail)
        return body if isinstance(body, dict) else {"status": str(body)}

    async def me(self) -> JsonDict:
        """`GET /me`: who the token belongs to, with its role."""
        body = await self.get("/me")
        if not isinstance(body, dict):
            raise ProtocolError("GET /me did not return an object")
        return body

    async def page(
        self,
        path: str,
        params: Params | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        sort: str | None = None,
    ) -> Page:
        """One page of a list endpoint."""
        query: dict[str, object | None] = dict(params or {})
        query.update(limit=limit, cursor=cursor, sort=sort)
        body = await self.get(path, query)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ProtocolError(f"GET {path} did not return a list page ({{items, next_cursor}})")
        cursor_out = body.get("next_cursor")
        items = [item for item in body["items"] if isinstance(item, dict)]
        return Page(items, str(cursor_out) if cursor_out else None)

    async def iter_items(
        self,
        path: str,
        params: Params | None = None,
        *,
        page_size: int = 100,
        sort: str | None = None,
        max_items: int | None = None,
    ) -> AsyncIterator[JsonDict]:
        """Every item of a list endpoint, following ``next_cursor``.

        Stops after ``max_items``; raises ProtocolError if a cursor repeats (a server bug
        that would otherwise loop forever).
        """
        seen: set[str] = set()
        cursor: str | None = None
        count = 0
        while True:
            page = await self.page(path, params, limit=page_size, cursor=cursor, sort=sort)
            for item in page.items:
                yield item
                count += 1
                if max_items is not None and count >= max_items:
                    return
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise ProtocolError(f"GET {path}: pagination loop detected (cursor repeated)")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    async def list_all(
        self,
        path: str,
        params: Params | None = None,
        *,
        page_size: int = 100,
        sort: str | None = None,
        max_items: int | None = 10_000,
    ) -> list[JsonDict]:
        """`iter_items` collected into a list (bounded by ``max_items``)."""
        return [
            item
            async for item in self.iter_items(
                path, params, page_size=page_size, sort=sort, max_items=max_items
            )
        ]


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        if response.status_code >= 400:
            return None  # a proxy's HTML error page: the status line says enough
        raise ProtocolError(
            f"{response.request.method} {response.request.url.path}: expected JSON, "
            f"got {content_type or 'no content type'}"
        )
    try:
        return json.loads(response.content)
    except ValueError:
        if response.status_code >= 400:
            return None
        raise ProtocolError(
            f"{response.request.method} {response.request.url.path}: invalid JSON"
        ) from None


def _describe_transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "the agent did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed unexpectedly"
    return type(exc).__name__


__all__ = [
    "API_PREFIX",
    "DEFAULT_AGENT_URL",
    "ApiClient",
    "ConsoleError",
    "Page",
    "normalize_agent_url",
]
