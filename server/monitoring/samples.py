"""Raw measurements, recorded while syncs run: one row per HTTP attempt, one per sync.

The connector's HTTP client reports every attempt to ``ConnectorContext.metrics``; the
:class:`SampleRecorder` listens there (on the event loop) and hands the rows to the engine,
which writes them in the same transaction as the batch or the sync's end, so a sync that is
resumed neither loses nor repeats its samples.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import threading
import uuid
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from connectors.sdk.http.metrics import HttpMetrics, RequestMetric
from server.db import binary_copy
from server.db.models import MetricSample, SampleKind, SyncExecution, SyncStatus
from server.db.types import utcnow


def category_of(metric: RequestMetric) -> str | None:
    """The error class of one attempt, as the SDK would classify it (None: no error)."""
    status = metric.status
    if metric.error is not None:
        return "transient"
    if metric.throttled or status == 429:
        return "rate_limited"
    if status is None or status < 400:
        return None
    if status in (401, 403):
        return "auth"
    return "remote"


class _RandomIds:
    """Version-4 UUIDs as ``uuid.uuid4()`` makes them, from ``os.urandom`` bytes fetched 4 KiB
    at a time: ``uuid4`` makes a system call per id, and there is a sample row per HTTP
    request of every sync (issue 6)."""

    _POOL = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)  # a child must not repeat our ids

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            at = self._at
            if at + 16 > len(self._pool):
                self._pool, at = os.urandom(self._POOL), 0
            self._at = at + 16
            chunk = self._pool[at:at + 16]
        if not _FAST_UUIDS:  # pragma: no cover - depends on the Python version
            return uuid.UUID(bytes=chunk, version=4)
        return _version_4(chunk)


#: What ``uuid.UUID(bytes=..., version=4)`` does to the number: variant RFC 4122, version 4.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (4 << 76)
_new = object.__new__
_set = object.__setattr__


def _version_4(chunk: bytes) -> uuid.UUID:
    """``uuid.UUID(bytes=chunk, version=4)`` without its argument checks and conversions
    (the two attributes it sets, set the same way): half of a request sample's id."""
    made = _new(uuid.UUID)
    _set(made, "int", int.from_bytes(chunk, "big") & _CLEAR | _SET)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def _fast_uuids_work() -> bool:
    """Whether :func:`_version_4` makes what ``uuid.UUID`` makes (else it is not used)."""
    try:
        for chunk in (bytes(16), b"\xff" * 16, os.urandom(16)):
            slow, fast = uuid.UUID(bytes=chunk, version=4), _version_4(chunk)
            if (fast != slow or str(fast) != str(slow) or hash(fast) != hash(slow)
                    or fast.is_safe != slow.is_safe or fast.version != 4
                    or fast.variant != slow.variant):
                return False  # pragma: no cover - depends on the Python version
    except (AttributeError, TypeError):  # pragma: no cover - depends on the Python version
        return False
    return True


_FAST_UUIDS = _fast_uuids_work()
_random_id = _RandomIds()


def request_row(instance_id: uuid.UUID, sync_id: uuid.UUID | None,
                metric: RequestMetric) -> dict[str, Any]:
    status = metric.status
    server_failed = status is not None and status >= 500 and not metric.throttled
    return {
        "id": _random_id(), "instance_id": instance_id, "sync_id": sync_id,
        "kind": SampleKind.REQUEST, "recorded_at": utcnow(),
        "duration_ms": round(metric.latency_s * 1000, 3),
        "ok": metric.error is None and status is not None and status < 400,
        "unavailable": metric.error is not None or server_failed,
        "throttled": metric.throttled, "status_code": status,
        "bytes_sent": metric.bytes_sent, "bytes_received": metric.bytes_received,
        "records": 0, "error_category": category_of(metric),
    }


class SampleRecorder:
    """Collects one sync's HTTP attempts until the engine writes them (see :meth:`take`)."""

    def __init__(self, instance_id: uuid.UUID, sync_id: uuid.UUID | None) -> None:
        self.instance_id = instance_id
        self.sync_id = sync_id
        self._rows: list[dict[str, Any]] = []

    def attach(self, metrics: HttpMetrics) -> None:
        if self.observe not in metrics.listeners:
            metrics.listeners.append(self.observe)

    def observe(self, metric: RequestMetric) -> None:
        self._rows.append(request_row(self.instance_id, self.sync_id, metric))

    def take(self) -> list[dict[str, Any]]:
        """The rows so far (call on the event loop; the list is swapped, not copied)."""
        rows, self._rows = self._rows, []
        return rows


#: Every column of a sample row, in the order the PostgreSQL ``COPY`` writes them.
COLUMNS = ("id", "instance_id", "sync_id", "kind", "recorded_at", "duration_ms", "ok",
           "unavailable", "throttled", "status_code", "bytes_sent", "bytes_received", "records",
           "error_category")
_COPY = f"COPY metric_samples ({', '.join(COLUMNS)}) FROM STDIN"
_ALL = frozenset(COLUMNS)


def write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert sample rows (one per HTTP attempt), in the session's transaction.

    On PostgreSQL one ``COPY`` whose lines are written here: a Core insert adapted 14 values
    per row through SQLAlchemy's bind processing, ~40 us a row, one row per request of every
    sync (issue 6). Elsewhere, or for rows without every column, a Core insert.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or not all(
            row.keys() >= _ALL for row in rows):
        session.connection().execute(insert(cast(Table, MetricSample.__table__)), rows)
        return
    payload = _copy_binary(rows)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    if payload is None:  # a value of a type the binary rows do not expect: as text
        with cursor.copy(_COPY) as copy:
            copy.write(_copy_text(rows).encode())
        return
    with cursor.copy(_COPY_BINARY) as copy:
        copy.write(payload)


_COPY_BINARY = f"{_COPY} (FORMAT BINARY)"
_values = itemgetter(*COLUMNS)
#: A row's field count (14) and its id's length (16).
_ROW_HEAD = b"\x00\x0e\x00\x00\x00\x10"
#: recorded_at (int8 microseconds since 2000-01-01 UTC), duration_ms (float8), ok,
#: unavailable, throttled (bool), each after its length.
_MIDDLE = struct.Struct("!iqidi?i?i?").pack
_INT4 = struct.Struct("!ii").pack
_THREE_INT4 = struct.Struct("!iiiiii").pack


def _binary_shared(instance: Any, sync: Any, kind: Any) -> bytes | None:
    """The fields a batch's rows share (ids, kind); None if one's type is not expected."""
    fields = []
    for value in (instance, sync):
        if value is None:
            fields.append(binary_copy.NULL)
        elif type(value) is uuid.UUID:
            fields.append(binary_copy.uuid_field(value))
        else:
            return None
    if type(kind) is not SampleKind and type(kind) is not str:
        return None
    fields.append(binary_copy.text(str(kind)))
    return b"".join(fields)


def _copy_binary(rows: list[dict[str, Any]]) -> bytes | None:
    """The rows in binary COPY format (what :func:`_copy_text` writes, as PostgreSQL reads
    it: ~3 us of Python a row where the text lines took ~9 us, one row per request of every
    sync, written at its end). None if a value is not of the type each column expects
    (:func:`_copy_text` then writes them as before, errors and all)."""
    shared: dict[tuple[Any, Any, Any], bytes] = {}
    parts = [binary_copy.HEADER]
    append = parts.append
    middle, int4, three = _MIDDLE, _INT4, _THREE_INT4
    micros, text, null = binary_copy.micros, binary_copy.text, binary_copy.NULL
    try:
        for row in rows:
            (id_, instance, sync, kind, at, duration, ok, unavailable, throttled, status,
             sent, received, records, category) = _values(row)
            key = (instance, sync, kind)
            same = shared.get(key)
            if same is None:
                made = _binary_shared(instance, sync, kind)
                if made is None:
                    return None
                same = shared[key] = made
            if (type(id_) is not uuid.UUID or type(at) is not dt.datetime
                    or type(duration) is not float or type(ok) is not bool
                    or type(unavailable) is not bool or type(throttled) is not bool
                    or type(sent) is not int or type(received) is not int
                    or type(records) is not int):
                return None
            if status is None:
                code = null
            elif type(status) is int:
                code = int4(4, status)
            else:
                return None
            if category is None:
                tail = null
            elif type(category) is str:
                tail = text(category)
            else:
                return None
            append(b"".join((
                _ROW_HEAD, id_.bytes, same,
                middle(8, micros(at), 8, duration, 1, ok, 1, unavailable, 1, throttled),
                code, three(4, sent, 4, received, 4, records), tail)))
    except (struct.error, OverflowError, TypeError):  # out of int4 range, unhashable: as
        return None  # text, which PostgreSQL refuses or reads as before
    append(binary_copy.TRAILER)
    return b"".join(parts)


def _copy_text(rows: list[dict[str, Any]]) -> str:
    """The COPY lines of ``rows``: :func:`_copy_value` of each column, with the values a
    batch repeats (its instance's and sync's ids, the kind) made text once per batch and
    the plain numbers and booleans written directly (14 calls a row were most of it)."""
    seen: dict[Any, str] = {}
    lines = []
    for row in rows:
        fields = []
        for column in COLUMNS:
            value = row[column]
            kind = type(value)
            if value is None:
                fields.append("\\N")
            elif kind is bool:
                fields.append("t" if value else "f")
            elif kind is int or kind is float:  # digits, sign, point, "e", "inf", "nan"
                fields.append(str(value))
            elif kind is uuid.UUID or kind is SampleKind:
                text = seen.get(value)
                if text is None:
                    text = seen[value] = _copy_value(value)
                fields.append(text)
            elif kind is dt.datetime and value.tzinfo is not None:
                fields.append(value.isoformat())
            else:
                fields.append(_copy_value(value))
        lines.append("\t".join(fields))
    lines.append("")
    return "\n".join(lines)


def _copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a metric sample; attach a time zone")
        return value.isoformat()
    text = str(value)  # uuids, numbers (float: shortest repr, read back exactly), enums
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def sync_row(execution: SyncExecution, error: dict[str, Any] | None) -> dict[str, Any]:
    """The sample of a finished sync: its duration, outcome and records processed."""
    end = execution.end_time or utcnow()
    duration = max(0.0, (end - execution.start_time).total_seconds() * 1000)
    return {
        "id": uuid.uuid4(), "instance_id": execution.instance_id, "sync_id": execution.id,
        "kind": SampleKind.SYNC, "recorded_at": end, "duration_ms": round(duration, 3),
        "ok": execution.status == SyncStatus.COMPLETED, "unavailable": False,
        "throttled": False, "status_code": None, "bytes_sent": 0, "bytes_received": 0,
        "records": execution.records_processed or 0,
        "error_category": (error or {}).get("category")
        if execution.status == SyncStatus.FAILED else None,
    }
