"""The HTTP client connectors use: httpx.AsyncClient with the SDK's safety rails built in.

What it adds to httpx, so a connector author never rewrites it:

* the outbound address guard (every request and every redirect hop, see :mod:`.guard`);
* credentials as an ``httpx.Auth`` from the authentication layer (never read by the connector);
* retries with exponential backoff and full jitter for idempotent requests on 5xx, connect
  errors and timeouts;
* a token bucket per instance, ``Retry-After`` on 429/503 waited out (and counted), and a
  proactive pause when ``X-RateLimit-*``/``RateLimit-*`` headers say the quota is spent;
* every failure raised as an SDK error (:mod:`connectors.sdk.errors`);
* per-attempt metrics (count, latency, bytes, throttles);
* :meth:`HttpClient.paginate` driving a paginator and a JMESPath record selector.

Example::

    async with HttpClient("https://api.example.com", auth=credentials) as http:
        async for page in http.paginate("/users", paginator=LinkHeaderPaginator(),
                                        selector=RecordSelector("data")):
            for record in page.records:
                ...
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import httpx

from connectors.sdk.errors import (
    DataError,
    RateLimitError,
    RemoteError,
    TransientError,
    describe_request,
    error_for_response,
    map_exceptions,
)
from connectors.sdk.http.guard import AddressPolicy, guarded_transport
from connectors.sdk.http.metrics import HttpMetrics, RequestMetric
from connectors.sdk.http.paginators import PageRequest, Paginator, SinglePagePaginator
from connectors.sdk.http.ratelimit import TokenBucket, parse_rate_limit, parse_retry_after
from connectors.sdk.http.records import RecordSelector, forget_json, response_json
from connectors.sdk.http.sending import Sender

__all__ = ["IDEMPOTENT_METHODS", "HttpClient", "Page", "RetryPolicy"]

_REMEMBERED = 256  # distinct hosts and paths a client remembers for its metrics
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
USER_AGENT = "SimpleTrust-Integrations/0.1 (+connector-sdk)"


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry.

    ``max_attempts`` counts the first try. Throttling (429, or 503 with ``Retry-After``) has its
    own budget, since waiting out a rate limit is normal; a ``Retry-After`` longer than
    ``max_retry_after`` is not slept through but raised as :class:`RateLimitError` so the engine
    can reschedule the sync.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    max_throttle_retries: int = 10
    max_retry_after: float = 120.0
    max_rate_limit_pause: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff (AWS architecture blog): U(0, min(max, base*2^n))."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


@dataclass
class Page:
    """One fetched page: the response, its selected records, and its 1-based number."""

    response: httpx.Response
    records: list[dict[str, Any]]
    number: int
    body: Any = field(default=None, repr=False)


Sleep = Callable[[float], Awaitable[None]]


class HttpClient:
    """A guarded, retrying, rate-limited, measured ``httpx.AsyncClient`` for one instance.

    Args:
        base_url: the remote API root; relative paths are joined to it.
        auth: credentials from the authentication layer, as an ``httpx.Auth``.
        policy: the outbound address guard's policy (``allow_loopback`` etc.).
        timeout: seconds, or an ``httpx.Timeout``.
        retry: the retry policy.
        rate_limiter: the instance's token bucket (shared between its clients), if any.
        metrics: where to record per-request metrics (shared per instance), if any.
        headers: default headers (never put credentials here: use ``auth``).
        transport: an inner transport (tests); it is still wrapped by the address guard.
        verify: verify certificates (True), a CA bundle path, or an ``ssl.SSLContext`` of the
            caller's own (a client certificate for mutual TLS), used as is.
        limits: connection pool limits (see :mod:`.lean` for how the transport applies them).
        sleep: the sleep coroutine (tests may speed time up).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        auth: httpx.Auth | None = None,
        policy: AddressPolicy | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        rate_limiter: TokenBucket | None = None,
        metrics: HttpMetrics | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
        limits: httpx.Limits | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter
        self.metrics = metrics if metrics is not None else HttpMetrics()
        self._sleep = sleep
        self._paused_until = 0.0
        transport = guarded_transport(self.policy, inner=transport, limits=limits, verify=verify)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            transport=transport,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            trust_env=False,
        )
        self._sender = Sender(self._client, transport)
        self._where: dict[tuple[str, str], tuple[str, str]] = {}  # see _host_path

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        # The base URL's userinfo and query could hold secrets: show scheme, host and path only.
        url = self._client.base_url
        return f"<HttpClient {url.scheme}://{url.host}{url.path}>"

    async def _wait_turn(self) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire()  # also honours pauses shared by the instance
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            self.metrics.throttle_wait_s += pause
            await self._sleep(pause)

    def _observe_rate_limit(self, headers: Mapping[str, str]) -> None:
        status = parse_rate_limit(headers)
        if status.exhausted and status.reset_after is not None and status.reset_after > 0:
            pause = min(status.reset_after, self.retry.max_rate_limit_pause)
            self.metrics.throttle_pauses += 1
            if self.rate_limiter is not None:
                self.rate_limiter.pause(pause)
            else:
                self._paused_until = max(self._paused_until, time.monotonic() + pause)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok_statuses: Collection[int] = (),
    ) -> httpx.Response:
        """Send a request; return a 2xx/3xx response (or one in ``ok_statuses``).

        Raises an SDK error otherwise. ``idempotent`` overrides the method's default (pass
        ``True`` for a POST search endpoint so it may be retried).
        """
        method = method.upper()
        retryable = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        attempt = 0
        throttles = 0
        while True:
            attempt += 1
            await self._wait_turn()
            started = time.monotonic()
            sender = self._sender
            try:
                with map_exceptions():
                    if sender.usable():  # the same request and steps as httpx's, less CPU
                        response = await sender.send(sender.build(
                            method, url, params=params, json=json, content=content,
                            headers=headers))
                    else:
                        response = await self._client.request(
                            method, url, params=params, json=json, content=content,
                            headers=headers)
            except TransientError as exc:
                self._record(method, url, None, started, attempt, error=type(exc).__name__)
                if retryable and attempt < self.retry.max_attempts:
                    self.metrics.retries += 1
                    await self._sleep(self.retry.backoff(attempt))
                    continue
                raise
            _unbind(response)
            status = response.status_code
            answer = _lowered(response.headers)
            retry_after = parse_retry_after(answer)
            throttled = status == 429 or (status == 503 and retry_after is not None)
            self._record(method, url, response, started, attempt, throttled=throttled)
            self._observe_rate_limit(answer)
            if status < 400 or status in ok_statuses:
                return response
            if throttled:
                throttles += 1
                attempt -= 1  # throttling has its own budget
                wait = retry_after if retry_after is not None else self.retry.backoff(throttles)
                if wait > self.retry.max_retry_after or throttles > self.retry.max_throttle_retries:
                    raise RateLimitError(
                        f"{describe_request(response.request)} is rate limited "
                        f"(waited out {throttles - 1} times; server asks to wait {wait:g} s).",
                        retry_after=wait,
                    )
                self.metrics.throttle_wait_s += wait
                await self._sleep(wait)
                continue
            error = error_for_response(response)
            if (
                retryable
                and status in self.retry.retry_statuses
                and attempt < self.retry.max_attempts
            ):
                self.metrics.retries += 1
                await self._sleep(self.retry.backoff(attempt))
                continue
            raise error

    def _record(
        self,
        method: str,
        url: str,
        response: httpx.Response | None,
        started: float,
        attempt: int,
        *,
        throttled: bool = False,
        error: str | None = None,
    ) -> None:
        target = response.request.url if response is not None else self._client.base_url.join(url)
        host, path = self._host_path(target)
        sent = 0
        received = 0
        if response is not None:
            sent = _content_length(response.request.headers)
            received = len(response.content)
        self.metrics.record(
            RequestMetric(
                method=method,
                host=host,
                path=path,
                status=response.status_code if response is not None else None,
                latency_s=time.monotonic() - started,
                bytes_sent=sent,
                bytes_received=received,
                attempt=attempt,
                throttled=throttled,
                error=error,
            )
        )

    def _host_path(self, url: httpx.URL) -> tuple[str, str]:
        """``(url.host, url.path)``, remembered per raw host and path (each decodes its part
        again per request, for a metric whose host and path rarely change)."""
        ref = url._uri_reference
        key = (ref.host, ref.path)
        known = self._where.get(key)
        if known is None:
            if len(self._where) >= _REMEMBERED:
                self._where.clear()
            known = self._where[key] = (url.host, url.path)
        return known

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON; a non-JSON body is a :class:`DataError`."""
        response = await self.get(url, **kwargs)
        return _decode_json(response)

    async def paginate(
        self,
        url: str,
        *,
        paginator: Paginator | None = None,
        selector: RecordSelector | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        max_pages: int | None = None,
        same_origin: bool = True,
    ) -> AsyncIterator[Page]:
        """Yield pages until the paginator says stop (or ``max_pages``).

        Next-page links that leave the first request's origin are refused (``same_origin``):
        following them would hand our credentials to another host.
        """
        pager = (paginator or SinglePagePaginator()).fresh()
        chooser = selector or RecordSelector(None)
        request = PageRequest(
            url=url, params=dict(params or {}), json=json, headers=dict(headers or {}),
            method=method,
        )
        pager.init_request(request)
        first = self._sender.join(url)
        origin = self._origin(first)
        number = 0
        # The next page is requested as soon as its request is known, before this page is
        # handed over: the server and the network work while the caller maps this one.
        ahead: asyncio.Task[httpx.Response] | None = None
        try:
            while True:
                number += 1
                if ahead is None:
                    response = await self._fetch_page(request, first, origin, same_origin)
                else:
                    response, ahead = await ahead, None
                body = _decode_json(response)
                records = chooser.select(body)
                pager.update_state(response, records)
                # The paginator read the same decoded body; the response must not keep the
                # page's records alive once the caller is done with them.
                forget_json(response)
                more = pager.has_next and (max_pages is None or number < max_pages)
                if more:
                    pager.update_request(request)
                    ahead = asyncio.get_running_loop().create_task(self._fetch_page(
                        _copied(request), first, origin, same_origin))
                yield Page(response=response, records=records, number=number, body=body)
                if not more:
                    return
        finally:
            if ahead is not None:  # the caller stopped early: the next page is not wanted
                ahead.cancel()
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: a failed page nobody asked for is no error

    async def _fetch_page(self, request: PageRequest, first: httpx.URL,
                          origin: tuple[str, str, int | None],
                          same_origin: bool) -> httpx.Response:
        target = self._sender.join(request.url)  # the same object while the URL is the same
        if same_origin and target is not first and self._origin(target) != origin:
            raise RemoteError(
                f"Refusing to follow a next-page link to another host ({target.host}).",
                hint="The API's pagination points elsewhere; report it to the vendor.",
            )
        return await self.request(
            request.method,
            request.url,
            params=request.params or None,
            json=request.json,
            headers=request.headers or None,
            idempotent=True,
        )

    @staticmethod
    def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
        return (url.scheme, url.host, url.port)


def _copied(request: PageRequest) -> PageRequest:
    """``replace(request, params=dict(...), headers=dict(...))`` (what the next page's fetch
    keeps while the paginator changes ``request``), without ``dataclasses.replace``'s walk
    over the fields; a subclass of PageRequest still goes through it."""
    if type(request) is not PageRequest or not _PLAIN_PAGE_REQUEST:
        return replace(request, params=dict(request.params), headers=dict(request.headers))
    return PageRequest(url=request.url, params=dict(request.params), json=request.json,
                       headers=dict(request.headers), method=request.method)


#: The fields :func:`_copied` copies are all PageRequest has (else it uses ``replace``).
_PLAIN_PAGE_REQUEST = tuple(f.name for f in fields(PageRequest)) == (
    "url", "params", "json", "headers", "method")


def _unbind(response: httpx.Response) -> None:
    """Break the reference cycle httpx leaves between a read, closed response and its stream.

    Otherwise the response and its body (a whole page) are freed only by a full garbage
    collection instead of when the last reference goes; with a 1,000-record page per response
    that is most of a sync's memory growth and much of its collector time.
    """
    if (response.is_closed and response.is_stream_consumed
            and type(response.stream) is not httpx.ByteStream):  # a ByteStream holds no cycle
        response.stream = httpx.ByteStream(response.content)


def _content_length(headers: httpx.Headers) -> int:
    """``int(headers.get("content-length", 0) or 0)``: ``Headers.get`` decodes every
    header to find one (and works out their encoding first, for each request's new copy)."""
    found = [value for _, key, value in headers._list if key == b"content-length"]
    if not found:
        return 0
    if len(found) == 1 and found[0].isdigit():  # ASCII digits: any encoding reads them so
        return int(found[0])
    return int(headers.get("content-length", 0) or 0)  # repeated or odd: as httpx does


def _lowered(headers: httpx.Headers) -> dict[str, str]:
    """The headers as ``headers.get`` reads them (lower-case names, repeats joined with ", "),
    in a dict: the rate-limit parsers look up to 20 names per response, and each
    ``httpx.Headers.get`` scans and decodes every header."""
    items = headers._list  # (name, lower-case name, value)
    try:  # ASCII, the usual case, is what httpx's encoding would be: found in one pass
        return _joined(items, "ascii")
    except UnicodeDecodeError:
        return _joined(items, headers.encoding)


def _joined(items: list[tuple[bytes, bytes, bytes]], encoding: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for _, lower_key, raw_value in items:
        key, value = lower_key.decode(encoding), raw_value.decode(encoding)
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _decode_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response_json(response)
    except ValueError as exc:
        raise DataError(
            f"{describe_request(response.request)} did not return JSON "
            f"(Content-Type {response.headers.get('content-type', 'unknown')!r})."
        ) from exc
