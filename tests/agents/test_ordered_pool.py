"""The agent's thread pool: syncs' database steps in launch order, other work by time."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

from server.agents import ordered_pool
from server.agents.ordered_pool import OrderedThreadPool


def _queued(pool: OrderedThreadPool, steps: list[tuple[str, float | None]]) -> list[str]:
    """Run ``steps`` (name, launch time of the asking sync or None) on a one-thread pool
    whose thread is busy while they are queued; the order they ran in."""
    ran: list[str] = []
    gate = threading.Event()
    first: Future[Any] = pool.submit(gate.wait)
    futures = [first]
    for name, launched in steps:
        token = ordered_pool.launched_at.set(launched)
        try:
            futures.append(pool.submit(ran.append, name))
        finally:
            ordered_pool.launched_at.reset(token)
    gate.set()
    for future in futures:
        future.result(timeout=10)
    return ran


def test_a_sync_launched_earlier_goes_first_and_other_work_by_time() -> None:
    pool = OrderedThreadPool(max_workers=1)
    now = time.monotonic()
    try:
        ran = _queued(pool, [
            ("young-begin", now), ("claim", None), ("old-open", now - 1.0),
            ("young-open", now), ("old-finish", now - 1.0), ("heartbeat", None)])
    finally:
        pool.shutdown(wait=True)
    # Each sync's steps queue as of its launch (the young one's before the claim and the
    # heartbeat, asked for later); other work by the time it was asked for.
    assert ran == ["old-open", "old-finish", "young-begin", "young-open", "claim", "heartbeat"]


def test_the_head_start_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ordered_pool, "HEAD_START", 0.0)
    pool = OrderedThreadPool(max_workers=1)
    try:
        ran = _queued(pool, [("claim", None), ("old-sync", time.monotonic() - 3600)])
    finally:
        pool.shutdown(wait=True)
    assert ran == ["claim", "old-sync"]  # a day-old sync does not pass newer work forever


def test_shutdown_cancels_or_runs_what_is_queued() -> None:
    pool = OrderedThreadPool(max_workers=1)
    gate = threading.Event()
    pool.submit(gate.wait)
    queued = pool.submit(lambda: "never")
    threading.Timer(0.1, gate.set).start()
    pool.shutdown(wait=True, cancel_futures=True)
    assert queued.cancelled()
    again = OrderedThreadPool(max_workers=2)
    results = [again.submit(pow, n, 2) for n in range(5)]
    again.shutdown(wait=True)
    assert [f.result() for f in results] == [0, 1, 4, 9, 16]


def test_install_makes_it_the_loops_default_pool_once() -> None:
    async def main() -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        ordered_pool.install(loop)
        ordered_pool.install(loop)
        first = await asyncio.to_thread(lambda: threading.current_thread().name)
        return first, type(ordered_pool._installed[loop]).__name__

    name, kind = asyncio.run(main())
    assert name.startswith("agent-db")
    assert kind == "OrderedThreadPool"
