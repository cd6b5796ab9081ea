"""Auth methods without a token endpoint: API key and Bearer (Basic is ``httpx.BasicAuth``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import httpx


class ApiKeyAuth(httpx.Auth):
    """A static key in a header (``X-API-Key: <key>``) or a query parameter (``?key=<key>``)."""

    def __init__(
        self,
        key: str,
        *,
        name: str = "X-API-Key",
        location: Literal["header", "query"] = "header",
        prefix: str = "",
    ) -> None:
        self._key = key
        self._name = name
        self._location = location
        self._prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._location == "query":
            request.url = request.url.copy_set_param(self._name, self._prefix + self._key)
        else:
            request.headers[self._name] = self._prefix + self._key
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth(name={self._name!r}, location={self._location!r})"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` with a long-lived token (no refresh)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth()"
