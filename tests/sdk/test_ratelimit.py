"""The token bucket's pacing, with a fake clock: what it lets through and when."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.sdk.http.ratelimit import TokenBucket


class Clock:
    """A clock that only moves when the bucket sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _times(bucket: TokenBucket, clock: Clock, n: int) -> list[float]:
    async def take() -> list[float]:
        out = []
        for _ in range(n):
            await bucket.acquire()
            out.append(round(clock.now - 100.0, 6))
        return out
    return asyncio.run(take())


def test_burst_then_the_rate(clock: Clock) -> None:
    bucket = TokenBucket(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    assert _times(bucket, clock, 5) == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_a_server_pause_empties_the_bucket(clock: Clock) -> None:
    """After ``X-RateLimit-Remaining: 0`` the bucket resumes at its rate, not with a burst,
    with the request the server allows when the pause ends."""
    bucket = TokenBucket(rate=10, burst=10, clock=clock, sleep=clock.sleep)
    bucket.pause(1.0)
    assert _times(bucket, clock, 3) == [1.0, 1.1, 1.2]


def test_a_pause_does_not_shorten_an_earlier_longer_one(clock: Clock) -> None:
    bucket = TokenBucket(rate=10, burst=10, clock=clock, sleep=clock.sleep)
    bucket.pause(2.0)
    bucket.pause(0.5)
    assert _times(bucket, clock, 2) == [2.0, 2.1]


def test_tokens_accrue_again_after_the_pause(clock: Clock) -> None:
    bucket = TokenBucket(rate=10, burst=5, clock=clock, sleep=clock.sleep)
    bucket.pause(1.0)
    clock.now += 3.0  # long after the pause: the bucket refilled to its burst
    assert _times(bucket, clock, 6) == [3.0, 3.0, 3.0, 3.0, 3.0, 3.1]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_paced_token_takes_one_real_sleep_never_early(loop: str) -> None:
    """On the real clock each paced token costs one sleep, and none is taken early: uvloop's
    timers fire up to a millisecond and the loop iteration's age early, and the bucket used to
    sleep again each time (~4 timers and task wake-ups per paced request on the agent)."""
    runner = pytest.importorskip("uvloop").run if loop == "uvloop" else asyncio.run
    naps: list[float] = []

    class Counting(TokenBucket):
        async def _nap(self, seconds: float) -> None:
            naps.append(seconds)
            await super()._nap(seconds)

    async def take(n: int) -> list[float]:
        times = [time.monotonic()]  # before the bucket: its n-th paced token is n/50 s later
        bucket = Counting(rate=50, burst=1)
        for _ in range(n):
            await bucket.acquire()
            times.append(time.monotonic())
            time.sleep(0.003)  # noqa: ASYNC251 - work in this loop iteration before the next ask
        return times

    times = runner(take(16))
    assert len(naps) == 15  # the first token is the burst
    for n, at in enumerate(times[1:]):
        assert at - times[0] >= n / 50
