"""The event worker gives way to an intake burst, but never lets events fall far behind."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any
from unittest.mock import MagicMock

from server.db.models import WebhookScheme
from server.db.types import utcnow
from server.events import deliveries
from server.events import worker as worker_module
from server.events.deliveries import ClaimedDelivery
from server.events.worker import EventWorker


def _worker() -> EventWorker:
    return EventWorker(MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock(),
                       "agent-1", lease=dt.timedelta(seconds=30))


def _claimed(age: float) -> ClaimedDelivery:
    return ClaimedDelivery(uuid.uuid4(), uuid.uuid4(), "d-1", WebhookScheme.STANDARD, {},
                           b'{"type": "x"}', utcnow() - dt.timedelta(seconds=age))


def test_yields_only_while_work_is_being_queued() -> None:
    worker = _worker()
    assert not worker.yielding()  # nothing queued lately: full batches
    worker.wake()
    assert worker.yielding()
    time.sleep(worker_module.BUSY_WINDOW * 1.5)
    assert not worker.yielding()


def test_stops_yielding_when_the_oldest_delivery_waited_too_long(monkeypatch: Any) -> None:
    worker = _worker()
    finished: list[int] = []
    limits: list[int] = []

    def claim(limit: int) -> list[ClaimedDelivery]:
        limits.append(limit)
        return [_claimed(age)]

    monkeypatch.setattr(worker.parser, "claim", claim)
    monkeypatch.setattr(worker.parser, "connectors", lambda claimed: {})
    monkeypatch.setattr(worker.parser, "finish", lambda out: finished.append(len(out)))
    monkeypatch.setattr(worker, "_dispatch", lambda limit: 0)
    monkeypatch.setattr(worker, "_claim", list)
    monkeypatch.setattr(worker, "check_credentials", lambda: 0)

    async def tick_while_busy() -> None:
        worker.wake()
        await worker.tick()

    age = 1.0
    asyncio.run(tick_while_busy())
    assert worker.yielding()  # recent delivery, intake busy: small batches and pauses
    age = worker_module.MAX_LAG + 5
    asyncio.run(tick_while_busy())
    assert not worker.yielding()  # too far behind: full batches, no pause
    asyncio.run(tick_while_busy())
    assert limits == [worker_module.BUSY_BATCH, worker_module.BUSY_BATCH,
                      deliveries.DELIVERY_BATCH]
    assert finished == [1, 1, 1]
