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
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.db.models import DeliveryStatus, WebhookDelivery

log = logging.getLogger(__name__)

#: Restarts wait this long, doubling up to ``MAX_DELAY``.
RESTART_DELAY = 1.0
MAX_DELAY = 30.0
#: A child that exits within ``QUICK_EXIT`` seconds of its start failed to start; after
#: ``GIVE_UP`` such starts in a row the agent parses in its own process again.
QUICK_EXIT = 10.0
GIVE_UP = 3
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
        self.settings = settings
        self.worker = worker
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards _stdin: wake() runs on the event loop
        self._stdin: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.worker.hand_off(self.wake)
        self._thread = threading.Thread(target=self._supervise, name="event-parser",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Close the child's stdin (it finishes its step and exits), then wait for it."""
        self._stopping.set()
        self._close_stdin()
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the event parser process did not stop in %.0f s; killed", timeout)
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Deliveries were stored (the intake's event loop; never blocks)."""
        with self._lock:
            if self._stdin is None:
                return
            # A full pipe already holds wake-ups; a dead child is restarted and polls anyway.
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._stdin.fileno(), b"w")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _supervise(self) -> None:
        delay, quick = RESTART_DELAY, 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set():
                return
            quick = quick + 1 if time.monotonic() - started < QUICK_EXIT else 0
            if quick >= GIVE_UP:
                log.error("the event parser process failed to start %d times (exit status "
                          "%s); parsing webhook deliveries in the agent's process instead",
                          quick, code)
                self.worker.take_back()
                return
            log.error("the event parser process exited with status %s; restarting it in "
                      "%.0f s", code, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_DELAY) if quick else RESTART_DELAY

    def _run_once(self) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.events.parser_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert proc.stdin is not None
        assert proc.stdout is not None
        self._proc = proc
        try:
            proc.stdin.write(_settings_line(self.settings))
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: its exit status says why
        os.set_blocking(proc.stdin.fileno(), False)
        with self._lock:
            self._stdin = proc.stdin
        if self._stopping.is_set():  # stop() ran while we were starting it
            self._close_stdin()
        while os.read(proc.stdout.fileno(), 4096):  # a byte: actions were queued
            self.worker.notify()
        proc.stdout.close()
        self._close_stdin()
        return proc.wait()

    def _close_stdin(self) -> None:
        with self._lock:
            stdin, self._stdin = self._stdin, None
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()


def _settings_line(settings: Settings) -> bytes:
    """The agent's settings for the child (its SMTP password stays out: it sends no mail)."""
    data = settings.model_dump(mode="json", exclude={"smtp_password"})
    return json.dumps(data).encode() + b"\n"


# ---- the child ---------------------------------------------------------------------------


def main() -> None:
    """The child: read the settings line, then parse and dispatch until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the agent, which stops us
    with contextlib.suppress(OSError):  # not every platform has it
        os.nice(NICE)
    line = sys.stdin.buffer.readline()
    if not line:
        return
    settings = Settings(**json.loads(line))
    from server.logs import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_run(settings))


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
    loop = asyncio.get_running_loop()
    wake, closed = asyncio.Event(), asyncio.Event()
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)

    def readable() -> None:
        try:
            data = os.read(stdin, 4096)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(stdin)
            closed.set()
        wake.set()

    loop.add_reader(stdin, readable)
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
