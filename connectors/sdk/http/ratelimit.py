"""Client-side rate limiting and reading the server's rate-limit headers.

Two mechanisms work together: a token bucket per connector instance keeps us under a rate the
admin configured, and the server's own signals (``Retry-After`` on 429/503, ``X-RateLimit-*``
and IETF ``RateLimit-*`` headers) pause us before the server has to refuse.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["RateLimitStatus", "TokenBucket", "parse_rate_limit", "parse_retry_after"]

# Token arithmetic in floats: a bucket this close to a whole token has it.
_EPSILON = 1e-9
# Beyond this many seconds since the epoch, an X-RateLimit-Reset value is a timestamp.
_EPOCH_THRESHOLD = 1_000_000_000


def _header(headers: Mapping[str, str], name: str, lower: str | None = None) -> str | None:
    """``name``'s value, or ``lower``'s (``name.lower()``, given when known: the client's
    headers have lower-case names and are read for a dozen names per response)."""
    value = headers.get(name)
    if value is None:
        value = headers.get(lower or name.lower())
    return value.strip() if isinstance(value, str) else None


def _names(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, name.lower()) for name in names)


_RETRY_AFTER = _names("Retry-After")[0]
#: Each convention's remaining, limit and reset headers, in the order they are tried.
_PREFIXED = tuple(_names(prefix + "Remaining", prefix + "Limit", prefix + "Reset")
                  for prefix in ("X-RateLimit-", "RateLimit-", "X-Rate-Limit-"))
_STRUCTURED_NAME = _names("RateLimit")[0]


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def _reset_seconds(value: str | None) -> float | None:
    """A reset given in seconds, one unit of its last decimal place later: a server that
    prints ``0.050`` may mean 0.0496 (rounded) or 0.0509 (truncated), and a request sent at
    the printed time reaches it before its token (issue 6: with the client pacing at the
    server's rate, sub-millisecond transit, a few requests in a fleet's 24,000 were refused).
    Whole seconds and timestamps (see :func:`parse_rate_limit`) are taken as given."""
    number = _number(value)
    if number is None or value is None or "." not in value or number > _EPOCH_THRESHOLD:
        return number
    decimals = len(value.strip().split(".", 1)[1])
    return number + 10.0 ** -decimals if 0 < decimals < 10 else number


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> parse_retry_after({"Retry-After": "2"})
    2.0
    """
    value = _header(headers, *_RETRY_AFTER)
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RateLimitStatus:
    """What the server said about our quota; ``reset_after`` is seconds from now."""

    limit: float | None = None
    remaining: float | None = None
    reset_after: float | None = None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


_STRUCTURED = re.compile(r"(?:^|[;,\s])(remaining|reset|limit|r|t)\s*=\s*\"?([0-9.]+)")


def parse_rate_limit(headers: Mapping[str, str], *, now: float | None = None) -> RateLimitStatus:
    """Read ``X-RateLimit-*``, ``RateLimit-*`` or the structured ``RateLimit`` header.

    ``X-RateLimit-Reset`` is taken as a Unix timestamp when it is large (GitHub) and as
    seconds otherwise; ``RateLimit-Reset`` is always seconds (IETF draft). A reset in
    seconds with decimals counts one unit of its last decimal place more (the server rounded
    it): ``0.050`` waits 0.051 s.

    >>> parse_rate_limit({"RateLimit-Remaining": "0", "RateLimit-Reset": "3"}).reset_after
    3.0
    """
    current = time.time() if now is None else now
    for remaining_name, limit_name, reset_name in _PREFIXED:
        remaining = _number(_header(headers, *remaining_name))
        limit = _number(_header(headers, *limit_name))
        reset = _reset_seconds(_header(headers, *reset_name))
        if remaining is None and limit is None and reset is None:
            continue
        if reset is not None and reset > _EPOCH_THRESHOLD:
            reset = max(0.0, reset - current)
        return RateLimitStatus(limit=limit, remaining=remaining, reset_after=reset)
    structured = _header(headers, *_STRUCTURED_NAME)
    if structured:
        found = dict(_STRUCTURED.findall(structured))
        fields = {key: float(val) for key, val in found.items()}
        remaining = fields.get("remaining", fields.get("r"))
        reset = _reset_seconds(found.get("reset", found.get("t")))
        return RateLimitStatus(limit=fields.get("limit"), remaining=remaining, reset_after=reset)
    return RateLimitStatus()


class TokenBucket:
    """An asyncio token bucket: ``rate`` requests per second on average, bursts up to ``burst``.

    One bucket per connector instance (share it between that instance's clients).

    >>> bucket = TokenBucket(rate=5, burst=5)   # at most 5 requests/s, 5 at once
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if now <= self._updated:  # paused: nothing accrues before the pause ends
            return
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def pause(self, seconds: float) -> None:
        """Hold every acquirer for ``seconds`` (the server said our quota is spent).

        When the pause ends the bucket holds one token and refills from there: the server
        allows a request then (its next token, or its whole window, is back: what ``Reset``
        and ``Retry-After`` say), but no burst (a token-bucket server would refuse all but
        the first of it). A bucket emptied instead waited one more interval after every pause:
        a tenth of a second per sync at 10 requests/s.

        >>> bucket = TokenBucket(rate=10, burst=10)
        >>> bucket.pause(1.0)   # after the second, requests resume at 10/s, not 10 at once
        """
        until = max(self._paused_until, self._clock() + seconds)
        self._refill()
        self._paused_until = until
        self._tokens = min(1.0, self.capacity)
        self._updated = max(self._updated, until)

    async def acquire(self) -> float:
        """Take one token, sleeping as needed; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                pause = self._paused_until - self._clock()
                if pause > 0:
                    await self._nap(pause)
                    waited += pause
                    continue
                self._refill()
                if self._tokens >= 1 - _EPSILON:  # 0.1 * 10 may come out as 0.999…
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                delay = (1 - self._tokens) / self.rate
                await self._nap(delay)
                waited += delay

    async def _nap(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            await asyncio.sleep(seconds + _timer_slack(self._clock))


#: uvloop's timer resolution (whole milliseconds).
_UVLOOP_TICK = 0.001


def _timer_slack(clock: Callable[[], float]) -> float:
    """What a real sleep adds to its seconds so that it does not end before ``clock`` has
    moved that much.

    uvloop's timers count whole milliseconds from the start of the loop's current iteration
    (libuv's cached time, on the same monotonic clock): they fire up to that iteration's age
    plus a millisecond early. The bucket then found its token not there yet and slept again:
    ~4 timers and task wake-ups per paced request on a busy agent, not one. The default
    loop's timers do not end early (it allows for its clock's resolution itself).
    """
    if clock is not time.monotonic:
        return 0.0
    loop = asyncio.get_running_loop()
    if not type(loop).__module__.startswith("uvloop"):
        return 0.0
    lag = time.monotonic() - loop.time()
    return (lag if 0.0 < lag < 1.0 else 0.0) + _UVLOOP_TICK  # (another clock: no lag)
