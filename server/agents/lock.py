"""On SQLite one agent at a time: an OS file lock beside the database file.

SQLite has no row locks to share work with; a second agent on the same file would run every
schedule twice. The lock is advisory (``flock``) and released by the OS when the process dies,
so a killed agent never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AgentLockError(Exception):
    """Another agent holds the database; the message says which file and what to do."""


class SingleAgentLock:
    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".agent.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AgentLockError(
                f"another agent (pid {holder}) is already running on the SQLite database "
                f"{self.path.with_suffix('').with_suffix('')}; SQLite allows one agent. Stop "
                "it, or move every agent to one PostgreSQL database (SIMPLETRUST_DATABASE_URL)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SingleAgentLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
