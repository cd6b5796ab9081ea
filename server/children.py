"""Child processes of the agent: started with its settings, restarted, stopped with it.

The webhook parser (:mod:`server.events.parser_process`) and the sync workers
(:mod:`server.agents.workers`) each run in an interpreter of their own so the agent uses more
than one core. Both need the same care, kept here once: a thread of the agent starts
``python -m MODULE`` and writes one start line (the agent's settings, and what else the child
needs) to its stdin; when the child dies it is restarted, waiting ``RESTART_DELAY`` doubling up
to ``MAX_DELAY`` while it keeps failing; after ``GIVE_UP`` failed starts in a row the agent
stops trying and does the work itself. The child stops when its stdin closes, which happens
when the agent stops or dies, so no child outlives its agent.
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
from typing import IO, Any

from server.config import Settings

log = logging.getLogger(__name__)

#: Restarts wait this long, doubling up to ``MAX_DELAY``.
RESTART_DELAY = 1.0
MAX_DELAY = 30.0
#: A child that exits within ``QUICK_EXIT`` seconds of its start failed to start; after
#: ``GIVE_UP`` such starts in a row the agent stops restarting it.
QUICK_EXIT = 10.0
GIVE_UP = 3


def start_line(settings: Settings, **extra: Any) -> bytes:
    """The child's start line: the agent's settings (no SMTP password: children send no
    mail) and ``extra``."""
    data = settings.model_dump(mode="json", exclude={"smtp_password"})
    return json.dumps({"settings": data, **extra}).encode() + b"\n"


class ChildProcess:
    """One supervised child, run from a thread of the agent.

    ``on_output`` (optional) is called for every chunk the child writes to its stdout (wake-up
    bytes); ``on_give_up`` when the child failed to start ``GIVE_UP`` times in a row.
    """

    def __init__(self, module: str, label: str, line: bytes, *, fallback: str,
                 on_give_up: Callable[[], None] | None = None,
                 on_output: Callable[[], None] | None = None) -> None:
        self.module, self.label, self.line, self.fallback = module, label, line, fallback
        self.on_give_up = on_give_up
        self.on_output = on_output
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards _stdin: write() runs on the event loop
        self._stdin: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=self.label, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Ask the child to stop (its stdin closes) and stop restarting it; see :meth:`wait`."""
        self._stopping.set()
        self._close_stdin()

    def wait(self, timeout: float) -> None:
        """Wait for a closed child to exit; kill it if it takes longer than ``timeout``."""
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killed", self.label, timeout)
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        self.close()
        self.wait(timeout)

    def write(self, data: bytes) -> None:
        """Send the running child ``data`` without blocking (dropped when its pipe is full or
        it is not running: the pipe carries wake-ups, and a restarted child polls anyway)."""
        with self._lock:
            if self._stdin is None:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._stdin.fileno(), data)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _supervise(self) -> None:
        delay, quick = RESTART_DELAY, 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set():
                return
            quick = quick + 1 if time.monotonic() - started < QUICK_EXIT else 0
            if quick >= GIVE_UP:
                log.error("%s failed to start %d times (exit status %s); %s", self.label,
                          quick, code, self.fallback)
                if self.on_give_up is not None:
                    self.on_give_up()
                return
            log.error("%s exited with status %s; restarting it in %.0f s", self.label, code,
                      delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_DELAY) if quick else RESTART_DELAY

    def _run_once(self) -> int:
        proc = subprocess.Popen(  # noqa: S603 - our own module, named by the agent's code
            [sys.executable, "-m", self.module], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if self.on_output is not None else None, close_fds=True)
        assert proc.stdin is not None
        self._proc = proc
        try:
            proc.stdin.write(self.line)
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: its exit status says why
        os.set_blocking(proc.stdin.fileno(), False)
        with self._lock:
            self._stdin = proc.stdin
        if self._stopping.is_set():  # close() ran while we were starting it
            self._close_stdin()
        if proc.stdout is not None:
            while os.read(proc.stdout.fileno(), 4096):
                assert self.on_output is not None
                self.on_output()
            proc.stdout.close()
        code = proc.wait()
        self._close_stdin()
        return code

    def _close_stdin(self) -> None:
        with self._lock:
            stdin, self._stdin = self._stdin, None
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()


# ---- in the child ------------------------------------------------------------------------


def read_start() -> tuple[Settings, dict[str, Any]] | None:
    """The child's side of :func:`start_line`: its settings and the rest, with logging set
    up; None when stdin closed first. Ctrl-C is ignored: it stops the agent, which stops us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.buffer.readline()
    if not line:
        return None
    start = json.loads(line)
    settings = Settings(**start.pop("settings"))
    from server.logs import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    return settings, start


def stdin_closed(on_data: Callable[[], None] | None = None) -> asyncio.Event:
    """An event set when stdin closes (the agent stopped or died) or on SIGTERM;
    ``on_data`` runs for every chunk read from stdin before that."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
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
        if on_data is not None:
            on_data()

    loop.add_reader(stdin, readable)
    loop.add_signal_handler(signal.SIGTERM, closed.set)
    return closed
