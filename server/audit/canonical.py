"""The canonical serialisation the hash chain and the signatures are computed over.

An entry's hash is ``sha256(canonical_json(payload))`` where the payload holds every column of
the entry except ``entry_hash`` itself, with ``details`` as its stored canonical JSON text and
the time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Canonical JSON is Python's
``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` (ASCII only, so
any language reproduces the bytes). The first entry's ``prev_hash`` is 64 zeros.

Worked example (the hash of a one-entry chain)::

    >>> payload = entry_payload(seq=1, time="2026-01-01T00:00:00.000000Z", actor="alice",
    ...     action="instance.create", object_type="instance", object_id="42",
    ...     before_hash=None, after_hash=None, details="{}", prev_hash=GENESIS)
    >>> len(entry_hash(payload))
    64
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

GENESIS = "0" * 64
FORMAT_VERSION = 1


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _json_safe(value: Any) -> Any:
    """Plain JSON values: ids and times become strings, NaN and infinities become text."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return format_time(value)
    return str(getattr(value, "value", value))


def canonical_details(details: dict[str, Any] | None) -> str:
    return canonical_json(_json_safe(details or {}))


def format_time(value: dt.datetime) -> str:
    """Microsecond UTC time, the form both databases give back unchanged."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def entry_payload(
    *, seq: int, time: str, actor: str, action: str, object_type: str, object_id: str | None,
    before_hash: str | None, after_hash: str | None, details: str, prev_hash: str,
) -> dict[str, Any]:
    return {"v": FORMAT_VERSION, "seq": seq, "time": time, "actor": actor, "action": action,
            "object_type": object_type, "object_id": object_id, "before_hash": before_hash,
            "after_hash": after_hash, "details": details, "prev_hash": prev_hash}


def entry_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


def content_hash(value: Any) -> str:
    """The hash of a configuration snapshot (before/after hashes, revisions)."""
    return hashlib.sha256(canonical_json(_json_safe(value)).encode("ascii")).hexdigest()


def checkpoint_message(seq: int, entry_hash_: str, time: str) -> bytes:
    """The bytes a checkpoint signs."""
    return canonical_json({"v": FORMAT_VERSION, "kind": "simpletrust-audit-checkpoint",
                           "seq": seq, "entry_hash": entry_hash_, "time": time}).encode("ascii")
