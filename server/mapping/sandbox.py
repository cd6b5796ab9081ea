"""Rejects mapping text that tries to reach Python internals.

The engine never evaluates Python: paths are walked with ``dict``/``list`` lookups only and
expressions are JMESPath, which queries JSON data and has no attribute access. This check is
defence in depth and a clear signal to whoever wrote the payload: any string in a mapping (paths,
JMESPath expressions, function arguments, nested steps) naming a dunder (``__import__``,
``__class__``, ``__globals__``) or a frame/code attribute is refused as invalid, never run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_UNSAFE = re.compile(
    r"__[A-Za-z_][A-Za-z0-9_]*__"  # dunder names: __import__, __class__, __subclasses__ ...
    r"|__[A-Za-z_][A-Za-z0-9_]*\s*\("  # private callables: __foo(
    r"|\b(?:f_globals|f_locals|f_builtins|gi_frame|gi_code|cr_frame|co_code|func_globals"
    r"|tb_frame)\b"
    r"|\.\s*mro\s*\(",
)


def find_unsafe(text: str) -> str | None:
    """The first unsafe token in ``text``, or None when the text is acceptable."""
    match = _UNSAFE.search(text)
    return match.group(0) if match else None


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield where, str(key)
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def scan(value: Any, where: str = "") -> tuple[str, str] | None:
    """Walk any JSON value; return ``(location, token)`` of the first unsafe string, if any."""
    for location, text in _strings(value, where):
        token = find_unsafe(text)
        if token is not None:
            return location, token
    return None
