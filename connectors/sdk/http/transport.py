"""An httpx transport on aiohttp: the httpx API for connectors, aiohttp's C HTTP parser below.

Why: httpcore and h11 were most of the agent's CPU per request (~1.9 ms of process CPU per
GET through ``httpx.AsyncClient`` on a loopback source, ~0.4 ms with aiohttp underneath), and
the rate-limit benchmark (issue 6) is bound by one process's CPU. Requests, responses,
timeouts, redirects, auth flows and gzip stay httpx's; aiohttp only moves bytes.

Modelled on httpx-aiohttp (by an httpx maintainer), written here because two of its choices do
not fit the SDK: it maps a refused connection to ``ConnectTimeout`` (errors.py would call a
down server a timeout), and it hands aiohttp the URL as a string, which yarl re-quotes
(``%2F`` in a query becomes ``/``), changing what a signed request (AWS SigV4) signed.

What differs from httpx's own transport, on purpose or by aiohttp's design:

* no write timeout (aiohttp has none); ``pool`` bounds waiting for a connection *and*
  connecting (aiohttp's ``connect``), ``connect`` the connecting alone;
* ``max_keepalive_connections`` is not enforced: idle connections stay up to
  ``max_connections``, each until ``keepalive_expiry``;
* TCP only (no Unix sockets: the connector cannot open one), HTTP/1.1 only;
* an idempotent request on a reused keep-alive connection the server had closed is sent again
  once on a new connection (httpcore checks the socket before reuse instead): not a retry of a
  failed exchange, no request reaches the server twice.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

_yarl_from_parts: Callable[[str, str, str, str, str], URL] | None
try:  # builds a URL from its parts without parsing a string (see _aiohttp_url)
    from yarl._url import from_parts_uncached as _yarl_from_parts
except ImportError:  # pragma: no cover - depends on the yarl version
    _yarl_from_parts = None

__all__ = ["READ_WHOLE", "AiohttpTransport", "map_aiohttp_exceptions"]

#: A request extension: the caller reads the body whole anyway (the SDK client does), so the
#: transport may return the response already read when httpx would not decode it (a
#: ``Content-Length`` and no ``Content-Encoding``): no stream layers to iterate per request.
READ_WHOLE = "simpletrust.read_whole"

#: aiohttp's exceptions as httpx's, most specific first (the first match wins); see
#: :func:`connectors.sdk.errors.map_exceptions` for what each becomes for the engine.
_EXCEPTIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.TimeoutException),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake, cert
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # truncated or bad body
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # unparsable status/headers
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionResetError, httpx.ReadError),
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset or OS error mid-exchange
    (aiohttp.ClientError, httpx.NetworkError),
)


class _MapAiohttpExceptions(contextlib.AbstractContextManager[None]):
    """A class, not a generator-based context manager: it wraps every request (twice), and
    a ``@contextmanager`` costs a generator and several calls per use."""

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if isinstance(exc, (TimeoutError, aiohttp.ClientError)):
            for source, target in _EXCEPTIONS:
                if isinstance(exc, source):
                    raise target(str(exc) or type(exc).__name__) from exc
        # anything else (cancellation too) goes on as it is


_MAP_AIOHTTP_EXCEPTIONS = _MapAiohttpExceptions()  # no state: one serves every use


def map_aiohttp_exceptions() -> contextlib.AbstractContextManager[None]:
    """Re-raise aiohttp's exceptions as httpx's (the original stays as ``__cause__``)."""
    return _MAP_AIOHTTP_EXCEPTIONS


#: Distinct header sets a transport remembers (a signing auth flow makes every one new).
_KNOWN_HEADERS = 256

#: The headers aiohttp adds to a request without them (``ClientRequest.DEFAULT_HEADERS`` and
#: its User-Agent).
_AUTO_HEADERS = frozenset({"accept", "accept-encoding", "user-agent"})


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None, pool: float | None
             ) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


@functools.lru_cache(maxsize=8)
def _http_version(version: aiohttp.HttpVersion) -> bytes:
    return b"HTTP/%d.%d" % (version.major, version.minor)


@functools.lru_cache(maxsize=64)
def _reason_phrase(reason: str) -> bytes:
    return reason.encode("latin-1", "replace")


def _aiohttp_url(url: httpx.URL) -> URL:
    """The request's URL for aiohttp, without userinfo (sent as httpx's BasicAuth header
    already; aiohttp refuses both), as httpx encoded it: yarl would re-quote a string
    (``%2F`` in a query becomes ``/``), changing what a signed request (AWS SigV4) signed.

    ``URL(str(url), encoded=True)``, but when :data:`FAST_URLS` built from httpx's parsed
    components: the string's join and yarl's parse of it were a tenth of this transport's
    own CPU per request."""
    if FAST_URLS and _yarl_from_parts is not None and url._uri_reference.host:
        return _yarl_from_parts(*_url_parts(url))
    if url.userinfo:
        url = url.copy_with(userinfo=b"")
    return URL(str(url), encoded=True)


def _url_parts(url: httpx.URL) -> tuple[str, str, str, str, str]:
    """yarl's components of ``url`` without its userinfo: scheme, netloc, path, query and
    fragment, all as httpx encoded them."""
    ref = url._uri_reference
    return ref.scheme, ref.netloc, ref.path, ref.query or "", ref.fragment or ""


def _fast_urls_work() -> bool:
    """Whether the parts give the URL that parsing ``str(url)`` gives (else it is parsed)."""
    if _yarl_from_parts is None:  # pragma: no cover - depends on the yarl version
        return False
    try:
        for text in ("http://h/", "http://h", "https://u:p%40w@h.example:8443/a%2Fb/c?x=%2F&y=1#f",
                     "http://[::1]:81/p?", "http://127.0.0.1:80/t/1/items?limit=2&cursor=3",
                     "https://h/a%20b?q=a+b&r=%C3%A9#", "http://h/p;x?k=v/w"):
            url = httpx.URL(text)
            stripped = url.copy_with(userinfo=b"") if url.userinfo else url
            slow = URL(str(stripped), encoded=True)
            fast = _yarl_from_parts(*_url_parts(url))
            if (fast != slow or str(fast) != str(slow) or fast.raw_host != slow.raw_host
                    or fast.port != slow.port or fast.raw_path_qs != slow.raw_path_qs):
                return False  # pragma: no cover - depends on the versions
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - versions
        return False
    return True


FAST_URLS = _fast_urls_work()


def _headers_from_raw(raw: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]
                      ) -> httpx.Headers:
    """``httpx.Headers(raw)`` for byte pairs (aiohttp's raw headers): httpx's constructor
    checks and normalizes each name and value, which bytes never need (they are kept as
    they are)."""
    if not FAST_HEADERS:  # pragma: no cover - depends on the httpx version
        return httpx.Headers(raw)
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = [(key, key.lower(), value) for key, value in raw]
    headers._encoding = None
    return headers


def _fast_headers_work() -> bool:
    """Whether :func:`_headers_from_raw` builds what ``httpx.Headers`` builds."""
    try:
        raw = ((b"Content-Type", b"application/json"), (b"X-A", b"\xe9"), (b"x-a", b"2"))
        fast = httpx.Headers.__new__(httpx.Headers)
        fast._list = [(key, key.lower(), value) for key, value in raw]
        fast._encoding = None
        slow = httpx.Headers(raw)
        return (vars(fast) == vars(slow) and fast.raw == slow.raw
                and fast.multi_items() == slow.multi_items())
    except (AttributeError, TypeError):  # pragma: no cover - depends on the httpx version
        return False


FAST_HEADERS = _fast_headers_work()


def _plain_body(response: aiohttp.ClientResponse) -> bool:
    headers = response.headers
    return "Content-Length" in headers and "Content-Encoding" not in headers


def _read_whole(status: int, headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
                body: bytes, request: httpx.Request,
                extensions: dict[str, Any]) -> httpx.Response:
    """``httpx.Response(status, headers=headers, content=body, ...)`` for a body with a
    ``Content-Length`` and no ``Content-Encoding``, already read: when
    :data:`FAST_RESPONSES`, without reading the body back through httpx's stream, chunker and
    identity decoder (as many steps as the rest of the response's construction)."""
    response = httpx.Response(status, headers=_headers_from_raw(headers),
                              stream=httpx.ByteStream(body), request=request,
                              extensions=extensions)
    if FAST_RESPONSES:
        _mark_read(response, body)
    else:  # pragma: no cover - depends on the httpx version
        response.read()
    return response


def _mark_read(response: httpx.Response, body: bytes) -> None:
    """The state ``read()`` leaves a response in. ``num_bytes_downloaded`` is the body's
    length, as httpx's client reports it (``Response(content=)`` leaves it at 0)."""
    response._content = body
    response._num_bytes_downloaded = len(body)
    response.is_stream_consumed = True
    response.is_closed = True


def _fast_responses_work() -> bool:
    """Whether :func:`_mark_read` leaves a response as ``httpx.Response(content=)`` does."""
    try:
        body = b'{"a": 1}'
        headers = [(b"Content-Length", b"8"), (b"X-Y", b"z")]
        request = httpx.Request("GET", "http://h/")
        fast = httpx.Response(200, headers=headers, stream=httpx.ByteStream(body),
                              request=request, extensions={"e": 1})
        _mark_read(fast, body)
        slow = httpx.Response(200, headers=headers, content=body, request=request,
                              extensions={"e": 1})
        skip = ("stream", "_decoder", "_num_bytes_downloaded")
        mine = {k: v for k, v in vars(fast).items() if k not in skip}
        theirs = {k: v for k, v in vars(slow).items() if k not in skip}
        return (mine == theirs and fast.headers.raw == slow.headers.raw
                and type(fast.stream) is type(slow.stream) and fast.json() == slow.json())
    except (AttributeError, TypeError):  # pragma: no cover - depends on the httpx version
        return False


FAST_RESPONSES = _fast_responses_work()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_aiohttp_exceptions():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when the body was read whole; an unread connection is closed.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """A pooled HTTP/1.1 transport: one ``aiohttp.ClientSession``, opened at the first request.

    The session is made inside the running event loop (aiohttp binds it to that loop) and
    closed by :meth:`aclose`, i.e. with the ``httpx.AsyncClient`` that owns the transport.
    It keeps no cookies (httpx's client does), reads no proxy settings from the environment,
    and decompresses nothing (httpx decodes ``Content-Encoding``).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits,
                 resolver: AbstractResolver) -> None:
        self._ssl_context = ssl_context
        self._limits = limits
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._known_headers: dict[tuple[tuple[bytes, bytes, bytes], ...],
                                  tuple[CIMultiDictProxy[str], frozenset[str] | None]] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,  # 0: no limit, as httpx's None
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._ssl_context,
            resolver=self._resolver,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
        )
        return self._session

    def _headers_of(self, given: httpx.Headers
                    ) -> tuple[CIMultiDictProxy[str], frozenset[str] | None]:
        """The request's headers as aiohttp takes them (a read-only multidict, which it
        reads without converting), and the skip list it needs; remembered per distinct set
        of headers (a client sends the same ones again and again, but for its query:
        decoding them was a tenth of this method)."""
        raw = tuple(given._list)  # (name, lower-case name, value) triples
        known = self._known_headers.get(raw)
        if known is not None:
            return known
        # The names as the caller wrote them (multi_items() would lower-case them).
        try:  # ASCII, the usual case, is what httpx's encoding would be: found in one pass
            headers = [(k.decode("ascii"), v.decode("ascii")) for k, _, v in raw]
        except UnicodeDecodeError:
            encoding = given.encoding
            headers = [(k.decode(encoding), v.decode(encoding)) for k, _, v in raw]
        # httpx sets aiohttp's default headers itself; none of aiohttp's own is added when a
        # caller removed one. Asked per request only then: a session-wide skip list costs
        # aiohttp a header copy and merge per request.
        skip = None if {k.lower() for k, _ in headers} >= _AUTO_HEADERS else _AUTO_HEADERS
        if len(self._known_headers) >= _KNOWN_HEADERS:
            self._known_headers.clear()
        known = self._known_headers[raw] = (CIMultiDictProxy(CIMultiDict(headers)), skip)
        return known

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        known, skip = self._headers_of(request.headers)
        headers: CIMultiDictProxy[str] | list[tuple[str, str]] = known
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            if "content-length" in request.headers or "transfer-encoding" in request.headers:
                # A streamed body: aiohttp sends it chunked itself.
                data = request.stream  # type: ignore[assignment]
                headers = [(k, v) for k, v in known.items() if k.lower() != "transfer-encoding"]
            else:  # no body (a redirect's next hop is built from an unread, empty stream)
                data = None
        with map_aiohttp_exceptions():
            response = await session.request(
                request.method,
                _aiohttp_url(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,  # httpx follows redirects, each hop guarded
                timeout=_timeout(timeout.get("connect"), timeout.get("read"),
                                 timeout.get("pool")),
                server_hostname=request.extensions.get("sni_hostname"),
                skip_auto_headers=skip,
            )
        extensions = {"http_version": _http_version(response.version or aiohttp.HttpVersion11)}
        if response.reason:
            extensions["reason_phrase"] = _reason_phrase(response.reason)
        if request.extensions.get(READ_WHOLE) and _plain_body(response):
            # As read through the stream: identity decoding, and the Content-Length header
            # that httpx.Response(content=) would otherwise add is already there.
            with map_aiohttp_exceptions():
                body = await response.read()
            return _read_whole(response.status, response.raw_headers, body, request,
                               extensions)
        return httpx.Response(
            status_code=response.status,
            headers=_headers_from_raw(response.raw_headers),
            stream=_ResponseStream(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
