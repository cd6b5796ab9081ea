"""A lean HTTP/1.1 httpx transport: asyncio protocols and httptools (llhttp, uvicorn's parser).

Why: the rate-limit benchmark (issue 6) is bound by the agent process's CPU per request, and
aiohttp's client machinery (request and response objects, its connector, timers, stream
readers, tracing hooks) cost ~270 us per request over a bare asyncio client on this machine.
Here a request is one ``transport.write`` of bytes built from httpx's request, and the
response is parsed by httptools straight into httpx's header list and body: nothing else is
built per request. Requests, responses, redirects, auth flows and gzip stay httpx's, as with
:class:`~connectors.sdk.http.transport.AiohttpTransport` (kept, and selectable in
:mod:`.guard` for an A/B), whose contract this keeps:

* host names are resolved only through the given resolver (the guard's, which checks every
  address against the SSRF policy) and only its addresses are connected to, in order; address
  literals are connected to as they are (:class:`~.guard.GuardedTransport` checked them);
* the request target is ``url.raw_path`` as httpx encoded it, never re-quoted (AWS SigV4
  signs it), and the headers go out exactly as httpx set them: no defaults of our own;
* a refused or unresolvable connection is ``ConnectError``, not a timeout; no raw asyncio,
  ssl or OS exception leaves the transport;
* with :data:`~.transport.READ_WHOLE` and no ``Content-Encoding`` the response comes back
  already read;
* an idempotent request on a reused keep-alive connection the server had closed (nothing of
  the response arrived) is sent again once on a new connection; nothing else is sent twice.

What differs from httpx's own transport (httpcore): ``max_keepalive_connections`` is not
enforced (idle connections stay up to ``max_connections``, each until ``keepalive_expiry``),
the reused-connection resend above instead of httpcore's socket check before reuse, HTTP/1.1
over TCP only. From aiohttp's: the four httpx timeouts mean what httpx says (``pool`` is only
the wait for a free connection, ``connect`` covers resolving, connecting and the TLS handshake,
and there is a ``write`` timeout); a HEAD response's connection is reused with a fresh parser.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

import httptools
import httpx
from aiohttp.abc import AbstractResolver

from connectors.sdk.http.transport import READ_WHOLE, _headers_from_raw, _read_whole

__all__ = ["LeanTransport"]

#: Methods sent again once when a reused connection turns out closed (RFC 9110 idempotent).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Response body bytes buffered for a streaming reader before the socket is read no further.
_HIGH_WATER = 256 * 1024
#: What a caller waits for: the status line and headers, some body, the whole response.
_HEAD, _DATA, _DONE = 1, 2, 3
_VERSIONS = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}

PoolKey = tuple[str, str, int, "str | None"]


class _Connection(asyncio.Protocol):
    """One connection, one exchange at a time: bytes in go to httptools, whose callbacks fill
    the response's state, and the one waiting caller is woken when what it waits for is in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: PoolKey) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False  # the connection is gone (or going): never reused
        self.used = False  # an exchange ran on it: a request on it is on a reused connection
        self.idle_since = 0.0
        self.in_exchange = False
        self.fresh_parser = False  # after a HEAD: the parser still expects the body
        self.write_paused = False
        self.read_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.want = 0
        self.timer: asyncio.TimerHandle | None = None
        self.begin(False)

    def begin(self, head_request: bool) -> None:
        """A new exchange's state."""
        if self.fresh_parser:
            self.parser = httptools.HttpResponseParser(self)
            self.fresh_parser = False
        self.head_request = head_request
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = self.done = self.keep_alive = False
        self.framed = self.encoded = self.got_data = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.error: httpx.TransportError | None = None
        self.last_data = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses; they have its methods)
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        if not self.in_exchange or self.done:  # bytes nobody asked for: not clean
            self.close()
            return
        self.got_data = True
        self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self.fail(httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}"))
            self.close()
        self.wake()

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.in_exchange and not self.done:
            if exc is not None:
                self.fail(httpx.ReadError(str(exc) or type(exc).__name__))
            elif self.head_done and not self.framed:
                self.complete()  # a body that ends with the connection (HTTP/1.0 style)
                self.keep_alive = False
            elif not self.head_done:
                self.fail(httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."))
            else:
                self.fail(httpx.RemoteProtocolError(
                    "Server disconnected before the response body ended."))
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(httpx.WriteError(str(exc) if exc else "Connection closed."))
        self.wake()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.done:  # a second response to one request (in the same read): not clean
            self.lost = True

    def on_status(self, status: bytes) -> None:
        self.reason += status  # may come in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # informational: skipped, as httpcore does
            self.headers = []
            self.reason = b""
            return
        self.status = status
        self.head_done = True
        for name, _ in self.headers:
            lower = name.lower()
            if lower in (b"content-length", b"transfer-encoding"):
                self.framed = True
            elif lower == b"content-encoding":
                self.encoded = True
        if self.head_request:  # the body its headers describe is not sent
            self.fresh_parser = True
            self.complete()

    def on_body(self, body: bytes) -> None:
        if self.done:
            return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and self.want != _DONE and not self.read_paused:
            self.read_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.head_done and not self.done:  # (not an informational response's end)
            self.complete()

    # -- for the transport -----------------------------------------------------------------

    def complete(self) -> None:
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()

    def fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.error is not None or self.ready(self.want):
            waiter.set_result(None)

    def ready(self, want: int) -> bool:
        if want == _HEAD:
            return self.head_done
        if want == _DATA:
            return self.done or bool(self.body)
        return self.done

    async def wait(self, want: int, idle: float | None) -> None:
        """Until the response has ``want`` in; ``idle`` is the longest wait for a byte."""
        while self.error is None and not self.ready(want):
            if self.lost:  # (connection_lost set the error or completed the body)
                raise httpx.ReadError("Connection closed.")  # pragma: no cover - defensive
            if self.read_paused and (want == _DONE or not self.body):
                self.read_paused = False
                assert self.transport is not None
                self.transport.resume_reading()
            waiter = self.waiter = self.loop.create_future()
            self.want = want
            if idle is not None:
                self.last_data = self.loop.time()
                self.timer = self.loop.call_later(idle, self._expire, waiter, idle)
            try:
                await waiter
            finally:
                self.waiter = None
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
        if self.error is not None:
            raise self.error

    def _expire(self, waiter: asyncio.Future[None], timeout: float) -> None:
        idle = self.loop.time() - self.last_data
        if waiter.done():
            return
        if idle < timeout:  # a byte came since the wait began: wait on from that byte
            self.timer = self.loop.call_later(timeout - idle, self._expire, waiter, timeout)
            return
        self.fail(httpx.ReadTimeout("Timed out reading the response."))
        self.lost = True  # a late response would land in the next exchange
        waiter.set_result(None)

    async def drain(self, seconds: float | None) -> None:
        """Until the kernel took the written bytes (below the transport's high water mark)."""
        if self.lost:
            raise httpx.WriteError("Connection closed.")
        if not self.write_paused:
            return
        drain = self.drain_waiter = self.loop.create_future()
        timer = None if seconds is None else self.loop.call_later(
            seconds, _expire_write, drain)
        try:
            await drain
        finally:
            self.drain_waiter = None
            if timer is not None:
                timer.cancel()


def _expire_write(drain: asyncio.Future[None]) -> None:
    if not drain.done():
        drain.set_exception(httpx.WriteTimeout("Timed out writing the request."))


def _literal_family(host: str) -> int | None:
    """The address family of an IP literal host, None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


class _Pool:
    """Connections by (scheme, host, port, SNI name): idle ones kept newest first, at most
    ``max_connections`` open or opening in all, callers beyond that queued first come first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: httpx.Limits,
                 ssl_context: ssl.SSLContext, resolver: AbstractResolver) -> None:
        self.loop = loop
        self.max = limits.max_connections
        self.expiry = limits.keepalive_expiry
        self.ssl_context = ssl_context
        self.resolver = resolver
        self.idle: dict[PoolKey, list[_Connection]] = {}
        self.count = 0  # open or opening
        self.open: set[_Connection] = set()
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.sweeper: asyncio.TimerHandle | None = None
        self.resolving: dict[tuple[str, int], asyncio.Task[list[tuple[str, int, int]]]] = {}
        self.closed = False

    async def acquire(self, key: PoolKey, timeouts: dict[str, float | None],
                      fresh: bool) -> _Connection:
        deadline: float | None = None
        while True:
            if not fresh:
                connection = self._idle_for(key)
                if connection is not None:
                    return connection
            if self.max is None or self.count < self.max or self._close_oldest_idle():
                self.count += 1
                try:
                    connection = await self._connect(key, timeouts.get("connect"))
                except BaseException:
                    self.count -= 1
                    self._wake_one()
                    raise
                self.open.add(connection)
                return connection
            pool = timeouts.get("pool")
            if pool is not None and deadline is None:
                deadline = self.loop.time() + pool
            await self._wait_for_room(deadline)

    async def _wait_for_room(self, deadline: float | None) -> None:
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        timer = None
        if deadline is not None:
            timer = self.loop.call_at(deadline, _expire_pool, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._wake_one()  # woken and cancelled at once: the room goes to the next
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if not waiter.done():
                waiter.cancel()

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _idle_for(self, key: PoolKey) -> _Connection | None:
        stack = self.idle.get(key)
        while stack:
            connection = stack.pop()
            if connection.lost or self._expired(connection, self.loop.time()):
                self._drop(connection)
                continue
            return connection
        return None

    def _expired(self, connection: _Connection, now: float) -> bool:
        return self.expiry is not None and now - connection.idle_since >= self.expiry

    def _close_oldest_idle(self) -> bool:
        """Room for a new connection by closing the longest idle one (another host's)."""
        oldest: list[_Connection] | None = None
        for stack in self.idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest[0].idle_since):
                oldest = stack
        if oldest is None:
            return False
        connection = oldest.pop(0)
        self.open.discard(connection)
        connection.close()
        self.count -= 1
        return True

    def _drop(self, connection: _Connection) -> None:
        if connection in self.open:
            self.open.discard(connection)
            self.count -= 1
        connection.close()
        self._wake_one()

    def release(self, connection: _Connection, reusable: bool) -> None:
        """Back to the idle connections after a complete exchange, else closed."""
        connection.in_exchange = False
        connection.used = True
        if not reusable or connection.lost or self.closed or connection.read_paused:
            self._drop(connection)
            return
        connection.idle_since = self.loop.time()
        stack = self.idle.get(connection.key)
        if stack is None:
            stack = self.idle[connection.key] = []
        stack.append(connection)
        if self.sweeper is None and self.expiry is not None:
            self.sweeper = self.loop.call_later(self.expiry, self._sweep)
        self._wake_one()

    def _sweep(self) -> None:
        """Close the connections idle for ``keepalive_expiry``."""
        self.sweeper = None
        now = self.loop.time()
        for stack in self.idle.values():
            while stack and self._expired(stack[0], now):
                self._drop(stack.pop(0))
        if self.expiry is not None and any(self.idle.values()):
            self.sweeper = self.loop.call_later(self.expiry / 2, self._sweep)

    async def _connect(self, key: PoolKey, seconds: float | None) -> _Connection:
        try:
            async with asyncio.timeout(seconds):
                return await self._open(key)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("Timed out connecting.") from exc

    async def _resolve(self, host: str, port: int) -> list[tuple[str, int, int]]:
        """The resolver's addresses for ``host``; callers asking at once share one lookup
        (as aiohttp's connector does: a burst of first requests is one DNS query), each
        sees its refusal or failure."""
        lookup = self.resolving.get((host, port))
        if lookup is None:
            lookup = self.resolving[host, port] = self.loop.create_task(
                self._lookup(host, port))
            lookup.add_done_callback(lambda done: self._resolved(host, port, done))
        return await asyncio.shield(lookup)

    def _resolved(self, host: str, port: int, lookup: asyncio.Task[Any]) -> None:
        del self.resolving[host, port]
        if not lookup.cancelled():
            lookup.exception()  # retrieved, even when every caller gave up

    async def _lookup(self, host: str, port: int) -> list[tuple[str, int, int]]:
        try:
            results = await self.resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise httpx.ConnectError(f"Could not resolve host {host!r}: {exc}") from exc
        return [(r["host"], r["port"], r["family"]) for r in results]

    async def _open(self, key: PoolKey) -> _Connection:
        scheme, host, port, sni = key
        family = _literal_family(host)
        addresses: Iterable[tuple[str, int, int]]
        if family is not None:
            addresses = ((host, port, family),)
        else:
            addresses = await self._resolve(host, port)
        tls = scheme == "https"
        error: OSError | None = None
        for address, address_port, address_family in addresses:
            try:
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self.loop, key), address, address_port,
                    family=address_family, proto=socket.IPPROTO_TCP,
                    ssl=self.ssl_context if tls else None,
                    server_hostname=(sni or host) if tls else None)
            except ssl.SSLError as exc:  # the certificate or handshake: no other address helps
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
            except OSError as exc:
                error = exc
                continue
            return connection
        if error is None:
            raise httpx.ConnectError(f"No address for host {host!r}.")
        raise httpx.ConnectError(str(error) or type(error).__name__) from error

    def close(self) -> None:
        self.closed = True
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for connection in list(self.open):
            connection.close()
        self.open.clear()
        self.idle.clear()
        self.count = 0
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("The transport was closed."))


def _expire_pool(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.PoolTimeout("Timed out waiting for a connection."))


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, as httpx set them (its Host header included)."""
    lines = [b"%s: %s" % pair for pair in request.headers.raw]
    block = b"\r\n".join(lines)
    if block.count(b"\r") != len(lines) - 1 or block.count(b"\n") != len(lines) - 1:
        raise httpx.LocalProtocolError("A header name or value holds a line break.")
    target = request.url.raw_path
    return b"%s %s HTTP/1.1\r\n%s\r\n\r\n" % (request.method.encode("ascii"), target, block)


class _Body(httpx.AsyncByteStream):
    """A response body read as it comes; closing it frees the connection (back to the pool
    when the response was read whole, else closed)."""

    def __init__(self, pool: _Pool, connection: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        while True:
            if connection.body:
                chunks, connection.body, connection.buffered = connection.body, [], 0
                for chunk in chunks:
                    yield chunk
            elif connection.done:
                return
            else:
                await connection.wait(_DATA, self._timeout)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, connection.done and connection.keep_alive)


class LeanTransport(httpx.AsyncBaseTransport):
    """A pooled HTTP/1.1 transport; the pool is made at the first request (in its loop) and
    closed by :meth:`aclose`, i.e. with the ``httpx.AsyncClient`` that owns the transport."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits,
                 resolver: AbstractResolver) -> None:
        self._ssl_context = ssl_context
        self._limits = limits
        self._resolver = resolver
        self._pool: _Pool | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pool
        if pool is None:
            pool = self._pool = _Pool(asyncio.get_running_loop(), self._limits,
                                      self._ssl_context, self._resolver)
        timeouts = request.extensions.get("timeout") or {}
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port, request.extensions.get("sni_hostname"))
        head = _request_head(request)
        stream: httpx.AsyncByteStream | None = None
        chunked = False
        try:
            content = request.content
        except httpx.RequestNotRead:  # a streamed body, or a redirect's unread empty one
            content = b""
            headers = request.headers
            if "transfer-encoding" in headers:
                stream, chunked = request.stream, True  # type: ignore[assignment]
            elif "content-length" in headers:
                stream = request.stream  # type: ignore[assignment]
        fresh = False
        while True:
            connection = await pool.acquire(key, timeouts, fresh)
            reused = connection.used
            try:
                return await self._exchange(pool, connection, request, head + content,
                                            stream, chunked, timeouts)
            except httpx.TransportError as exc:
                pool.release(connection, False)
                if (fresh or not reused or connection.got_data or stream is not None
                        or request.method not in _IDEMPOTENT
                        or isinstance(exc, httpx.TimeoutException)):
                    raise
                fresh = True  # the server had closed the idle connection: once, on a new one
            except BaseException:
                pool.release(connection, False)
                raise

    async def _exchange(self, pool: _Pool, connection: _Connection, request: httpx.Request,
                        data: bytes, stream: httpx.AsyncByteStream | None, chunked: bool,
                        timeouts: dict[str, float | None]) -> httpx.Response:
        connection.begin(request.method == "HEAD")
        connection.in_exchange = True
        if connection.lost:
            raise httpx.WriteError("Connection closed.")
        transport = connection.transport
        assert transport is not None
        transport.write(data)
        write_timeout = timeouts.get("write")
        if stream is not None:
            async for chunk in stream:
                if chunk:
                    transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                    await connection.drain(write_timeout)
            if chunked:
                transport.write(b"0\r\n\r\n")
        await connection.drain(write_timeout)
        read_timeout = timeouts.get("read")
        await connection.wait(_HEAD, read_timeout)
        extensions: dict[str, Any] = {"http_version": _VERSIONS.get(
            connection.parser.get_http_version(), b"HTTP/1.1")}
        if connection.reason:
            extensions["reason_phrase"] = connection.reason
        if request.extensions.get(READ_WHOLE) and not connection.encoded:
            await connection.wait(_DONE, read_timeout)
            body = b"".join(connection.body)
            response = _read_whole(connection.status, connection.headers, body, request,
                                   extensions)
            pool.release(connection, connection.keep_alive)
            return response
        return httpx.Response(connection.status, headers=_headers_from_raw(connection.headers),
                              stream=_Body(pool, connection, read_timeout), request=request,
                              extensions=extensions)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
