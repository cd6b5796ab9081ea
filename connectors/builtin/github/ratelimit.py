"""GitHub's rate-limit answers, normalised so the SDK client waits them out and counts them.

GitHub signals both of its limits with 403 *or* 429 (docs: "Rate limits for the REST API"):

* primary limit spent: ``x-ratelimit-remaining: 0``; wait until ``x-ratelimit-reset``;
* secondary limit: a message saying so, and ``retry-after`` when GitHub knows the wait; if
  it does not, wait until ``x-ratelimit-reset`` when remaining is 0, else at least a minute.

The SDK's client treats 403 as "permission denied" and only 429 as throttling, so this
transport rewrites a rate-limit 403 (and a 429 without ``Retry-After``) into a 429 carrying the
wait GitHub asked for. The throttle is then waited out (or raised as ``RateLimitError`` when
longer than the policy allows, so the engine reschedules) and counted in the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

__all__ = ["GitHubRateLimitTransport", "rate_limit_wait"]

SECONDARY_DEFAULT_WAIT_S = 60.0


def rate_limit_wait(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait if ``response`` is a GitHub rate-limit answer, else None."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("retry-after")
    remaining = headers.get("x-ratelimit-remaining")
    message = response.content.lower() if response.status_code == 403 else b""
    is_limit = (
        response.status_code == 429
        or retry_after is not None
        or remaining == "0"
        or b"rate limit" in message
    )
    if not is_limit:
        return None
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    if remaining == "0":
        try:
            reset = float(headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return SECONDARY_DEFAULT_WAIT_S
        current = time.time() if now is None else now
        return max(1.0, reset - current + 1.0)
    return SECONDARY_DEFAULT_WAIT_S


class GitHubRateLimitTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; answers GitHub's rate-limit 403/429 as 429 with ``Retry-After``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._inner = inner
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if response.status_code not in (403, 429):
            return response
        await response.aread()
        wait = rate_limit_wait(response, now=self._clock())
        if wait is None:
            return response
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in (
            "retry-after", "content-length", "content-encoding", "transfer-encoding")]
        headers.append(("Retry-After", f"{wait:g}"))
        headers.append(("X-SimpleTrust-Original-Status", str(response.status_code)))
        return httpx.Response(
            429,
            headers=headers,
            content=response.content,
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
