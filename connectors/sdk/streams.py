"""Streams: the named, typed collections of records a connector reads.

An author writes one async generator per stream, :meth:`Stream.read_records`; the SDK turns it
into records plus checkpoints, filters out what an incremental state says was already read,
and keeps exactly-once semantics at the cursor boundary::

    class Users(Stream):
        name = "users"
        json_schema = {"type": "object", "properties": {"id": {"type": "integer"},
                       "updated_at": {"type": "string"}}}
        primary_key = ("id",)
        cursor_field = "updated_at"

        def __init__(self, http: HttpClient) -> None:
            self.http = http

        async def read_records(self, cursor):
            params = {"updated_since": cursor} if cursor else {}
            async for page in self.http.paginate("/users", params=params):
                for record in page.records:
                    yield record

Incremental state is ``{"cursor": <greatest cursor value>, "boundary_keys": [<primary keys of
the records at that value>]}``. Keeping the keys at the boundary lets an API whose filter is
inclusive (``>=``) be re-read without duplicates, and one that is exclusive without losses
when several records share the greatest value.
"""

from __future__ import annotations

import enum
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.errors import ConfigError
from connectors.sdk.messages import ReadMessage, RecordMessage, StateMessage

__all__ = ["Stream", "StreamDescriptor", "SyncMode", "cursor_sort_key", "get_path"]

MAX_BOUNDARY_KEYS = 1000


class SyncMode(enum.StrEnum):
    FULL_REFRESH = "full_refresh"
    INCREMENTAL = "incremental"


@dataclass(frozen=True)
class StreamDescriptor:
    """What ``discover`` returns for one stream (the registry's ``/schema`` shows these)."""

    name: str
    json_schema: dict[str, Any]
    primary_key: tuple[str, ...]
    cursor_field: str | None
    sync_modes: tuple[SyncMode, ...]
    detects_deletions: bool
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "json_schema": self.json_schema,
            "primary_key": list(self.primary_key),
            "cursor_field": self.cursor_field,
            "sync_modes": [m.value for m in self.sync_modes],
            "detects_deletions": self.detects_deletions,
        }


def cursor_sort_key(value: Any) -> tuple[int, Any]:
    """Order cursor values: numbers numerically, ISO timestamps as instants, else as text.

    ``"2024-01-02T00:00:00Z"`` and ``"2024-01-02T00:00:00+00:00"`` compare equal.
    """
    kind = type(value)
    if kind is str:  # the usual ISO timestamp, before the checks below
        return _text_sort_key(value)
    if kind is int:
        return (0, value)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return _text_sort_key(value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def _text_sort_key(value: str) -> tuple[int, Any]:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return (2, value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # naive timestamps are taken as UTC
    return (1, parsed.timestamp())


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``get_path({"a": {"b": 1}}, "a.b") == 1``; missing parts give None."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


class Stream(ABC):
    """A stream of records. Set the class attributes, implement :meth:`read_records`.

    Attributes:
        name: unique within the connector.
        json_schema: JSON Schema of one record.
        primary_key: field paths that identify a record (``("id",)``); may be empty.
        cursor_field: field path whose value only grows as records change; enables
            incremental reads.
        detects_deletions: a full refresh returns every live record, so absence means deleted.
        is_sorted: records arrive in ascending cursor order, so it is safe to checkpoint
            mid-stream (otherwise state is emitted only at the end).
        checkpoint_interval: records between checkpoints when ``is_sorted``.
    """

    name: str
    json_schema: dict[str, Any]
    description: str = ""
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    detects_deletions: bool = False
    is_sorted: bool = False
    checkpoint_interval: int = 1000

    @property
    def sync_modes(self) -> tuple[SyncMode, ...]:
        if self.cursor_field:
            return (SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL)
        return (SyncMode.FULL_REFRESH,)

    def descriptor(self) -> StreamDescriptor:
        return StreamDescriptor(
            name=self.name,
            json_schema=self.json_schema,
            primary_key=tuple(self.primary_key),
            cursor_field=self.cursor_field,
            sync_modes=self.sync_modes,
            detects_deletions=self.detects_deletions,
            description=self.description,
        )

    @abstractmethod
    def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        """Yield records. ``cursor`` is the greatest cursor value already read (incremental),
        or None for a full read; use it to ask the API for newer records only. The SDK drops
        records at or before it that were already read, so an inclusive filter is fine."""

    def read_pages(self, cursor: Any | None) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        """Optional: the same records as :meth:`read_records`, a page (list) at a time.

        :meth:`read` uses it when a stream overrides it: one async step per page instead of
        per record (each costs about a microsecond; a sync reads millions of records). The
        records' dicts are handed on as they are, not copied: a page must hold dicts that
        the stream neither keeps nor reuses (decoded JSON does).
        """
        raise NotImplementedError  # pragma: no cover - read() calls it only when overridden

    def record_key(self, record: Mapping[str, Any]) -> str:
        """A stable identity for ``record``: its primary key, or a hash of its content."""
        if self.primary_key:
            return _key_json([get_path(record, p) for p in self.primary_key])
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:32]

    def _mode(self, sync_mode: SyncMode | None) -> SyncMode:
        mode = sync_mode or (
            SyncMode.INCREMENTAL if SyncMode.INCREMENTAL in self.sync_modes else
            SyncMode.FULL_REFRESH
        )
        if mode not in self.sync_modes:
            raise ConfigError(
                f"Stream {self.name!r} does not support {mode.value} reads "
                f"(it supports: {', '.join(m.value for m in self.sync_modes)})."
            )
        return mode

    def _key_function(self) -> Callable[[Mapping[str, Any]], str]:
        """:meth:`record_key`, read directly for one top-level primary key field."""
        if type(self).record_key is not Stream.record_key or len(self.primary_key) != 1 or (
                "." in self.primary_key[0]):
            return self.record_key
        field = self.primary_key[0]

        def key_of(record: Mapping[str, Any]) -> str:
            value = record.get(field)
            if type(value) is str and value.isascii() and value.isprintable() and (
                    '"' not in value and "\\" not in value):
                return '["' + value + '"]'  # printable ASCII but " and \ is written as is
            if type(value) is int:
                return f"[{value}]"
            return _key_json([value])

        return key_of

    async def read(
        self, state: Mapping[str, Any] | None = None, sync_mode: SyncMode | None = None
    ) -> AsyncIterator[ReadMessage]:
        """Records and checkpoints. Override only for state that is not a record cursor
        (e.g. the files already imported); then emit your own :class:`StateMessage`s."""
        name = self.name
        async for item in self._read_runs(state, sync_mode):
            if isinstance(item, list):
                for record in item:
                    yield RecordMessage(name, record)
            else:
                yield item

    async def read_paged(
        self, state: Mapping[str, Any] | None = None, sync_mode: SyncMode | None = None
    ) -> AsyncIterator[list[dict[str, Any]] | ReadMessage]:
        """:meth:`read`, with the records of a stream that reads pages handed on a list at a
        time (a page, or its part between two checkpoints) instead of one message each.

        The same records, checkpoints and order as :meth:`read` (which it is, for a stream
        without :meth:`read_pages` or with its own ``read``). What the sync engine reads: a
        message and an async step per record cost a few microseconds. A list is the
        consumer's to read until it asks for the next item, never to change.
        """
        if type(self).read is not Stream.read or type(self).read_pages is Stream.read_pages:
            async for message in self.read(state, sync_mode):
                yield message
            return
        async for item in self._read_runs(state, sync_mode):
            yield item

    async def _dict_pages(self, cursor: Any | None) -> AsyncIterator[list[dict[str, Any]]]:
        """The records as lists of dicts: :meth:`read_pages`' pages when the stream reads
        pages, else each record of :meth:`read_records` (copied) on its own."""
        if type(self).read_pages is not Stream.read_pages:
            async for page in self.read_pages(cursor):
                if page:
                    yield _dicts(page)
        else:
            async for record in self.read_records(cursor):
                yield [dict(record)]

    async def _read_runs(
        self, state: Mapping[str, Any] | None, sync_mode: SyncMode | None
    ) -> AsyncIterator[list[dict[str, Any]] | StateMessage]:
        """What :meth:`read` and :meth:`read_paged` read: runs of records, each run followed
        by a checkpoint where one is due, records already read in an earlier run dropped."""
        incremental = self._mode(sync_mode) is SyncMode.INCREMENTAL
        saved = dict(state or {}).get("cursor") if incremental else None
        name = self.name
        if not self.cursor_field:  # no state to track: only records, then the empty state
            async for page in self._dict_pages(saved):
                yield page
            yield StateMessage(name, {})
            return
        boundary = set(dict(state or {}).get("boundary_keys") or []) if incremental else set()
        tracker = _CursorTracker(saved, boundary if saved is not None else set())
        count = 0
        cursor_field = self.cursor_field
        interval = self.checkpoint_interval if self.is_sorted else 0
        filtering = incremental and saved is not None
        saved_order = cursor_sort_key(saved) if filtering else None
        key_of = self._key_function()
        seen = tracker.seen
        async for page in self._dict_pages(saved):
            out: list[dict[str, Any]] = []
            for data in page:
                value = (data.get(cursor_field) if "." not in cursor_field
                         else get_path(data, cursor_field))
                key = key_of(data)
                if value is not None:
                    order = cursor_sort_key(value)
                    if filtering and (order < saved_order or (  # type: ignore[operator]
                            order == saved_order and key in boundary)):
                        continue  # read in an earlier run
                    seen(value, order, key)
                out.append(data)
                count += 1
                if interval and count % interval == 0:
                    yield out
                    out = []
                    yield StateMessage(name, tracker.state())
            if out:
                yield out
        yield StateMessage(name, tracker.state())


#: ``json.dumps(value, default=str)`` with its encoder made once, not per record.
_key_json = json.JSONEncoder(default=str).encode


def _dicts(page: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The page as a list of dicts: itself when it is one (the usual decoded JSON)."""
    if type(page) is list:
        for record in page:
            if type(record) is not dict:
                break
        else:
            return page
    return [record if type(record) is dict else dict(record) for record in page]


class _CursorTracker:
    """Greatest cursor value seen, and the keys of the records that carry it."""

    def __init__(self, cursor: Any | None, keys: set[str]) -> None:
        self.cursor = cursor
        self.order = None if cursor is None else cursor_sort_key(cursor)
        self.keys = set(keys)

    def seen(self, value: Any, order: tuple[int, Any], key: str) -> None:
        """A record with cursor ``value`` (not None), its ``cursor_sort_key`` and its key."""
        if self.order is None or order > self.order:
            self.cursor, self.order, self.keys = value, order, {key}
        elif order == self.order:
            self.keys.add(key)

    def state(self) -> dict[str, Any]:
        if self.cursor is None:
            return {}
        return {"cursor": self.cursor, "boundary_keys": sorted(self.keys)[:MAX_BOUNDARY_KEYS]}
