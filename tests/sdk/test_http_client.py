"""HttpClient against real loopback servers: retries, throttling, metrics, errors."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from connectors.sdk import errors as e
from connectors.sdk.http import AddressPolicy, HttpClient, RetryPolicy, TokenBucket
from connectors.sdk.http.ratelimit import parse_rate_limit, parse_retry_after

from .servers import Reply, Seen, serve

LOOPBACK = AddressPolicy(allow_loopback=True)


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _client(url: str, sleep: FakeSleep | None = None, **kwargs: object) -> HttpClient:
    return HttpClient(
        url,
        policy=LOOPBACK,
        retry=kwargs.pop("retry", RetryPolicy(backoff_base=0.01)),  # type: ignore[arg-type]
        sleep=sleep or FakeSleep(),
        **kwargs,  # type: ignore[arg-type]
    )


def _flaky(failures: int, status: int = 503, headers: dict[str, str] | None = None):
    count = {"n": 0}

    def handler(request: Seen) -> Reply:
        count["n"] += 1
        if count["n"] <= failures:
            return Reply(status, {"error": "secret-body-token"}, headers or {})
        return Reply(200, {"ok": True})

    return handler


async def test_retries_idempotent_request_on_5xx_then_succeeds():
    with serve(_flaky(2, 502)) as server:
        sleep = FakeSleep()
        async with _client(server.url, sleep) as http:
            response = await http.get("/items")
        assert response.json() == {"ok": True}
        assert len(server.seen) == 3
        assert http.metrics.retries == 2
        assert http.metrics.status_counts[502] == 2
        assert len(sleep.waits) == 2
        assert all(0 <= w <= 0.02 for w in sleep.waits)  # jittered backoff under its ceiling


async def test_post_is_not_retried_unless_declared_idempotent():
    with serve(_flaky(1, 500)) as server:
        async with _client(server.url) as http:
            with pytest.raises(e.RemoteServerError) as info:
                await http.post("/tickets", json={"a": 1})
            assert "secret-body-token" not in str(info.value)
            assert len(server.seen) == 1
            response = await http.post("/search", json={}, idempotent=True)
            assert response.status_code == 200


async def test_gives_up_after_max_attempts():
    with serve(_flaky(10, 500)) as server:
        async with _client(server.url, retry=RetryPolicy(max_attempts=3, backoff_base=0)) as http:
            with pytest.raises(e.RemoteServerError):
                await http.get("/x")
        assert len(server.seen) == 3


async def test_429_retry_after_is_waited_out_and_counted():
    with serve(_flaky(2, 429, {"Retry-After": "1"})) as server:
        sleep = FakeSleep()
        async with _client(server.url, sleep) as http:
            response = await http.get("/x")
        assert response.status_code == 200
        assert sleep.waits == [1.0, 1.0]
        assert http.metrics.throttled == 2
        assert http.metrics.throttle_wait_s == 2.0
        assert http.metrics.snapshot()["throttled"] == 2


async def test_429_with_long_retry_after_raises_rate_limited_for_the_engine():
    with serve(_flaky(5, 429, {"Retry-After": "3600"})) as server:
        async with _client(server.url) as http:
            with pytest.raises(e.RateLimitError) as info:
                await http.get("/x")
        assert info.value.retry_after == 3600
        assert info.value.action is e.ErrorAction.WAIT


async def test_exhausted_quota_headers_pause_the_next_request():
    def handler(request: Seen) -> Reply:
        return Reply(200, {}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"})

    with serve(handler) as server:
        sleep = FakeSleep()
        async with _client(server.url, sleep) as http:
            await http.get("/a")
            await http.get("/b")
        assert http.metrics.throttle_pauses == 2
        assert len(sleep.waits) == 1
        assert 1.5 < sleep.waits[0] <= 2.0


def test_rate_limit_header_flavours():
    now = 1_700_000_000.0
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(now + 30)}
    github = parse_rate_limit(headers, now=now)
    assert github.exhausted
    assert github.reset_after == 30
    ietf = parse_rate_limit({"RateLimit": "limit=100, remaining=0, reset=7"})
    assert ietf.remaining == 0
    assert ietf.reset_after == 7
    # Seconds with decimals were rounded by the server: one unit of the last place more, or
    # a request sent at the printed reset can reach it before its token.
    rounded = parse_rate_limit({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.050"})
    assert rounded.reset_after == pytest.approx(0.051)
    structured = parse_rate_limit({"RateLimit": "limit=10, remaining=0, reset=0.25"})
    assert structured.reset_after == pytest.approx(0.26)
    assert parse_rate_limit({"RateLimit-Remaining": "0", "RateLimit-Reset": "3"}).reset_after == 3
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT"}, now=0) > 0
    assert parse_retry_after({"Retry-After": "soon"}) is None


async def test_token_bucket_spaces_requests():
    with serve(lambda r: Reply(200, {})) as server:
        bucket = TokenBucket(rate=20, burst=1)
        async with HttpClient(server.url, policy=LOOPBACK, rate_limiter=bucket) as http:
            started = time.monotonic()
            for _ in range(5):
                await http.get("/x")
            elapsed = time.monotonic() - started
        assert elapsed >= 0.18  # 4 waits of 1/20 s after the first (burst 1)


async def test_connection_refused_is_retried_then_transient():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    sleep = FakeSleep()
    async with _client(f"http://127.0.0.1:{port}", sleep) as http:
        with pytest.raises(e.NetworkError) as info:
            await http.get("/x?token=SECRET9")
    assert info.value.action is e.ErrorAction.RETRY
    assert "SECRET9" not in str(info.value)
    assert len(sleep.waits) == 3
    assert http.metrics.errors == 4


async def test_read_timeout_is_request_timeout():
    def slow(request: Seen) -> Reply:
        time.sleep(0.5)
        return Reply(200, {})

    with serve(slow) as server:
        async with _client(server.url, retry=RetryPolicy(max_attempts=1), timeout=0.1) as http:
            with pytest.raises(e.RequestTimeoutError):
                await http.get("/slow")


async def test_auth_is_applied_and_errors_do_not_echo_it():
    class Token(httpx.Auth):
        def auth_flow(self, request: httpx.Request):
            request.headers["Authorization"] = "Bearer TOPSECRET42"
            yield request

    with serve(lambda r: Reply(401, {"detail": "TOPSECRET42 invalid"})) as server:
        async with _client(server.url, auth=Token()) as http:
            with pytest.raises(e.AuthenticationError) as info:
                await http.get("/me")
        assert server.seen[0].headers["Authorization"] == "Bearer TOPSECRET42"
        assert "TOPSECRET42" not in str(info.value.to_dict())
        assert "TOPSECRET42" not in repr(http)


async def test_metrics_count_latency_and_bytes():
    with serve(lambda r: Reply(200, {"data": "x" * 100})) as server:
        seen = []
        async with _client(server.url) as http:
            http.metrics.listeners.append(seen.append)
            await http.post("/x", json={"a": "b"})
        snap = http.metrics.snapshot()
        assert snap["requests"] == 1
        assert snap["bytes_received"] > 100
        assert snap["bytes_sent"] == len(b'{"a":"b"}')
        assert snap["latency_avg_ms"] > 0
        assert seen[0].path == "/x"
        assert seen[0].status == 200
