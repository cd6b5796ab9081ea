"""Pagination strategies: small objects that turn one response into the next request.

Each paginator follows the same two-step protocol (as dlt's)::

    paginator.init_request(request)              # first page
    while True:
        response = send(request); records = select(response)
        paginator.update_state(response, records)  # read the next-page token
        if not paginator.has_next: break
        paginator.update_request(request)          # put the token into the request

A token seen twice raises :class:`~connectors.sdk.errors.PaginationLoopError` instead of looping
forever. Paginators are stateful: :meth:`Paginator.fresh` gives a clean copy for each read.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.sdk.errors import DataError, PaginationLoopError
from connectors.sdk.http.records import compile_jmespath, response_json

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "SinglePagePaginator",
]


@dataclass
class PageRequest:
    """The mutable description of the next request a paginator may adjust."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"


def _json_body(response: httpx.Response) -> Any:
    try:
        return response_json(response)
    except ValueError as exc:
        raise DataError(
            f"The response of {response.request.method} {response.request.url.path} "
            "is not JSON."
        ) from exc


class Paginator(ABC):
    """Base class. Subclasses implement :meth:`update_state` and :meth:`update_request`."""

    def __init__(self) -> None:
        self.has_next = True
        self._seen: set[str] = set()

    def fresh(self) -> Paginator:
        """A copy with its state reset, for a new read."""
        clone = copy.copy(self)
        clone.reset()
        return clone

    def reset(self) -> None:
        self.has_next = True
        self._seen = set()

    def init_request(self, request: PageRequest) -> None:  # noqa: B027 - optional hook
        """Adjust the first request (e.g. add ``page=1``)."""

    @abstractmethod
    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        """Read what the next page needs from ``response``; set ``has_next``."""

    @abstractmethod
    def update_request(self, request: PageRequest) -> None:
        """Put the next page's token into ``request``."""

    def _remember(self, token: Any) -> None:
        key = repr(token)
        if key in self._seen:
            raise PaginationLoopError(
                f"Pagination loop detected: the page token {str(token)[:80]!r} repeated."
            )
        self._seen.add(key)


class SinglePagePaginator(Paginator):
    """No pagination: one request, one page."""

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        self.has_next = False

    def update_request(self, request: PageRequest) -> None:
        return None


class PageNumberPaginator(Paginator):
    """``?page=1``, ``?page=2`` … until an empty or short page, or ``total_pages`` is reached.

    >>> PageNumberPaginator(param="page", start=1, page_size=50, page_size_param="per_page")
    """

    def __init__(
        self,
        param: str = "page",
        *,
        start: int = 1,
        page_size: int | None = None,
        page_size_param: str | None = None,
        total_pages_path: str | None = None,
    ) -> None:
        super().__init__()
        self.param = param
        self.start = start
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.total_pages_path = total_pages_path
        self._total = compile_jmespath(total_pages_path) if total_pages_path else None
        self.page = start

    def reset(self) -> None:
        super().reset()
        self.page = self.start

    def init_request(self, request: PageRequest) -> None:
        request.params[self.param] = self.page
        if self.page_size_param and self.page_size:
            request.params[self.page_size_param] = self.page_size

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        if not records or (self.page_size is not None and len(records) < self.page_size):
            self.has_next = False
            return
        if self._total is not None:
            total = self._total.search(_json_body(response))
            if isinstance(total, int) and self.page - self.start + 1 >= total:
                self.has_next = False
                return
        self.page += 1
        self._remember(self.page)

    def update_request(self, request: PageRequest) -> None:
        request.params[self.param] = self.page


class OffsetPaginator(Paginator):
    """``?offset=0&limit=100``, then ``offset=100`` … until a short page or ``total``.

    >>> OffsetPaginator(limit=100, total_path="meta.total")
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = None,
        start: int = 0,
    ) -> None:
        super().__init__()
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.start = start
        self._total = compile_jmespath(total_path) if total_path else None
        self.offset = start

    def reset(self) -> None:
        super().reset()
        self.offset = self.start

    def init_request(self, request: PageRequest) -> None:
        request.params[self.offset_param] = self.offset
        request.params[self.limit_param] = self.limit

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        self.offset += len(records)
        total = self._total.search(_json_body(response)) if self._total is not None else None
        if len(records) < self.limit or (isinstance(total, int) and self.offset >= total):
            self.has_next = False
            return
        self._remember(self.offset)

    def update_request(self, request: PageRequest) -> None:
        request.params[self.offset_param] = self.offset
        request.params[self.limit_param] = self.limit


class CursorPaginator(Paginator):
    """The body carries the next cursor (``cursor_path``); send it back as ``cursor_param``.

    >>> CursorPaginator(cursor_path="meta.next_cursor", cursor_param="cursor")

    Set ``in_body=True`` to send the cursor as a JSON body field instead of a query parameter.
    """

    def __init__(
        self, cursor_path: str, cursor_param: str = "cursor", *, in_body: bool = False
    ) -> None:
        super().__init__()
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.in_body = in_body
        self._path = compile_jmespath(cursor_path, what="cursor path")
        self.cursor: Any = None

    def reset(self) -> None:
        super().reset()
        self.cursor = None

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        cursor = self._path.search(_json_body(response))
        if cursor in (None, "", []):
            self.has_next = False
            return
        self._remember(cursor)
        self.cursor = cursor

    def update_request(self, request: PageRequest) -> None:
        if self.in_body:
            request.json = {**(request.json or {}), self.cursor_param: self.cursor}
        else:
            request.params[self.cursor_param] = self.cursor


class NextLinkPaginator(Paginator):
    """The body carries the URL of the next page (``next_path``), relative or absolute.

    >>> NextLinkPaginator(next_path="links.next")
    """

    def __init__(self, next_path: str = "next") -> None:
        super().__init__()
        self.next_path = next_path
        self._path = compile_jmespath(next_path, what="next link path")
        self.next_url: str | None = None

    def reset(self) -> None:
        super().reset()
        self.next_url = None

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        link = self._path.search(_json_body(response))
        if not link or not isinstance(link, str):
            self.has_next = False
            return
        self.next_url = str(response.url.join(link))
        self._remember(self.next_url)

    def update_request(self, request: PageRequest) -> None:
        assert self.next_url is not None
        request.url = self.next_url
        request.params = {}  # the link carries its own query


class LinkHeaderPaginator(Paginator):
    """RFC 8288 ``Link: <https://api/items?page=2>; rel="next"`` (GitHub, GitLab, Okta)."""

    def __init__(self, rel: str = "next") -> None:
        super().__init__()
        self.rel = rel
        self.next_url: str | None = None

    def reset(self) -> None:
        super().reset()
        self.next_url = None

    def update_state(self, response: httpx.Response, records: list[dict[str, Any]]) -> None:
        link = response.links.get(self.rel, {}).get("url")
        if not link:
            self.has_next = False
            return
        self.next_url = str(response.url.join(link))
        self._remember(self.next_url)

    def update_request(self, request: PageRequest) -> None:
        assert self.next_url is not None
        request.url = self.next_url
        request.params = {}
