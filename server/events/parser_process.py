"""Webhook deliveries -> events -> actions queued, in a process of its own (PostgreSQL).

Under webhook load the agent's one interpreter was shared by the intake (acknowledging
deliveries) and the event worker (parsing them): issue 6's 2,000 deliveries/s need about a
core for the intake alone. The agent therefore runs the parsing and the outbox dispatch in a
child process on the same database: :class:`ParserProcess` starts it, restarts it when it
dies, hands it the agent's settings on its stdin and stops it with the agent. The agent's
own :class:`~server.events.worker.EventWorker` keeps running the actions.

The pipes carry wake-ups only, one byte each: the agent writes one after storing deliveries
(the child's stdin), the child one after queuing actions (its stdout), so each side looks for
work at once instead of at its next poll. The child exits when its stdin closes (the
agent stopped, or died). Claims are leases in the database, so nothing is lost when the
child dies mid-batch; the next one releases the claims its agent still holds at start.

SQLite keeps the in-process worker: one writer at a time, and a second process writing the
same file would only wait for the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from server.children import ChildProcess, read_start, start_line, stdin_closed
from server.config import Settings
from server.db.models import DeliveryStatus, WebhookDelivery

log = logging.getLogger(__name__)

POLL = 0.5
#: How long a woken child waits for more deliveries before its step.
GATHER = 0.05
#: The child runs at a lower CPU priority: senders wait for the intake's answer, nobody waits
#: for the parsing (asynchronous by design). When both want the CPU, the intake gets about
#: three times the child's share; an idle CPU is the child's alone.
NICE = 5


class Handoff(Protocol):
    """What the supervisor needs of the agent's event worker."""

    def hand_off(self, wake: Callable[[], None]) -> None: ...

    def take_back(self) -> None: ...

    def notify(self) -> None: ...


class ParserProcess:
    """Supervises the child process (:func:`main`) from a thread of the agent."""

    def __init__(self, settings: Settings, worker: Handoff) -> None:
        self.worker = worker
        self._child = ChildProcess(
            "server.events.parser_process", "the event parser process", start_line(settings),
            fallback="parsing webhook deliveries in the agent's process instead",
            on_give_up=worker.take_back, on_output=worker.notify)

    def start(self) -> None:
        self.worker.hand_off(self.wake)
        self._child.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Close the child's stdin (it finishes its step and exits), then wait for it."""
        self._child.stop(timeout)

    def wake(self) -> None:
        """Deliveries were stored (the intake's event loop; never blocks)."""
        self._child.write(b"w")

    @property
    def pid(self) -> int | None:
        return self._child.pid


# ---- the child ---------------------------------------------------------------------------


def main() -> None:
    """The child: read the settings line, then parse and dispatch until stdin closes."""
    with contextlib.suppress(OSError):  # not every platform has it
        os.nice(NICE)
    start = read_start()
    if start is not None:
        asyncio.run(_run(start[0]))


async def _run(settings: Settings) -> None:
    from server.db.engine import make_engine, make_session_factory  # noqa: PLC0415
    from server.events import outbox  # noqa: PLC0415
    from server.events.deliveries import DELIVERY_BATCH, DeliveryParser  # noqa: PLC0415
    from server.events.emit import install_status_hook  # noqa: PLC0415
    from server.services.registry import Registry  # noqa: PLC0415
    from server.vault import Vault  # noqa: PLC0415

    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    install_status_hook()
    parser = DeliveryParser(factory, Registry(settings),
                            Vault.load(settings.data_dir, create=False), settings.agent_id)
    _release_own_claims(factory, settings.agent_id)
    wake = asyncio.Event()
    closed = stdin_closed(wake.set)
    try:
        while not closed.is_set():
            wake.clear()
            try:
                claimed = parser.claim(DELIVERY_BATCH)
                if claimed:
                    outcomes = await parser.parse_all(claimed, parser.connectors(claimed))
                    parser.finish(outcomes)
                with factory() as session:
                    dispatched = outbox.dispatch_events(session, limit=DELIVERY_BATCH)
            except Exception:
                log.exception("event parser step failed; retrying")
                claimed, dispatched = [], outbox.Dispatched(0, 0)
                await asyncio.sleep(POLL)
            if dispatched.actions:  # the agent runs them (gone: our stdin closes too)
                with contextlib.suppress(OSError):
                    os.write(sys.stdout.fileno(), b"d")
            if not (claimed or dispatched.events):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL)
                    # Woken by a stored batch: let a few more arrive, so a steady trickle is
                    # parsed in batches too (each step has a fixed cost of a few ms).
                    await asyncio.sleep(GATHER)
    finally:
        engine.dispose()


def _release_own_claims(factory: sessionmaker[Session], agent_id: str) -> None:
    """Claims this agent still holds are a dead child's: take them over at once."""
    with factory() as session:
        session.execute(update(WebhookDelivery).where(
            WebhookDelivery.claimed_by == agent_id,
            WebhookDelivery.status == DeliveryStatus.RECEIVED).values(claimed_until=None)
            .execution_options(synchronize_session=False))
        session.commit()


if __name__ == "__main__":
    main()
