"""Selecting records out of a response body with JMESPath."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import jmespath
import jmespath.exceptions

from connectors.sdk.errors import ConfigError, DataError

__all__ = ["FieldPath", "RecordSelector", "compile_jmespath", "forget_json", "response_json"]

try:  # orjson decodes a page several times faster; json.loads remains the reference.
    import orjson

    _fast_loads: Any = orjson.loads
    _FastError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - depends on what is installed
    _fast_loads, _FastError = None, ValueError

_CACHE = "_simpletrust_json"


def response_json(response: httpx.Response) -> Any:
    """The decoded JSON body, decoded once per response (the client selects records from it
    and the paginator then reads its cursor from the same object: do not mutate it).

    Raises ValueError for a body that is not JSON, as ``httpx.Response.json`` does. orjson
    takes UTF-8 bodies it fully accepts; anything else (NaN, huge integers, lone surrogates,
    UTF-16) is left to ``json.loads``, so the result never differs from ``response.json()``.
    """
    cached = response.__dict__.get(_CACHE, _CACHE)
    if cached is not _CACHE:
        return cached
    content = response.content
    try:
        if _fast_loads is None:
            raise _FastError
        body = _fast_loads(content)
    except _FastError:
        body = json.loads(content)
    response.__dict__[_CACHE] = body
    return body


def forget_json(response: httpx.Response) -> None:
    """Drop the decoded body ``response_json`` kept (it is decoded again if asked for)."""
    response.__dict__.pop(_CACHE, None)


def compile_jmespath(expression: str, *, what: str = "expression") -> Any:
    """Compile ``expression`` or raise a :class:`ConfigError` that names it.

    The result has jmespath's ``search(value)``; a path of field names only is a
    :class:`FieldPath`, which searches as jmespath does.
    """
    try:
        compiled = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ConfigError(f"Invalid JMESPath {what} {expression!r}: {exc}.") from exc
    names = _field_names(compiled.parsed)
    return FieldPath(expression, names) if names else compiled


def _field_names(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``("data", "items")`` for ``data.items`` (also quoted names); None for anything else."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        names: tuple[str, ...] = ()
        for child in node["children"]:
            more = _field_names(child)
            if more is None:
                return None
            names += more
        return names
    return None


class FieldPath:
    """A JMESPath expression of field names (``items``, ``data.items``), searched as
    jmespath's interpreter searches it (each step ``value.get(name)``, None when the value
    has no ``get``), without the interpreter it builds per search and its visitor dispatch:
    the record selector and the cursor path search every page."""

    __slots__ = ("expression", "names")

    def __init__(self, expression: str, names: tuple[str, ...]) -> None:
        self.expression = expression
        self.names = names

    def search(self, value: Any) -> Any:
        for name in self.names:
            try:
                value = value.get(name)
            except AttributeError:
                return None
        return value


class RecordSelector:
    """Turn a decoded body into a list of records (objects).

    ``RecordSelector("data.items")`` picks ``body["data"]["items"]``; ``RecordSelector(None)``
    takes a list body as is and a single object as one record.

    >>> RecordSelector("data[*]").select({"data": [{"id": 1}]})
    [{'id': 1}]
    """

    def __init__(self, expression: str | None = None) -> None:
        self.expression = expression
        self._compiled = (
            compile_jmespath(expression, what="record selector") if expression else None
        )

    def select(self, body: Any) -> list[dict[str, Any]]:
        found = self._compiled.search(body) if self._compiled is not None else body
        if found is None:
            return []
        if isinstance(found, dict):
            return [found]
        if not isinstance(found, list):
            raise DataError(
                f"The record selector {self.expression!r} found a {type(found).__name__}, "
                "not a list of objects.",
                hint="Point the record selector at the list of records in the response.",
            )
        bad = [i for i, item in enumerate(found) if not isinstance(item, dict)]
        if bad:
            raise DataError(
                f"The record selector {self.expression!r} found non-object items "
                f"(first at index {bad[0]}).",
                hint="Point the record selector at a list of objects.",
            )
        return found
