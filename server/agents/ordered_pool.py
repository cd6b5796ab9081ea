"""The agent's thread pool, where every database step waits its turn: syncs in launch order.

Each step of a sync (``begin``, opening a stream, each batch, ``finish``) is a trip through
the event loop's default thread pool, first come first served. When a fleet comes due at
once (issue 6: 200 slots in one second) that order runs every sync's ``begin`` before any
sync's next step: no sync makes its first request until all have begun, so all reach their
last request, and queue for their final batch and ``finish``, within the same second.

Here a sync's steps queue as if asked for when the sync was launched (at most
:data:`HEAD_START` seconds earlier than they were): a sync launched first goes on to its
first request while later ones wait for ``begin``, the fleet's starts and ends spread over
the start-up, and no step waits for younger syncs' steps. Everything else (claims,
heartbeats, the event worker) queues by the time it was asked for, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import math
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: How much earlier than asked for a sync's step may queue (bounds how long a step of a
#: newer sync, or other work, can be passed by older syncs' steps).
HEAD_START = 2.0

#: The launch time (``time.monotonic()``) of the sync whose task asks for a thread, if any.
launched_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "launched_at", default=None)


class _OrderedQueue:
    """The pool's work queue (what :class:`ThreadPoolExecutor` calls on a
    ``queue.SimpleQueue``), ordered by when each item counts as asked for. ``put`` runs on
    the asking thread, in the asking task's context."""

    def __init__(self) -> None:
        self._items: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._ready = threading.Condition(threading.Lock())

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the pool's stop signal: after every queued step
            key = math.inf
        else:
            key = now = time.monotonic()
            launched = launched_at.get()
            if launched is not None:
                key = max(launched, now - HEAD_START)
        with self._ready:
            heapq.heappush(self._items, (key, next(self._seq), item))
            self._ready.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self._ready:
            if not block:
                timeout = 0.0
            if not self._ready.wait_for(lambda: self._items, timeout):
                raise _empty()
            return heapq.heappop(self._items)[2]

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def empty(self) -> bool:
        with self._ready:
            return not self._items

    def qsize(self) -> int:
        with self._ready:
            return len(self._items)


def _empty() -> Exception:
    import queue  # noqa: PLC0415 - only on the rare empty get_nowait

    return queue.Empty()


class OrderedThreadPool(ThreadPoolExecutor):
    """:class:`ThreadPoolExecutor` (same size, same threads) with :class:`_OrderedQueue`."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix)
        self._work_queue = _OrderedQueue()  # type: ignore[assignment]


_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedThreadPool] = (
    weakref.WeakKeyDictionary())


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Make :class:`OrderedThreadPool` the loop's default pool (once per loop). Steps already
    queued in the previous default pool finish there."""
    if loop in _installed:
        return
    pool = OrderedThreadPool(thread_name_prefix="agent-db")
    _installed[loop] = pool
    loop.set_default_executor(pool)

