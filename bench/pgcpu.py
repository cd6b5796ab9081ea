"""CPU time PostgreSQL spends for one contender: its database's backends, read from /proc.

A contender whose own CPU is far below its wall time waits on something; on this machine that
is mostly PostgreSQL on the same two cores. A sampler thread lists the backends of the
contender's database (``pg_stat_activity``) five times a second and reads their CPU time
(``/proc/PID/stat``); per backend the last reading counts. A connection that lives less than a
sampling interval is missed, so the figure is a lower bound. Only possible when the server runs on
this machine and its processes are readable (as root here); otherwise the figure is ``None``.
Shared work (WAL writer, checkpointer) is not attributed to anyone.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

import psycopg

from bench import pg

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / TICK


class BackendCpu:
    """``with BackendCpu(server, database) as cpu: ...``; then ``cpu.seconds``."""

    def __init__(self, server: str, database: str, interval: float = 0.2) -> None:
        self.server, self.database, self.interval = server, database, interval
        self.seconds: float | None = None
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pg-cpu", daemon=True)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def __enter__(self) -> BackendCpu:
        if os.path.isdir("/proc/self") and self._local():
            try:
                self._conn = pg.admin_connect(self.server)
            except pg.BenchDatabaseError:
                self._conn = None
        if self._conn is not None:
            self._sample()
            self._start = dict(self._last)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._conn is None:
            return
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()
        self.seconds = sum(last - self._start.get(pid, 0.0) for pid, last in self._last.items())

    def _local(self) -> bool:
        return any(host in self.server for host in ("@127.0.0.1", "@localhost", "@[::1]"))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        assert self._conn is not None
        try:
            rows = self._conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                      (self.database,)).fetchall()
        except psycopg.Error:
            return
        for (pid,) in rows:
            if isinstance(pid, int) and pid != self._conn.info.backend_pid:
                seconds = process_cpu_seconds(pid)
                if seconds is not None:
                    self._last[pid] = max(seconds, self._last.get(pid, 0.0))
