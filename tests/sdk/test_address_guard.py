"""The outbound address guard refuses metadata/link-local targets, directly and via redirects."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import ClassVar

import httpx
import pytest
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from connectors.sdk import errors as e
from connectors.sdk.http import AddressPolicy, HttpClient, RetryPolicy, guard
from connectors.sdk.http.guard import GuardedResolver, check_ip

from .servers import Reply, serve

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://0.0.0.0:8080/",
]


class Recorder(httpx.AsyncBaseTransport):
    """An inner transport that records what would have been sent (and sends nothing)."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={})


@pytest.mark.parametrize("url", METADATA_URLS)
async def test_metadata_and_link_local_refused_even_with_loopback_allowed(url: str):
    recorder = Recorder()
    policy = AddressPolicy(allow_loopback=True)
    retry = RetryPolicy(max_attempts=1)
    async with HttpClient(policy=policy, transport=recorder, retry=retry) as http:
        with pytest.raises(e.BlockedAddressError) as info:
            await http.get(url)
    assert recorder.sent == []  # refused before anything was handed to the network layer
    assert info.value.action is e.ErrorAction.FAIL


@pytest.mark.parametrize("url", METADATA_URLS[:2])
async def test_metadata_refused_on_the_real_transport(url: str):
    async with HttpClient(policy=AddressPolicy(allow_loopback=True)) as http:
        with pytest.raises(e.BlockedAddressError):
            await http.get(url)
        assert http.metrics.requests == 0


async def test_redirect_from_loopback_to_metadata_is_refused():
    targets = ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/"]
    for target in targets:
        with serve(lambda r, t=target: Reply(302, None, {"Location": t})) as server:
            async with HttpClient(server.url, policy=AddressPolicy(allow_loopback=True)) as http:
                with pytest.raises(e.BlockedAddressError):
                    await http.get("/start")
            assert server.paths() == ["/start"]


async def test_redirect_within_loopback_is_followed_when_allowed():
    def handler(request):
        if request.path == "/old":
            return Reply(301, None, {"Location": "/new"})
        return Reply(200, {"here": request.path})

    with serve(handler) as server:
        async with HttpClient(server.url, policy=AddressPolicy(allow_loopback=True)) as http:
            response = await http.get("/old")
    assert response.json() == {"here": "/new"}


async def test_loopback_refused_unless_allowed():
    with serve(lambda r: Reply(200, {})) as server:
        async with HttpClient(server.url) as http:
            with pytest.raises(e.BlockedAddressError) as info:
                await http.get("/x")
            assert "loopback" in str(info.value)
            assert info.value.hint is not None
        localhost = server.url.replace("127.0.0.1", "localhost")
        async with HttpClient(localhost) as http:
            with pytest.raises(e.BlockedAddressError):
                await http.get("/x")  # a name that resolves to loopback is refused too
    assert server.seen == []


class _Answers(ThreadedResolver):
    """A resolver answering from a table, counting the names it was asked."""

    table: ClassVar[dict[str, list[str]]] = {}
    asked: ClassVar[list[str]] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        type(self).asked.append(host)
        if host not in self.table:
            return await super().resolve(host, port, family)
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET,
                              proto=0, flags=0) for address in self.table[host]]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> type[_Answers]:
    monkeypatch.setattr(_Answers, "table", {})
    monkeypatch.setattr(_Answers, "asked", [])
    monkeypatch.setattr(guard, "ThreadedResolver", _Answers)
    return _Answers


async def test_connect_time_check_catches_names_the_pre_check_did_not_see(
        answers: type[_Answers]) -> None:
    """Names are checked where the connector resolves them (DNS rebinding defence): one
    forbidden address among the answers refuses the name, and no packet reaches the other."""
    answers.table["rebound.test"] = ["127.0.0.1", "169.254.169.254"]
    with pytest.raises(e.BlockedAddressError):
        await GuardedResolver(AddressPolicy(allow_loopback=True)).resolve("rebound.test", 80)
    with serve(lambda r: Reply(200, {})) as server:
        url = server.url.replace("127.0.0.1", "rebound.test")
        async with HttpClient(url, policy=AddressPolicy(allow_loopback=True),
                              retry=RetryPolicy(max_attempts=1)) as http:
            # Concurrent requests share one resolution in aiohttp: each must see the refusal.
            results = await asyncio.gather(http.get("/a"), http.get("/b"),
                                           return_exceptions=True)
            assert all(isinstance(r, e.BlockedAddressError) for r in results), results
    assert server.seen == []
    assert answers.asked == ["rebound.test", "rebound.test"]


def test_private_ranges_stay_allowed_and_extra_blocks_apply():
    check_ip("10.1.2.3", AddressPolicy())
    check_ip("192.168.1.10", AddressPolicy())
    check_ip("2001:db8::1", AddressPolicy())
    policy = AddressPolicy(extra_blocked=(ipaddress.ip_network("10.0.0.0/8"),))
    with pytest.raises(e.BlockedAddressError):
        check_ip("10.1.2.3", policy)


async def test_non_http_schemes_refused():
    async with HttpClient(policy=AddressPolicy(allow_loopback=True)) as http:
        with pytest.raises(e.ConfigError):
            await http.get("file:///etc/passwd")


async def test_a_host_name_is_resolved_per_connection_not_per_request(
        answers: type[_Answers]) -> None:
    """The connect-time check covers the default transport: no DNS query per request."""
    with serve(lambda r: Reply(200, {})) as server:
        localhost = server.url.replace("127.0.0.1", "localhost")
        async with HttpClient(localhost, policy=AddressPolicy(allow_loopback=True)) as http:
            for _ in range(3):
                await http.get("/x")
    assert len(server.seen) == 3
    assert answers.asked == ["localhost"]  # once, when the one keep-alive connection opened


async def test_a_refused_literal_stays_refused_on_every_request() -> None:
    """Allowed literals are remembered per transport; refused ones are checked every time."""
    with serve(lambda r: Reply(200, {})) as server:
        async with HttpClient(server.url, retry=RetryPolicy(max_attempts=1)) as http:
            for _ in range(2):
                with pytest.raises(e.BlockedAddressError):
                    await http.get("/x")
        async with HttpClient(server.url, policy=AddressPolicy(allow_loopback=True)) as http:
            for _ in range(2):
                assert (await http.get("/x")).status_code == 200
    assert len(server.seen) == 2
