"""The client's request path: httpx's steps, without its per-request generality (issue 6).

``httpx.AsyncClient.request`` parses URLs three times per request (the base URL merge, the
params merge, the origin check's join: each a full RFC 3986 parse), builds urllib cookie
adapters for every response, and reads the body through extra stream layers: about half of
the SDK client's CPU per request. :class:`Sender` takes the same steps in the same order
(auth flow, redirects with each hop through the guarded transport, cookies, body read) for
the requests :class:`~connectors.sdk.http.client.HttpClient` sends, and keeps what does not
change between requests (the merged URL of a path, its query parameters).

It uses two httpx internals, each checked when this module is imported: the parsed URL's
components (``URL._uri_reference``) to set a query without re-parsing the rest, and
``AsyncClient._build_redirect_request`` for a redirect's next hop. When either is missing,
or the client has what the fast path does not handle (cookies to send, default params,
event hooks), the request goes through ``httpx.AsyncClient`` itself: same result, more CPU.
tests/sdk/test_sending.py runs the same requests both ways.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from http.cookiejar import CookieJar
from typing import Any, cast
from urllib.parse import quote_plus

import httpx

from connectors.sdk.http.transport import READ_WHOLE

__all__ = ["FAST_REQUESTS", "FAST_URLS", "Sender"]

_log = logging.getLogger("httpx")  # httpx's own request log line, kept as it writes it
_CACHE_SIZE = 256  # distinct paths per client (next-page links may all differ)


def _params_replace_query() -> bool:
    """httpx 0.28 replaces a URL's query with ``params``; 0.27 merged them."""
    return httpx.Request("GET", "http://h/?a=1", params={"b": "2"}).url.query == b"b=2"


_REPLACE = _params_replace_query()


def _with_query(url: httpx.URL, query: str | None) -> httpx.URL:
    """``url`` with its query set to ``query``, the rest as parsed.

    ``query`` comes from ``str(httpx.QueryParams)`` (``urllib.parse.urlencode``): letters,
    digits, ``_.-~+=&`` and ``%XX`` only, which httpx's query percent-encoding leaves as is.
    """
    ref = url._uri_reference
    new = httpx.URL.__new__(httpx.URL)
    # ref._replace(query=query), without the named tuple's Python-level _replace and _make
    new._uri_reference = tuple.__new__(type(ref), (*ref[:_QUERY], query, *ref[_QUERY + 1:]))
    return new


def _query_index() -> int:
    """Where the query is in the parsed URL's components (a named tuple)."""
    try:
        return httpx.URL("http://h/")._uri_reference._fields.index("query")
    except (AttributeError, ValueError):  # pragma: no cover - depends on the httpx version
        return -1  # then _fast_urls_work finds the URLs wrong, and httpx builds them


_QUERY = _query_index()


def _authority_slice() -> slice:
    """Where the userinfo, host and port are in the parsed URL's components: its authority
    without joining it into text (else all of them, a finer key that is never wrong)."""
    try:
        if httpx.URL("http://h/")._uri_reference._fields[1:4] == ("userinfo", "host", "port"):
            return slice(1, 4)
    except AttributeError:  # pragma: no cover - depends on the httpx version
        pass
    return slice(None)  # pragma: no cover - depends on the httpx version


_AUTHORITY = _authority_slice()


def _fast_urls_work() -> bool:
    """Whether :func:`_with_query` gives exactly what httpx gives (else it is not used)."""
    try:
        samples: tuple[tuple[str, dict[str, Any]], ...] = (
            ("http://h:81/a%2Fb/?x=1#f", {"q": "a b/é%#<>\"`{}", "n": 2}),
            ("https://[::1]/p", {"k": ["1", "2"]}))
        for url, params in samples:
            base = httpx.URL(url)
            if str(_merged_query(base, base.params, params)) != str(
                    httpx.Request("GET", base, params=params).url):
                return False  # pragma: no cover - depends on the httpx version
    except (AttributeError, TypeError):  # pragma: no cover - depends on the httpx version
        return False
    return hasattr(httpx.AsyncClient, "_build_redirect_request")


def _merged_query(url: httpx.URL, query: httpx.QueryParams, params: Any) -> httpx.URL:
    if _REPLACE:
        return _with_query(url, _encoded(params))
    merged = query.merge(params)
    return _with_query(url, str(merged) if merged else None)


def _encoded(params: Any) -> str | None:
    """``str(httpx.QueryParams(params))`` (None when empty), without building the
    ``QueryParams`` for the usual dict of text and integer values: for those httpx's
    coercion is ``str(value)`` and its encoding ``urlencode`` (``quote_plus`` of each name
    and value, ``=`` and ``&`` between), as here."""
    if type(params) is dict:
        pairs = []
        for key, value in params.items():
            if type(key) is not str or (type(value) is not str and type(value) is not int):
                break
            text = value if type(value) is str else str(value)
            # urlencode's quote_plus leaves these alone: skip its calls for them
            pairs.append(f"{key if _PLAIN(key) else quote_plus(key)}="
                         f"{text if _PLAIN(text) else quote_plus(text)}")
        else:
            return "&".join(pairs) or None
    merged = httpx.QueryParams(params)
    return str(merged) if merged else None


#: Text ``quote_plus`` returns as it is (its always-safe characters).
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


FAST_URLS = _fast_urls_work()

#: The methods httpx gives ``Content-Length: 0`` when they are sent without a body.
_EMPTY_BODY_LENGTH = frozenset({"POST", "PUT", "PATCH"})


def _bodiless(method: str, url: httpx.URL, headers: httpx.Headers,
              extensions: dict[str, Any]) -> httpx.Request:
    """``httpx.Request(method, url, headers=headers, extensions=extensions)`` for a request
    without a body, with ``headers`` already holding what httpx would add (``Host``, and
    ``Content-Length: 0`` for POST, PUT, PATCH): its ``__init__`` looks headers up, encodes
    an empty body and reads it back through a stream, a fifth of building the request."""
    request = httpx.Request.__new__(httpx.Request)
    request.method = method
    request.url = url
    request.headers = httpx.Headers(headers)  # a copy: the caller's template stays as it is
    request.extensions = extensions
    request.stream = httpx.ByteStream(b"")
    request._content = b""
    return request


def _fast_requests_work() -> bool:
    """Whether :func:`_bodiless` builds what ``httpx.Request`` builds (else it is not used)."""
    try:
        for method in ("GET", "POST"):
            url = httpx.URL("http://h:81/p?q=1")
            headers = httpx.Headers({"User-Agent": "u", "X-A": "b"})
            slow = httpx.Request(method, url, headers=headers, extensions={"e": 1})
            fast = _bodiless(method, url, slow.headers, {"e": 1})
            mine, theirs = vars(fast), vars(slow)
            if (mine.keys() != theirs.keys() or type(fast.stream) is not type(slow.stream)
                    or any(mine[k] != theirs[k] for k in mine if k != "stream")
                    or fast.headers.raw != slow.headers.raw
                    or list(fast.stream) != list(slow.stream)):  # type: ignore[arg-type]
                return False  # pragma: no cover - depends on the httpx version
    except (AttributeError, TypeError):  # pragma: no cover - depends on the httpx version
        return False
    return True


FAST_REQUESTS = _fast_requests_work()


class Sender:
    """Builds and sends one :class:`~connectors.sdk.http.client.HttpClient`'s requests.

    ``transport`` is the client's (guarded) transport: every hop still goes through it.
    """

    def __init__(self, client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport) -> None:
        self._client = client
        self._transport = transport
        # path as given -> (merged URL, its query parameters)
        self._urls: dict[str, tuple[httpx.URL, httpx.QueryParams]] = {}
        self._joined: dict[str, httpx.URL] = {}
        # (method, authority, the headers' items) -> a bodiless request's headers, as httpx
        # completes them (Host first, Content-Length: 0 for POST)
        self._headers: dict[
            tuple[str, tuple[Any, ...], tuple[tuple[bytes, bytes, bytes], ...]], httpx.Headers,
        ] = {}

    def usable(self) -> bool:
        """Whether this request can skip ``httpx.AsyncClient`` (checked per request: a
        connector may set cookies or hooks on the client between requests)."""
        client = self._client
        hooks = client.event_hooks
        return (FAST_URLS and not client.is_closed and _no_cookies(client.cookies)
                and not client.params and not hooks["request"] and not hooks["response"])

    def join(self, url: str) -> httpx.URL:
        """``base_url.join(url)``, remembered per ``url``."""
        joined = self._joined.get(url)
        if joined is None:
            if len(self._joined) >= _CACHE_SIZE:
                self._joined.clear()
            joined = self._joined[url] = self._client.base_url.join(url)
        return joined

    def _merge_url(self, url: str) -> tuple[httpx.URL, httpx.QueryParams]:
        """``AsyncClient._merge_url``: a relative URL is appended to the base URL's path."""
        known = self._urls.get(url)
        if known is None:
            merge = httpx.URL(url)
            if merge.is_relative_url:
                base = self._client.base_url
                merge = base.copy_with(raw_path=base.raw_path + merge.raw_path.lstrip(b"/"))
            if len(self._urls) >= _CACHE_SIZE:
                self._urls.clear()
            known = self._urls[url] = (merge, merge.params)
        return known

    def build(self, method: str, url: str, *, params: Mapping[str, Any] | None,
              json: Any, content: bytes | str | None,
              headers: Mapping[str, str] | None) -> httpx.Request:
        """What ``AsyncClient.build_request`` builds, for a client :meth:`usable` accepts."""
        method = method.upper()
        target, query = self._merge_url(url)
        if params is not None:
            target = _merged_query(target, query, params)
        merged = self._client.headers  # httpx.Request copies it
        if headers:
            merged = httpx.Headers(merged)
            merged.update(headers)
        extensions = {"timeout": self._client.timeout.as_dict(), READ_WHOLE: True}
        if content is None and json is None and FAST_REQUESTS:
            return _bodiless(method, target, self._completed(method, target, merged),
                             extensions)
        return httpx.Request(method, target, content=content, json=json, headers=merged,
                             extensions=extensions)

    def _completed(self, method: str, url: httpx.URL, headers: httpx.Headers) -> httpx.Headers:
        """``headers`` as ``httpx.Request`` completes them for a bodiless ``method`` to
        ``url``, remembered (they depend only on the method, the host and port, and the
        headers themselves, which a connector may change between requests)."""
        authority = cast("tuple[Any, ...]", url._uri_reference[_AUTHORITY])
        key = (method if method in _EMPTY_BODY_LENGTH else "", authority, tuple(headers._list))
        known = self._headers.get(key)
        if known is None:
            if len(self._headers) >= _CACHE_SIZE:
                self._headers.clear()
            known = self._headers[key] = httpx.Request(method, url, headers=headers).headers
        return known

    async def send(self, request: httpx.Request) -> httpx.Response:
        """``AsyncClient.send(request)``: auth flow, redirects, then the body read whole."""
        auth = self._auth(request)
        if type(auth) is httpx.Auth:  # no credentials: its flow sends the request as it is
            response = await self._send_handling_redirects(request, [])
        else:
            response = await self._send_handling_auth(request, auth)
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    def _auth(self, request: httpx.Request) -> httpx.Auth:
        auth = self._client.auth
        if auth is not None:
            return auth
        url = request.url
        if url._uri_reference.userinfo and (url.username or url.password):  # (as text)
            return httpx.BasicAuth(username=url.username, password=url.password)
        return httpx.Auth()

    async def _send_handling_auth(self, request: httpx.Request,
                                  auth: httpx.Auth) -> httpx.Response:
        history: list[httpx.Response] = []
        auth_flow = auth.async_auth_flow(request)
        try:
            request = await auth_flow.__anext__()
            while True:
                response = await self._send_handling_redirects(request, history)
                try:
                    try:
                        next_request = await auth_flow.asend(response)
                    except StopAsyncIteration:
                        return response
                    response.history = list(history)
                    await response.aread()
                    request = next_request
                    history.append(response)
                except BaseException:
                    await response.aclose()
                    raise
        finally:
            await auth_flow.aclose()

    async def _send_handling_redirects(self, request: httpx.Request,
                                       history: list[httpx.Response]) -> httpx.Response:
        client = self._client
        while True:
            if len(history) > client.max_redirects:
                raise httpx.TooManyRedirects(
                    "Exceeded maximum allowed redirects.", request=request)
            # httpx's _send_single_request, inlined: one coroutine level fewer per request
            start = time.perf_counter()
            if not isinstance(request.stream, httpx.AsyncByteStream):
                raise RuntimeError(
                    "Attempted to send an sync request with an AsyncClient instance.")
            try:
                response = await self._transport.handle_async_request(request)
            except httpx.RequestError as exc:
                exc.request = request
                raise
            self._received(request, response, start)
            try:
                response.history = list(history)
                if not response.has_redirect_location:
                    return response
                request = client._build_redirect_request(request, response)
                history = [*history, response]
                if client.follow_redirects:
                    await response.aread()
                else:
                    response.next_request = request
                    return response
            except BaseException:
                await response.aclose()
                raise

    def _received(self, request: httpx.Request, response: httpx.Response,
                  start: float) -> None:
        """The rest of httpx's ``_send_single_request``: the response's request, elapsed
        time, cookies and log line."""
        response.request = request
        if response.is_closed:  # read whole by the transport (READ_WHOLE)
            response.elapsed = dt.timedelta(seconds=time.perf_counter() - start)
        else:
            response.stream = _Timed(response, start)
        if _sets_cookies(response.headers):
            # Without Set-Cookie headers the jar would read nothing: the urllib adapters
            # it needs cost more than the rest of the response handling.
            self._client.cookies.extract_cookies(response)
        if _log.isEnabledFor(logging.INFO):
            _log.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url,
                      response.http_version, response.status_code, response.reason_phrase)


def _no_cookies(cookies: httpx.Cookies) -> bool:
    """``not cookies``, which walks the whole cookie jar through generators: httpx's own
    jar (the standard library's) keeps its cookies in ``_cookies``, empty when it holds none."""
    jar = cookies.jar
    if type(jar) is CookieJar:
        stored = getattr(jar, "_cookies", None)
        if type(stored) is dict and not stored:
            return True
    return not cookies  # maybe some, or a jar of another kind: ask it


def _sets_cookies(headers: httpx.Headers) -> bool:
    # (name, lower-case name, value) triples: no list is built
    return any(name in _SET_COOKIE for _, name, _ in headers._list)


_SET_COOKIE = frozenset({b"set-cookie", b"set-cookie2"})


class _Timed(httpx.AsyncByteStream):
    """The response's stream; sets ``response.elapsed`` when closed, as httpx's client does."""

    def __init__(self, response: httpx.Response, start: float) -> None:
        self._stream = response.stream
        self._response = response
        self._start = start

    async def __aiter__(self) -> Any:
        async for chunk in self._stream:  # type: ignore[union-attr]
            yield chunk

    async def aclose(self) -> None:
        self._response.elapsed = dt.timedelta(seconds=time.perf_counter() - self._start)
        await self._stream.aclose()  # type: ignore[union-attr]
