"""The pooled transport (httpx on aiohttp): bytes on the wire, failures, TLS, clean closing."""

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
