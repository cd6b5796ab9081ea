"""The pooled transports (httpx on httptools, httpx on aiohttp): bytes on the wire, failures,
TLS, clean closing. Every test runs against both (``guard.POOLED_TRANSPORT``)."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import socket
import ssl
import struct
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp.abc import ResolveResult
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.sdk import errors as e
from connectors.sdk.http import AddressPolicy, HttpClient, RetryPolicy, guard, transport
from connectors.sdk.http.guard import guarded_transport
from connectors.sdk.http.transport import map_aiohttp_exceptions
from tests.support.certs import certificate, private_key_pem

LOOPBACK = AddressPolicy(allow_loopback=True)
ONCE = RetryPolicy(max_attempts=1)
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True, params=["lean", "aiohttp"])
def pooled(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The pooled transport guarded_transport builds, for this test."""
    monkeypatch.setattr(guard, "POOLED_TRANSPORT", request.param)
    return str(request.param)


@asynccontextmanager
async def raw_server(handle: Serve, ssl_context: ssl.SSLContext | None = None
                     ) -> AsyncIterator[int]:
    """A server in the test's own loop that answers with exactly the bytes ``handle`` writes."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        head += await reader.readuntil(b"0\r\n\r\n")
    return head


def _answer(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _keep_alive(seen: list[bytes], answer: bytes) -> Serve:
    """A connection handler that notes every request in ``seen`` and sends ``answer`` to each,
    until the client closes the connection."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await _read_request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(answer)
            await writer.drain()

    return handle


async def _classify(url: str, **kwargs: object) -> e.ConnectorError:
    async with HttpClient(url, policy=LOOPBACK, retry=ONCE, **kwargs) as http:  # type: ignore[arg-type]
        with pytest.raises(e.ConnectorError) as info:
            await http.get("/x")
    return info.value


async def test_the_request_goes_out_as_httpx_encoded_it() -> None:
    """No re-quoting of the URL (a signed query must arrive as signed), header names as
    written, and none of aiohttp's default headers."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(_answer(b"{}"))
        await writer.drain()
        writer.close()

    async with raw_server(handle) as port, HttpClient(
            f"http://127.0.0.1:{port}", policy=LOOPBACK, headers={"X-Api-Key": "k"}) as http:
        await http.get("/a%7Eb/c%2Fd?sig=abc%2B%2F%3D&t=%7E")
    head = seen[0].decode()
    assert head.startswith("GET /a%7Eb/c%2Fd?sig=abc%2B%2F%3D&t=%7E HTTP/1.1\r\n")
    assert "\r\nX-Api-Key: k\r\n" in head
    assert head.lower().count("user-agent:") == 1
    assert "SimpleTrust-Integrations" in head
    assert "aiohttp" not in head.lower()


async def test_aiohttp_adds_no_default_header_a_caller_removed() -> None:
    seen: list[bytes] = []

    handle = _keep_alive(seen, _answer(b"{}"))

    async with raw_server(handle) as port, httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        await client.get(f"http://127.0.0.1:{port}/all")
        for name in ("Accept", "Accept-Encoding", "User-Agent"):
            del client.headers[name]
            await client.get(f"http://127.0.0.1:{port}/without")
    heads = [head.decode().lower() for head in seen]
    assert all(f"\r\n{name}: " in heads[0] for name in ("accept", "accept-encoding", "user-agent"))
    assert "python-httpx" in heads[0]
    assert "\r\naccept: " not in heads[1]
    assert "\r\naccept-encoding: " in heads[1]
    assert "\r\naccept-encoding: " not in heads[2]
    assert "\r\nuser-agent: " in heads[2]
    assert not any(name in heads[3] for name in ("\r\naccept", "\r\nuser-agent"))
    assert "aiohttp" not in "".join(heads)


async def test_gzip_is_decoded_by_httpx_and_a_streamed_body_is_sent_chunked() -> None:
    body = json.dumps({"records": list(range(100))}).encode()
    seen: list[bytes] = []

    handle = _keep_alive(seen, _answer(gzip.compress(body), "Content-Encoding: gzip"))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async with raw_server(handle) as port, httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        response = await client.get(f"http://127.0.0.1:{port}/gz")
        assert response.json() == {"records": list(range(100))}
        assert response.headers["content-encoding"] == "gzip"
        posted = await client.post(f"http://127.0.0.1:{port}/up", content=chunks())
        assert posted.status_code == 200
    assert seen[1].lower().count(b"transfer-encoding: chunked") == 1
    assert seen[1].endswith(b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
    assert len(seen) == 2  # one keep-alive connection served both


async def test_a_followed_redirect_sends_no_body() -> None:
    """httpx builds the next hop of a redirect from a stream that was never read; a GET
    without a body must still go out without one (a chunked terminator would reach a server
    that reads no chunked requests as a request line of its own)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            seen.append(head)
            if head.startswith(b"GET /old "):
                writer.write(b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(_answer(b'{"here": "/new"}'))
            await writer.drain()

    async with raw_server(handle) as port, HttpClient(
            f"http://127.0.0.1:{port}", policy=LOOPBACK) as http:
        response = await http.get("/old")
        assert response.json() == {"here": "/new"}
        assert (await http.get("/again")).json() == {"here": "/new"}  # the connection is clean
    assert [h.split(b" ")[1] for h in seen] == [b"/old", b"/new", b"/again"]
    assert not any(b"transfer-encoding" in h.lower() for h in seen)


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("close_without_answer", e.NetworkError),
        ("reset", e.NetworkError),
        ("truncated_body", e.NetworkError),
        ("garbage", e.NetworkError),
    ],
)
async def test_broken_exchanges_are_network_errors(behaviour: str,
                                                   expected: type[e.ConnectorError]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        if behaviour == "reset":  # RST instead of FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif behaviour == "truncated_body":
            writer.write(_answer(b"x" * 100)[:-90])
        elif behaviour == "garbage":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(handle) as port:
        error = await _classify(f"http://127.0.0.1:{port}")
    assert type(error) is expected, repr(error)
    assert error.action is e.ErrorAction.RETRY


async def test_a_slow_answer_is_a_timeout() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(1)
        writer.close()

    async with raw_server(handle) as port:
        error = await _classify(f"http://127.0.0.1:{port}", timeout=0.1)
    assert type(error) is e.RequestTimeoutError
    assert isinstance(error.__cause__, httpx.ReadTimeout)


async def test_refused_and_unresolvable_are_network_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    refused = await _classify(f"http://localhost:{port}")
    assert type(refused) is e.NetworkError
    assert isinstance(refused.__cause__, httpx.ConnectError)

    class NoSuchName(aiohttp.ThreadedResolver):
        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET
                          ) -> list[ResolveResult]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(guard, "ThreadedResolver", NoSuchName)
    unresolvable = await _classify("http://no-such-host.test")
    assert type(unresolvable) is e.NetworkError
    assert isinstance(unresolvable.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("short"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ServerFingerprintMismatch(b"a", b"b", "h", 1), httpx.ConnectError),
    ],
)
def test_aiohttp_errors_map_to_httpx_then_to_the_sdk_class(
        raised: Exception, expected: type[httpx.TransportError]) -> None:
    with pytest.raises(expected) as info, map_aiohttp_exceptions():
        raise raised
    assert info.value.__cause__ is raised
    with pytest.raises(e.TransientError), e.map_exceptions():
        raise info.value


async def test_the_session_closes_with_the_client(caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp warns about sessions and connectors left open: closing the client closes all."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(b"{}"))
        await writer.drain()

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR):
        warnings.simplefilter("always")
        async with raw_server(handle) as port:
            async with HttpClient(f"http://127.0.0.1:{port}", policy=LOOPBACK) as http:
                await http.get("/x")
            unused = HttpClient("http://example.invalid")  # never sent: nothing was opened
            await unused.aclose()
            del http, unused
            gc.collect()
            await asyncio.sleep(0)
    aiohttps = ("client session", "connector", "response")  # what aiohttp reports left open
    assert not [w for w in caught if any(n in str(w.message).lower() for n in aiohttps)]
    assert not any(n in caplog.text.lower() for n in aiohttps)


# ---- TLS ------------------------------------------------------------------------------------

async def test_tls_verify_settings_sni_and_a_client_certificate(tmp_path: Path) -> None:
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = certificate("Test CA", ca_key, ca_key, ca=True)
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "server.pem").write_bytes(certificate(
        "localhost", server_key, ca_key, dns=("localhost",), ips=("127.0.0.1",))
        + private_key_pem(server_key))
    (tmp_path / "client.pem").write_bytes(certificate("agent", client_key, ca_key)
                                          + private_key_pem(client_key))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem")
    server_context.load_verify_locations(tmp_path / "ca.pem")
    server_context.verify_mode = ssl.CERT_OPTIONAL
    server_names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: server_names.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client refused our certificate
        peer = writer.get_extra_info("peercert") or {}
        subject = dict(item[0] for item in peer.get("subject", ()))
        writer.write(_answer(json.dumps({"client": subject.get("commonName")}).encode()))
        await writer.drain()
        writer.close()

    async with raw_server(handle, server_context) as port:
        url = f"https://localhost:{port}"
        untrusted = await _classify(url)  # the system's CAs do not know ours
        assert type(untrusted) is e.NetworkError
        async with HttpClient(url, policy=LOOPBACK, verify=str(tmp_path / "ca.pem")) as http:
            assert (await http.get("/who")).json() == {"client": None}
        mutual = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        mutual.load_cert_chain(tmp_path / "client.pem")
        async with HttpClient(url, policy=LOOPBACK, verify=mutual) as http:
            assert (await http.get("/who")).json() == {"client": "agent"}
    assert set(server_names) == {"localhost"}



async def test_a_body_read_whole_reads_as_one_httpx_read() -> None:
    assert transport.FAST_RESPONSES
    body = b'{"items": [1, "\xc3\xa9"]}'
    seen: list[bytes] = []
    answer = _answer(body, "Content-Type: application/json", "X-Twice: a", "X-Twice: b")
    async with raw_server(_keep_alive(seen, answer)) as port, \
            HttpClient(f"http://127.0.0.1:{port}", policy=LOOPBACK) as http:
        response = await http.get("/x")
    expected = httpx.Response(200, headers=response.headers.raw, content=body)
    assert (response.is_closed, response.is_stream_consumed) == (True, True)
    assert response.content == body
    assert response.json() == expected.json() == {"items": [1, "é"]}
    assert response.text == expected.text
    assert response.headers["x-twice"] == "a, b"
    assert response.num_bytes_downloaded == len(body)  # as httpx's client counts it
    assert [chunk async for chunk in response.aiter_bytes()] == [body]
    with pytest.raises(httpx.StreamConsumed):
        [chunk async for chunk in response.aiter_raw()]


async def test_remembered_headers_are_the_request_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_KNOWN_HEADERS", 2)  # the memory is emptied when full
    seen: list[bytes] = []
    async with raw_server(_keep_alive(seen, _answer(b"{}"))) as port, httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        url = f"http://127.0.0.1:{port}/x"
        for value in ("a", "b", "a", "é", "c", "a"):  # é: not ASCII, sent as UTF-8 bytes
            await client.get(url, headers={b"X-Tag": value.encode("utf-8")})
        del client.headers["User-Agent"]
        await client.get(url, headers={"X-Tag": "a"})
    tags = [next(line for line in head.split(b"\r\n") if line.lower().startswith(b"x-tag"))
            for head in seen]
    assert tags == [b"X-Tag: " + v.encode("utf-8") for v in ("a", "b", "a", "é", "c", "a", "a")]
    assert all(b"\r\nuser-agent: " in head.lower() for head in seen[:-1])
    assert b"\r\nuser-agent: " not in seen[-1].lower()  # and aiohttp added none of its own


# ---- the pool, framing and resending (both transports unless said) --------------------------

Reply = Callable[[bytes, int, int], Awaitable[bytes | None]]


@asynccontextmanager
async def scripted(reply: Reply, seen: list[bytes] | None = None,
                   ssl_context: ssl.SSLContext | None = None
                   ) -> AsyncIterator[tuple[int, list[int]]]:
    """A server that answers each request with ``reply(head, connection number, request number
    on the connection)``; None closes the connection without an answer. Yields the port and a
    one-item list with the number of connections accepted."""
    accepted = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        number = accepted[0]
        for index in range(1_000):
            try:
                head = await _read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            if seen is not None:
                seen.append(head)
            answer = await reply(head, number, index)
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
            if b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0"):
                break
        writer.close()

    async with raw_server(handle, ssl_context) as port:
        yield port, accepted


def _path(head: bytes) -> bytes:
    return head.split(b" ", 2)[1]


async def test_keep_alive_connection_close_and_an_http_1_0_answer() -> None:
    async def reply(head: bytes, connection: int, index: int) -> bytes:
        path = _path(head)
        if path == b"/close":
            return _answer(b"bye", "Connection: close")
        if path == b"/old":
            return b"HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\nuntil close"
        return _answer(b"%d.%d" % (connection, index))

    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        base = f"http://127.0.0.1:{port}"
        assert (await client.get(f"{base}/a")).content == b"1.0"
        assert (await client.get(f"{base}/b")).content == b"1.1"  # the same connection
        assert (await client.get(f"{base}/close")).content == b"bye"
        assert (await client.get(f"{base}/c")).content == b"2.0"
        old = await client.get(f"{base}/old")
        assert (old.content, old.http_version) == (b"until close", "HTTP/1.0")
        assert (await client.get(f"{base}/d")).content == b"3.0"
    assert accepted[0] == 3


async def test_bodiless_answers_informational_answers_and_a_chunked_body() -> None:
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 200 Fine Thanks\r\nX-Dup: 1\r\nTransfer-Encoding: chunked\r\nX-Dup: 2"
               b"\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")

    async def reply(head: bytes, connection: int, index: int) -> bytes:
        path = _path(head)
        if head.startswith(b"HEAD "):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        if path == b"/204":
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        if path == b"/304":
            return b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"
        return chunked

    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        base = f"http://127.0.0.1:{port}"
        head = await client.head(f"{base}/h")
        assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
        assert (await client.get(f"{base}/204")).content == b""
        assert (await client.get(f"{base}/304")).status_code == 304
        response = await client.get(f"{base}/chunked")
        assert response.content == b"hello, world"
        assert response.reason_phrase == "Fine Thanks"
        assert response.headers.raw == [(b"X-Dup", b"1"), (b"Transfer-Encoding", b"chunked"),
                                        (b"X-Dup", b"2")]
        async with client.stream("GET", f"{base}/chunked") as streamed:
            assert b"".join([chunk async for chunk in streamed.aiter_raw()]) == b"hello, world"
        assert (await client.head(f"{base}/h")).status_code == 200
    assert accepted[0] == 1  # every answer left the connection clean


async def test_a_reused_connection_the_server_closed_resends_only_idempotent_requests() -> None:
    seen: list[bytes] = []

    async def reply(head: bytes, connection: int, index: int) -> bytes | None:
        # The second request on a connection finds it closed (a keep-alive timeout's race).
        return None if index == 1 else _answer(b"%d" % connection)

    async with scripted(reply, seen) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        base = f"http://127.0.0.1:{port}"
        assert (await client.get(f"{base}/1")).content == b"1"
        assert (await client.get(f"{base}/2")).content == b"2"  # sent again, on a new one
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{base}/3", content=b"once")  # never sent twice
        assert (await client.get(f"{base}/4")).content == b"3"
    assert [_path(head) for head in seen] == [b"/1", b"/2", b"/2", b"/3", b"/4"]
    assert accepted[0] == 3


async def test_a_body_not_read_whole_does_not_go_back_to_the_pool() -> None:
    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"x" * 300_000 if _path(head) == b"/big" else b"%d" % connection)

    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        base = f"http://127.0.0.1:{port}"
        async with client.stream("GET", f"{base}/big") as response:
            async for _ in response.aiter_raw():
                break
        assert (await client.get(f"{base}/small")).content == b"2"
        async with client.stream("GET", f"{base}/big") as response:
            assert len(await response.aread()) == 300_000
        assert (await client.get(f"{base}/small")).content == b"2"
    assert accepted[0] == 2


async def test_idle_connections_expire() -> None:
    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"%d" % connection)

    limits = httpx.Limits(max_connections=5, keepalive_expiry=0.1)
    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK, limits=limits)) as client:
        base = f"http://127.0.0.1:{port}"
        assert (await client.get(base)).content == b"1"
        assert (await client.get(base)).content == b"1"
        await asyncio.sleep(0.3)
        assert (await client.get(base)).content == b"2"
    assert accepted[0] == 2


async def test_max_connections_queues_callers_and_room_comes_from_another_host_s_idle(
        pooled: str) -> None:
    async def reply(head: bytes, connection: int, index: int) -> bytes:
        await asyncio.sleep(0.05)
        return _answer(b"%d" % connection)

    limits = httpx.Limits(max_connections=1)
    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK, limits=limits)) as client:
        base = f"http://127.0.0.1:{port}"
        answers = await asyncio.gather(*(client.get(base) for _ in range(4)))
        assert [a.content for a in answers] == [b"1"] * 4  # one after the other, one connection
        # localhost: another pool key; its idle 127.0.0.1 connection is closed to make room
        # (localhost may resolve to ::1 first, refused here: the next address is tried).
        assert (await client.get(f"http://localhost:{port}")).content == b"2"
        if pooled == "lean":  # (aiohttp's pool wait is a ConnectTimeout)
            async with client.stream("GET", base) as held:
                with pytest.raises(httpx.PoolTimeout):
                    await client.get(base, timeout=httpx.Timeout(5, pool=0.05))
                await held.aread()
    assert accepted[0] == (3 if pooled == "lean" else 2)


async def test_a_server_that_reads_nothing_is_a_write_timeout(pooled: str) -> None:
    if pooled != "lean":
        pytest.skip("aiohttp has no write timeout")
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x" * 1_000_000

    async with raw_server(handle) as port, httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        with pytest.raises(httpx.WriteTimeout):
            await client.post(f"http://127.0.0.1:{port}", content=body(),
                              timeout=httpx.Timeout(5, write=0.2))
        release.set()


async def test_names_resolve_through_the_guard_only(pooled: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard's resolver decides the addresses; they are tried in order, and a forbidden
    one refuses the name. A slow resolver is a connect timeout (lean: ``connect`` covers it)."""
    answers: dict[str, list[str]] = {}
    delay = [0.0]

    class Fixed(aiohttp.ThreadedResolver):
        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET
                          ) -> list[ResolveResult]:
            await asyncio.sleep(delay[0])
            return [ResolveResult(hostname=host, host=address, port=port,
                                  family=socket.AF_INET, proto=0, flags=0)
                    for address in answers[host]]

    monkeypatch.setattr(guard, "ThreadedResolver", Fixed)

    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"ok")

    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        answers["api.test"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2
        assert (await client.get(f"http://api.test:{port}/")).content == b"ok"
        answers["meta.test"] = ["127.0.0.1", "169.254.169.254"]
        with pytest.raises(e.BlockedAddressError):
            await client.get(f"http://meta.test:{port}/")
        if pooled == "lean":
            delay[0] = 1
            answers["slow.test"] = ["127.0.0.1"]
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(f"http://slow.test:{port}/",
                                 timeout=httpx.Timeout(5, connect=0.05))
    assert accepted[0] == 1


async def test_a_header_with_a_line_break_is_not_sent() -> None:
    seen: list[bytes] = []

    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"ok")

    async with scripted(reply, seen) as (port, _), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        with pytest.raises((httpx.LocalProtocolError, ValueError)):
            await client.get(f"http://127.0.0.1:{port}/", headers={"X-A": "a\r\nX-B: b"})
    assert seen == []


async def test_the_sni_hostname_extension(tmp_path: Path) -> None:
    ca_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    (tmp_path / "ca.pem").write_bytes(certificate("Test CA", ca_key, ca_key, ca=True))
    (tmp_path / "server.pem").write_bytes(certificate(
        "api.internal", server_key, ca_key, dns=("api.internal",))
        + private_key_pem(server_key))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem")
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)

    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"secret")

    async with scripted(reply, ssl_context=server_context) as (port, _), \
            httpx.AsyncClient(transport=guarded_transport(
                LOOPBACK, verify=str(tmp_path / "ca.pem"))) as client:
        request = client.build_request("GET", f"https://127.0.0.1:{port}/",
                                       extensions={"sni_hostname": "api.internal"})
        assert (await client.send(request)).content == b"secret"
        with pytest.raises(httpx.ConnectError):  # the certificate is not 127.0.0.1's
            await client.get(f"https://127.0.0.1:{port}/")
    assert names[0] == "api.internal"


async def test_a_connection_with_bytes_nobody_asked_for_is_not_reused() -> None:
    async def reply(head: bytes, connection: int, index: int) -> bytes:
        if _path(head) == b"/twice":  # two answers to one request
            return _answer(b"one") + _answer(b"two")
        return _answer(b"%d" % connection)

    async with scripted(reply) as (port, accepted), httpx.AsyncClient(
            transport=guarded_transport(LOOPBACK)) as client:
        base = f"http://127.0.0.1:{port}"
        assert (await client.get(f"{base}/twice")).content == b"one"
        await asyncio.sleep(0.05)
        assert (await client.get(f"{base}/next")).content == b"2"
    assert accepted[0] == 2


def test_on_uvloop() -> None:
    """The agent runs on uvloop, whose transports are not asyncio.Transport subclasses."""
    uvloop = pytest.importorskip("uvloop")

    async def reply(head: bytes, connection: int, index: int) -> bytes:
        return _answer(b"%d.%d" % (connection, index))

    async def main() -> list[bytes]:
        async with scripted(reply) as (port, _), HttpClient(
                f"http://localhost:{port}", policy=LOOPBACK) as http:
            return [(await http.get(path)).content for path in ("/a", "/b")]

    assert uvloop.run(main()) == [b"1.0", b"1.1"]
