"""Child processes read from /proc (Linux): the agent's parser child, for tests and benches."""

from __future__ import annotations

from pathlib import Path


def live_children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``, zombies (exited, not yet reaped) left out."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """The process ``pid`` exists and has not exited (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
