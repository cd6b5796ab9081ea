"""Field paths into JSON records, parsed once and compiled to fast getters and setters.

Syntax (source paths)::

    name                 top-level key
    profile.email        nested key
    emails[0].value      list index (negative counts from the end: [-1] is the last)
    emails[*].value      wildcard: every element (or every value of an object)
    labels["app.kubernetes.io/name"]   quoted key (for keys with dots or brackets)
    $                    the whole record

A missing key, an index out of range or a type mismatch on the way yields ``None`` (never an
exception). A path with wildcards yields a flat list: nested wildcards are flattened into one
list, and missing values are skipped. Target paths are plain dotted keys (``owner.email``).

Lookups use ``dict.get`` and list indexing only -- never ``getattr`` -- so a path cannot reach
Python attributes whatever it contains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.mapping.sandbox import find_unsafe

Getter = Callable[[Any], Any]

ROOT = "$"
_KEY, _INDEX, _WILD = 0, 1, 2
_TOKEN = re.compile(
    r"""
    \[\s*(?P<index>-?\d+)\s*\]
  | \[\s*(?P<wild>\*)\s*\]
  | \[\s*(?P<quote>["'])(?P<qkey>(?:\\.|(?!(?P=quote)).)*)(?P=quote)\s*\]
  | (?P<key>[^.\[\]"']+)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)


class PathError(ValueError):
    """A path that does not parse; the message says where."""


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path: a tuple of ``(kind, arg)`` operations."""

    text: str
    ops: tuple[tuple[int, Any], ...]

    @property
    def has_wildcard(self) -> bool:
        return any(kind == _WILD for kind, _ in self.ops)

    @property
    def is_plain_keys(self) -> bool:
        return all(kind == _KEY for kind, _ in self.ops)

    def keys(self) -> tuple[str, ...]:
        """The keys of a plain dotted path (target paths); raises PathError otherwise."""
        if not self.is_plain_keys or not self.ops:
            raise PathError(f"'{self.text}': a target path is dotted keys only (no [..] or $)")
        return tuple(str(arg) for _, arg in self.ops)

    def schema_steps(self) -> tuple[tuple[str, Any], ...]:
        """Operations as ``("key", name)`` / ``("item", None)`` for walking a JSON Schema."""
        return tuple(("key", arg) if kind == _KEY else ("item", None) for kind, arg in self.ops)


def parse_path(text: str) -> Path:
    """Parse a path; raise PathError naming the problem (never returns a partial path)."""
    if not isinstance(text, str):
        raise PathError(f"a path must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise PathError("the path is empty")
    unsafe = find_unsafe(stripped)
    if unsafe is not None:
        raise PathError(f"'{stripped}': '{unsafe}' is not allowed in a path")
    if stripped == ROOT:
        return Path(ROOT, ())
    body = stripped[2:] if stripped.startswith("$.") else stripped
    ops: list[tuple[int, Any]] = []
    pos = 0
    expect_segment = True  # at start or right after a dot
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if match is None:
            raise PathError(f"'{stripped}': unexpected character at position {pos + 1}")
        if match.group("dot") is not None:
            if expect_segment:
                raise PathError(f"'{stripped}': empty segment at position {pos + 1}")
            expect_segment = True
        elif match.group("key") is not None:
            if not expect_segment:
                raise PathError(f"'{stripped}': missing '.' before position {pos + 1}")
            ops.append((_KEY, match.group("key")))
            expect_segment = False
        elif expect_segment and ops:
            raise PathError(f"'{stripped}': '[' cannot follow '.' (position {pos + 1})")
        elif match.group("index") is not None:
            ops.append((_INDEX, int(match.group("index"))))
            expect_segment = False
        elif match.group("wild") is not None:
            ops.append((_WILD, None))
            expect_segment = False
        else:
            raw = match.group("qkey")
            ops.append((_KEY, re.sub(r"\\(.)", r"\1", raw)))
            expect_segment = False
        pos = match.end()
    if expect_segment:
        raise PathError(f"'{stripped}': the path ends with '.'")
    return Path(stripped, tuple(ops))


def compile_getter(path: Path) -> Getter:
    """A function ``record -> value`` for the path (specialised for the common shapes)."""
    ops = path.ops
    if not ops:
        return _identity
    if path.has_wildcard:
        return _projection(ops)
    if path.is_plain_keys:
        keys = tuple(arg for _, arg in ops)
        if len(keys) == 1:
            (k,) = keys
            return lambda r: r.get(k) if isinstance(r, dict) else None
        if len(keys) == 2:
            k1, k2 = keys

            def get2(r: Any) -> Any:
                v = r.get(k1) if isinstance(r, dict) else None
                return v.get(k2) if isinstance(v, dict) else None

            return get2

        def get_keys(r: Any) -> Any:
            v = r
            for k in keys:
                if not isinstance(v, dict):
                    return None
                v = v.get(k)
            return v

        return get_keys

    def get_mixed(r: Any) -> Any:
        v = r
        for kind, arg in ops:
            v = _step(v, kind, arg)
            if v is None:
                return None
        return v

    return get_mixed


def _identity(r: Any) -> Any:
    return r


def _step(v: Any, kind: int, arg: Any) -> Any:
    if kind == _KEY:
        return v.get(arg) if isinstance(v, dict) else None
    if isinstance(v, list) and -len(v) <= arg < len(v):
        return v[arg]
    return None


def _projection(ops: tuple[tuple[int, Any], ...]) -> Getter:
    def get_all(r: Any) -> list[Any]:
        values: list[Any] = [r]
        for kind, arg in ops:
            nxt: list[Any] = []
            if kind == _WILD:
                for v in values:
                    if isinstance(v, list):
                        nxt.extend(x for x in v if x is not None)
                    elif isinstance(v, dict):
                        nxt.extend(x for x in v.values() if x is not None)
            else:
                for v in values:
                    x = _step(v, kind, arg)
                    if x is not None:
                        nxt.append(x)
            values = nxt
            if not values:
                break
        return values

    return get_all


Setter = Callable[[dict[str, Any], Any], None]


def compile_setter(keys: tuple[str, ...]) -> Setter:
    """A function ``(output, value) -> None`` writing at a dotted target path."""
    if len(keys) == 1:
        (k,) = keys

        def set1(out: dict[str, Any], value: Any) -> None:
            out[k] = value

        return set1
    parents, last = keys[:-1], keys[-1]

    def set_nested(out: dict[str, Any], value: Any) -> None:
        node = out
        for k in parents:
            child = node.get(k)
            if type(child) is not dict:
                child = {}
                node[k] = child
            node = child
        node[last] = value

    return set_nested
