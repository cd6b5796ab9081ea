"""The client's fast request path (connectors.sdk.http.sending) behaves as httpx's own.

Every scenario runs twice against the same server: through :class:`Sender` and through
``httpx.AsyncClient`` (``Sender.usable`` forced off); what the server saw and what the caller
got must be the same.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.cookiejar
from collections.abc import Generator, Iterator
from typing import Any

import httpx
import pytest

from connectors.sdk import errors as e
from connectors.sdk.http import AddressPolicy, CursorPaginator, HttpClient, RecordSelector, sending
from connectors.sdk.http.client import _lowered
from connectors.sdk.http.ratelimit import parse_rate_limit, parse_retry_after
from connectors.sdk.http.sending import Sender

from .servers import Reply, Seen, Server, serve

LOOPBACK = AddressPolicy(allow_loopback=True)


def test_the_fast_path_is_available_on_this_httpx() -> None:
    assert sending.FAST_URLS
    assert sending.FAST_REQUESTS


@pytest.mark.parametrize("base", ["http://h", "http://h:8080/api/v2", "https://h/api/v2/",
                                  "http://[::1]:81/x", "http://xn--bcher-kva.example/b%2Fc"])
@pytest.mark.parametrize(("url", "params"), [
    ("/items", None), ("items", {}), ("/items", {"limit": 2, "cursor": "17"}),
    ("/items?keep=1&x=a%20b", None), ("/items?keep=1", {"a": ["1", "2"]}),
    ("/items?keep=1", {}), ("", {"q": "é ü/&=+%", "t": True, "n": None, "f": 1.5}),
    ("/a%2Fb/c d", {"x": "", "#<>\"`{}|\\^": "\x00\x7f\u2028 #<>\"`"}),
    ("https://other.example/next?page=2", None),
    ("//other.example/x", {"y": "1"}), ("/items#frag", {"z": "1"}),
])
async def test_requests_are_built_as_httpx_builds_them(base: str, url: str,
                                                       params: dict[str, Any] | None) -> None:
    client = httpx.AsyncClient(base_url=base, headers={"User-Agent": "ua", "X-Default": "1"},
                               timeout=httpx.Timeout(3.0, connect=1.0))
    sender = Sender(client, httpx.MockTransport(lambda r: httpx.Response(200)))
    for kwargs in ({"json": None, "content": None, "headers": None},
                   {"json": {"a": [1, "é"]}, "content": None, "headers": {"x-default": "2"}},
                   {"json": None, "content": "text é", "headers": {"Content-Type": "text/x"}},
                   {"json": None, "content": b"\x00raw", "headers": {"User-Agent": "other"}}):
        for method in ("POST", "get", "PUT", "DELETE"):
            fast = sender.build(method, url, params=params, **kwargs)
            slow = client.build_request(method, url, params=params, **kwargs)
            assert fast.method == slow.method
            assert str(fast.url) == str(slow.url)
            assert fast.url.raw_path == slow.url.raw_path
            assert fast.headers.raw == slow.headers.raw
            assert fast.content == slow.content
            assert type(fast.stream) is type(slow.stream)
            assert fast.extensions["timeout"] == slow.extensions["timeout"]
    await client.aclose()


async def test_a_bodiless_request_is_what_httpx_builds_and_owns_its_headers() -> None:
    client = httpx.AsyncClient(base_url="http://h:81/api", headers={"User-Agent": "ua"})
    sender = Sender(client, httpx.MockTransport(lambda r: httpx.Response(200)))
    for method in ("GET", "POST"):
        fast = sender.build(method, "/x", params={"a": 1}, json=None, content=None,
                            headers=None)
        slow = client.build_request(method, "/x", params={"a": 1})
        assert vars(fast).keys() == vars(slow).keys()
        assert fast.headers.raw == slow.headers.raw
        assert fast.headers.raw[0] == (b"Host", b"h:81")
        assert fast.headers.get("content-length") == ("0" if method == "POST" else None)
        fast.headers["X-Signed"] = "1"  # an auth flow may change its request's headers
        again = sender.build(method, "/x", params=None, json=None, content=None, headers=None)
        assert "x-signed" not in again.headers
    client.headers["X-Later"] = "2"  # a connector may change its client's headers
    later = sender.build("GET", "/x", params=None, json=None, content=None, headers=None)
    assert later.headers.raw == client.build_request("GET", "/x").headers.raw
    assert later.headers["x-later"] == "2"
    await client.aclose()


class Colour(str):
    """A str subclass: httpx coerces it with ``str()``, as the fast encoding must too."""

    def __str__(self) -> str:
        return "colour:" + super().__str__()


@pytest.mark.parametrize("params", [
    {}, {"limit": 2, "cursor": "17"}, {"q": "é ü/&=+% ~*'()!", "n": -3, "big": 10**30},
    {"t": True, "f": False, "none": None, "x": 1.5}, {"a": ["1", 2], "b": ("x",)},
    {1: "one", "two": 2}, {"c": Colour("red")}, [("a", "1"), ("a", "2")], "a=1&b=2", "",
    {"x~.-_": "-3", "": "", "a\n": "b\n", "A-z": "0_9~", "%": "%25", "+": "a+b"},
])
def test_query_parameters_are_encoded_as_httpx_encodes_them(params: Any) -> None:
    expected = httpx.QueryParams(params)
    assert sending._encoded(params) == (str(expected) if expected else None)


class Challenge(httpx.Auth):
    """A two-step flow that reads the first answer's body (as digest-style schemes do)."""

    requires_response_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = "Nonce " + response.json()["nonce"]
            yield request


def _site(request: Seen) -> Reply:
    name = request.path.removeprefix("/api")
    if name == "/old":
        return Reply(302, None, {"Location": "/new?from=old"})
    if name == "/form":
        return Reply(303, None, {"Location": "/new"})
    if name == "/login":
        return Reply(200, {"ok": True}, {"Set-Cookie": "session=s1; Path=/"})
    if name == "/locked":
        if request.headers.get("Authorization") != "Nonce n1":
            return Reply(401, {"nonce": "n1"})
        return Reply(200, {"unlocked": True})
    if name == "/gzip":
        return Reply(200, gzip.compress(b'{"zipped": true}'), {"Content-Encoding": "gzip"})
    if name == "/missing":
        return Reply(404, {"error": "nope"})
    if name == "/pages":
        page = int(request.query.get("cursor", "0"))
        return Reply(200, {"items": [{"id": page}], "next": str(page + 1) if page < 2 else None},
                     {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1"})
    return Reply(200, {"path": request.path, "query": request.query, "body": request.body.decode()})


def _answer(response: httpx.Response) -> tuple[Any, ...]:
    assert isinstance(response.elapsed, dt.timedelta)
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "server")]
    return (response.status_code, response.content, headers, response.request.method,
            str(response.request.url), [r.status_code for r in response.history],
            response.http_version, response.reason_phrase, response.is_closed)


async def _scenario(server: Server) -> list[Any]:
    out: list[Any] = []
    async with HttpClient(server.url + "/api", policy=LOOPBACK) as http:
        out.append(_answer(await http.get("/plain", params={"a": "1 2", "b": ["x", "y"]})))
        out.append(_answer(await http.post("/post", json={"k": "v"}, headers={"X-H": "h"})))
        out.append(_answer(await http.request("PUT", "/put", content=b"raw")))
        out.append(_answer(await http.get(server.url + "/old")))  # absolute URL, redirect
        out.append(_answer(await http.post(server.url + "/form", content=b"f")))  # 303: GET
        out.append(_answer(await http.get(server.url + "/gzip")))  # decoded by httpx
        with pytest.raises(e.RemoteError, match="404"):
            await http.get("/missing")
        out.append([(p.number, p.records) async for p in http.paginate(
            server.url + "/pages", paginator=CursorPaginator("next", "cursor"),
            selector=RecordSelector("items"))])
        out.append(_answer(await http.get(server.url + "/login")))
        out.append(_answer(await http.get("/after-login")))  # sends the cookie
        out.append(http.metrics.snapshot() | {"latency_avg_ms": 0, "latency_max_ms": 0})
    async with HttpClient(server.url, policy=LOOPBACK, auth=Challenge()) as http:
        out.append(_answer(await http.get("/locked")))
    userinfo = server.url.replace("http://", "http://user:p%40ss@")  # httpx's BasicAuth
    async with HttpClient(userinfo, policy=LOOPBACK) as http:
        out.append(_answer(await http.get("/basic")))
    async with HttpClient(server.url, policy=LOOPBACK, follow_redirects=False) as http:
        response = await http.get("/old")
        out.append((_answer(response), str(response.next_request and response.next_request.url)))
    async with HttpClient(server.url, policy=LOOPBACK, max_redirects=0) as http:
        with pytest.raises(e.RemoteError, match="redirected too many times"):
            await http.get("/old")
    return out


def _seen(server: Server) -> list[tuple[Any, ...]]:
    return [(s.method, s.path, s.query, s.body,
             sorted((k.lower(), v) for k, v in s.headers.items())) for s in server.seen]


async def _run(server: Server) -> list[Any]:
    server.seen.clear()
    got = await _scenario(server)
    seen = _seen(server)
    assert any(s[1] == "/api/after-login" and ("cookie", "session=s1") in s[4] for s in seen)
    assert ("authorization", "Nonce n1") in seen[-4][4]
    assert ("authorization", "Basic dXNlcjpwQHNz") in seen[-3][4]
    return [got, seen]


async def test_the_fast_path_behaves_as_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    sends: list[httpx.Request] = []
    original = Sender.send

    async def counting(self: Sender, request: httpx.Request) -> httpx.Response:
        sends.append(request)
        return await original(self, request)

    monkeypatch.setattr(Sender, "send", counting)
    with serve(_site) as server:
        fast = await _run(server)
        assert len(sends) > 10  # the fast path was taken (not after the cookie was set)
        monkeypatch.setattr(Sender, "usable", lambda self: False)
        sends.clear()
        slow = await _run(server)
        assert sends == []
    assert fast == slow


async def test_a_client_with_cookies_or_hooks_goes_through_httpx() -> None:
    async with HttpClient("http://127.0.0.1:1", policy=LOOPBACK) as http:
        sender = http._sender
        assert sender.usable()
        http._client.cookies.set("a", "b")
        assert not sender.usable()
        http._client.cookies.clear()
        http._client.event_hooks["request"].append(lambda request: None)
        assert not sender.usable()


def test_cookies_are_looked_for_as_httpx_counts_them() -> None:
    cookies = httpx.Cookies()
    assert sending._no_cookies(cookies)
    cookies.set("a", "b", domain="x.example")
    assert not sending._no_cookies(cookies)
    cookies.jar.clear("x.example", "/", "a")  # leaves empty per-domain and per-path dicts
    assert sending._no_cookies(cookies)

    class Remote(http.cookiejar.CookieJar):
        """A jar that keeps its cookies elsewhere (its _cookies stays empty)."""

        def __iter__(self) -> Iterator[http.cookiejar.Cookie]:
            yield http.cookiejar.Cookie(0, "k", "v", None, False, "h", True, False, "/", True,
                                        False, None, False, None, None, {})

    assert not sending._no_cookies(httpx.Cookies(Remote()))


@pytest.mark.parametrize("raw", [
    [(b"X-RateLimit-Remaining", b"0"), (b"x-ratelimit-remaining", b"1"), (b"Retry-After", b"2")],
    [(b"RateLimit", b"limit=10, remaining=0, reset=3"), (b"Content-Type", b"\xc3\xbc/\xff")],
    [],
])
def test_the_header_dict_reads_as_httpx_headers(raw: list[tuple[bytes, bytes]]) -> None:
    headers = httpx.Headers(raw)
    lowered = _lowered(headers)
    for name in ("X-RateLimit-Remaining", "retry-after", "ratelimit", "content-type", "absent"):
        assert lowered.get(name.lower()) == headers.get(name)
    assert parse_rate_limit(lowered) == parse_rate_limit(headers)
    assert parse_retry_after(lowered, now=0) == parse_retry_after(headers, now=0)
