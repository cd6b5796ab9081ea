"""One agent per SQLite file, and one per data directory: OS file locks.

SQLite has no row locks to share work with; a second agent on the same file would run every
schedule twice. A data directory holds an agent's identity (its id in the agents table), so
two agents sharing one would claim to be the same agent. The locks are advisory (``flock``)
and released by the OS when the process dies, so a killed agent never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AgentLockError(Exception):
    """Another agent holds the database; the message says which file and what to do."""


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def held_by(self, holder: str) -> str:
        raise NotImplementedError

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AgentLockError(self.held_by(holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> _FileLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class SingleAgentLock(_FileLock):
    """The SQLite database's lock: SQLite allows one agent."""

    def __init__(self, database_file: Path) -> None:
        super().__init__(database_file.with_name(database_file.name + ".agent.lock"))
        self.database_file = database_file

    def held_by(self, holder: str) -> str:
        return (f"another agent (pid {holder}) is already running on the SQLite database "
                f"{self.database_file}; SQLite allows one agent. Stop it, or move every agent "
                "to one PostgreSQL database (SIMPLETRUST_DATABASE_URL)")


class DataDirLock(_FileLock):
    """The data directory's lock: its agent id belongs to one running agent."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir / "agent.lock")
        self.data_dir = data_dir

    def held_by(self, holder: str) -> str:
        return (f"another agent (pid {holder}) is already running with the data directory "
                f"{self.data_dir}; each agent on a host needs its own data directory "
                "(SIMPLETRUST_DATA_DIR)")
