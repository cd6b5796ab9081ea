"""A structural diff of two snapshots: each changed path with its old and new value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class Change:
    path: str
    change: str  # added, removed, changed
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "before": self.before,
                "after": self.after}


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def diff(before: Any, after: Any, path: str = "") -> list[Change]:
    """Changes from ``before`` to ``after``; lists of equal length are compared item by item.

    >>> [c.path for c in diff({"a": 1, "b": [1, 2]}, {"a": 2, "b": [1, 3], "c": 0})]
    ['a', 'b[1]', 'c']
    """
    if before is _MISSING:
        return [Change(path, "added", None, after)]
    if after is _MISSING:
        return [Change(path, "removed", before, None)]
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            changes += diff(before.get(key, _MISSING), after.get(key, _MISSING),
                            _join(path, str(key)))
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            changes += diff(old, new, _join(path, index))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [Change(path or "(root)", "changed", before, after)]
