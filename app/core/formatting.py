"""Turning API values into short, readable text (Qt-free, shared by every view)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def parse_timestamp(value: object) -> dt.datetime | None:
    """An aware datetime from the API's ISO-8601 text (``Z`` or offset), else None."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_timestamp(value: object) -> str:
    """Local time, to the second; empty for missing values, the raw text if unparsable."""
    parsed = parse_timestamp(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_relative(value: object, now: dt.datetime | None = None) -> str:
    """``"3 min ago"`` / ``"in 2 h"``; "never" for missing values."""
    parsed = parse_timestamp(value)
    if parsed is None:
        return "never"
    seconds = ((now or dt.datetime.now(dt.UTC)) - parsed).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


def format_bytes(value: object) -> str:
    try:
        size = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def format_value(value: Any) -> str:
    """Generic cell text: lists joined, dicts counted, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return f"{{{len(value)} fields}}"
    return str(value)


def get_path(row: dict[str, Any], key: str) -> Any:
    """``row["a"]["b"]`` for ``"a.b"``; None where any step is missing."""
    current: Any = row
    for part in key.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current
