"""Reading CSV, JSON and NDJSON files into records, reporting bad rows instead of failing.

Every reader yields :class:`Row` (a record and the line it started on) or :class:`BadRow` (the
line, and why it was skipped). Nothing here raises on bad content: a broken file is one
``BadRow``; a broken line is one ``BadRow``, and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connectors.sdk.http.records import compile_jmespath

__all__ = [
    "BadRow",
    "Row",
    "convert_csv_value",
    "csv_column_types",
    "detect_delimiter",
    "detect_encoding",
    "format_for",
    "read_rows",
]

FileFormat = Literal["csv", "json", "ndjson"]
SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
_INT = re.compile(r"^-?(0|[1-9]\d*)$")
_FLOAT = re.compile(r"^-?(0|[1-9]\d*)?\.\d+([eE][-+]?\d+)?$|^-?(0|[1-9]\d*)[eE][-+]?\d+$")
_BOOL = {"true": True, "false": False}


@dataclass(frozen=True)
class Row:
    line: int
    record: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    line: int | None
    reason: str


def format_for(path: Path) -> FileFormat | None:
    """The format a file's extension implies (None if unsupported)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix == ".json":
        return "json"
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    return None


def detect_encoding(data: bytes) -> str:
    """BOM first; then UTF-8 if the bytes decode; then Windows-1252; then Latin-1.

    Windows-1252 is what spreadsheet exports on Windows produce; Latin-1 decodes anything.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def detect_delimiter(sample: str) -> str:
    """The CSV delimiter among ``, ; TAB |`` (comma if unsure)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: sample.split("\n", 1)[0].count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _header(names: list[str]) -> list[str]:
    """Blank column names get ``column_N``; repeated ones get a ``_2`` suffix."""
    out: list[str] = []
    for i, raw in enumerate(names, start=1):
        name = raw.strip() or f"column_{i}"
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name}_{n}"
        out.append(candidate)
    return out


def _csv_rows(text: str, delimiter: str) -> Iterator[Row | BadRow]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    last_line = 0
    while True:
        start = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield BadRow(start, f"unreadable CSV row ({exc})")
            continue
        last_line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line
        if header is None:
            header = _header(fields)
            continue
        if len(fields) != len(header):
            yield BadRow(start, f"has {len(fields)} fields, the header has {len(header)}")
            continue
        yield Row(start, dict(zip(header, fields, strict=True)))


def _ndjson_rows(text: str) -> Iterator[Row | BadRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield BadRow(number, f"invalid JSON ({_json_reason(exc)})")
            continue
        if not isinstance(value, dict):
            yield BadRow(number, f"is a JSON {type(value).__name__}, not an object")
            continue
        yield Row(number, value)


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"


def _json_rows(text: str, records_path: str | None) -> Iterator[Row | BadRow]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        yield BadRow(exc.lineno, f"the file is not valid JSON ({exc.msg}, column {exc.colno})")
        return
    if records_path:
        document = compile_jmespath(records_path, what="records path").search(document)
    items = document if isinstance(document, list) else [document] if document else []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield Row(1, item)
        else:
            yield BadRow(None, f"item {index} is a JSON {type(item).__name__}, not an object")


def read_rows(
    data: bytes,
    file_format: FileFormat,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    records_path: str | None = None,
) -> Iterator[Row | BadRow]:
    """Rows of one file's bytes. CSV values stay strings (see :func:`convert_csv_value`)."""
    chosen = encoding or detect_encoding(data)
    try:
        text = data.decode(chosen)
    except (UnicodeDecodeError, LookupError) as exc:
        yield BadRow(None, f"cannot be decoded as {chosen} ({type(exc).__name__})")
        return
    if file_format == "csv":
        sep = delimiter or detect_delimiter(text[:SNIFF_BYTES])
        yield from _csv_rows(text, sep)
    elif file_format == "ndjson":
        yield from _ndjson_rows(text)
    else:
        yield from _json_rows(text, records_path)


ColumnType = Literal["integer", "number", "boolean", "string"]


def _value_type(value: str) -> ColumnType | None:
    stripped = value.strip()
    if not stripped:
        return None
    if _INT.match(stripped):
        return "integer"
    if _FLOAT.match(stripped):
        return "number"
    if stripped.lower() in _BOOL:
        return "boolean"
    return "string"


def csv_column_types(records: list[dict[str, Any]]) -> dict[str, ColumnType]:
    """The narrowest type every non-empty value of a column fits (``007`` stays a string)."""
    types: dict[str, ColumnType] = {}
    seen: dict[str, set[ColumnType]] = {}
    for record in records:
        for key, value in record.items():
            kind = _value_type(value) if isinstance(value, str) else "string"
            bucket = seen.setdefault(key, set())
            if kind is not None:
                bucket.add(kind)
    for key, kinds in seen.items():
        if kinds == {"integer"}:
            types[key] = "integer"
        elif kinds and kinds <= {"integer", "number"}:
            types[key] = "number"
        elif kinds == {"boolean"}:
            types[key] = "boolean"
        else:  # mixed, text, or always empty
            types[key] = "string"
    return types


def convert_csv_value(value: Any, kind: ColumnType) -> Any:
    """A CSV string as its column's type; empty is null."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not stripped:
        return None
    if kind == "integer":
        return int(stripped)
    if kind == "number":
        return float(stripped)
    if kind == "boolean":
        return _BOOL[stripped.lower()]
    return value
