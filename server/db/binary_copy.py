"""PostgreSQL's binary ``COPY`` format: the pieces the agent's bulk writers share.

The evidence store (:mod:`server.sync.store`) and the request samples
(:mod:`server.monitoring.samples`) write their rows as binary COPY: PostgreSQL then parses
no text for ids, times and numbers. Each field is its length (int4) then its bytes; NULL is
length -1 (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format").
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid

#: The file's signature, flags and header extension length; its trailer; a NULL field.
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
#: A field's length (int4, network order).
length = struct.Struct("!i").pack
#: timestamptz counts microseconds from 2000-01-01 UTC.
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def text(value: str) -> bytes:
    """A text (or varchar) field."""
    encoded = value.encode()
    return length(len(encoded)) + encoded


def uuid_field(value: uuid.UUID) -> bytes:
    return b"\x00\x00\x00\x10" + value.bytes


def micros(value: dt.datetime) -> int:
    """An aware datetime as timestamptz's microseconds since :data:`EPOCH`."""
    if value.tzinfo is None:  # the model stores aware UTC times only (server.db.types)
        raise ValueError("naive datetime; attach a time zone")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamp(value: dt.datetime) -> bytes:
    """A timestamptz field."""
    return b"\x00\x00\x00\x08" + micros(value).to_bytes(8, "big", signed=True)
