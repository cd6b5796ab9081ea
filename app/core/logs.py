"""Log queries and exports, Qt-free: what the logs viewer asks the agent and writes to disk."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_TYPES = ("info", "success", "warning", "error")
CSV_FIELDS = (
    "timestamp",
    "log_type",
    "operation",
    "instance_id",
    "instance",
    "message",
    "sync_id",
    "user_id",
    "details",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class LogFilter:
    """The viewer's filters, as `/logs` query parameters."""

    instance_id: str | None = None
    log_types: tuple[str, ...] = ()
    operation: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None

    def params(self) -> dict[str, object | None]:
        return {
            "instance_id": self.instance_id,
            "log_type": list(self.log_types) if self.log_types else None,
            "operation": (self.operation or "").strip() or None,
            "since": self.since,
            "until": self.until,
            "q": (self.text or "").strip() or None,
        }


def _cell(value: Any) -> str:
    """CSV cell text; neutralises spreadsheet formulas (log text comes from remote systems)."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(
    rows: Iterable[Mapping[str, Any]], path: Path, instance_names: Mapping[str, str] | None = None
) -> int:
    """Write log rows as CSV (details as JSON text); returns the number of rows."""
    names = instance_names or {}
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            values = {**row, "instance": names.get(str(row.get("instance_id")), "")}
            writer.writerow([_cell(values.get(field)) for field in CSV_FIELDS])
            count += 1
    return count


def write_json(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write log rows as a JSON array, exactly as the agent returned them."""
    data = [dict(row) for row in rows]
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return len(data)
