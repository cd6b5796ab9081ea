"""Audit exports for auditors: entries, checkpoints, the chain head and the public keys.

Two formats carry the same records. JSON Lines: a ``header`` line, then one ``entry`` line per
entry and one ``checkpoint`` line per checkpoint. CSV: one row per record with a
``record_type`` column (header, entry, checkpoint); empty cells are nulls and the header row's
``extra`` cell holds its JSON. Either verifies offline with :func:`verify_export`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit.canonical import format_time
from server.audit.signing import PublicKey, SigningKeyError
from server.audit.store import anchor_before, load_checkpoints, load_entries, read_head
from server.audit.verify import (
    Anchor,
    CheckpointRecord,
    EntryRecord,
    VerifyResult,
    verify_chain,
)
from server.db.models import AuditCheckpoint, AuditEntry
from server.db.types import utcnow

FORMAT = "simpletrust-audit-export"
ENTRY_FIELDS = ("seq", "time", "actor", "action", "object_type", "object_id", "before_hash",
                "after_hash", "details", "prev_hash", "entry_hash")
CHECKPOINT_FIELDS = ("key_id", "public_key", "signature")
CSV_COLUMNS = ("record_type", *ENTRY_FIELDS, *CHECKPOINT_FIELDS, "extra")


class ExportFormatError(ValueError):
    """The file is not an audit export (names the line and the problem)."""


@dataclass
class ExportData:
    header: dict[str, Any]
    entries: list[EntryRecord]
    checkpoints: list[CheckpointRecord]

    def anchor(self) -> Anchor | None:
        raw = self.header.get("anchor")
        return Anchor(int(raw["seq"]), str(raw["entry_hash"])) if raw else None

    def head(self) -> Anchor | None:
        raw = self.header.get("head")
        if not raw or not self.header.get("complete"):
            return None
        return Anchor(int(raw["seq"]), str(raw["entry_hash"]))

    def public_keys(self) -> list[str]:
        return [str(k) for k in self.header.get("public_keys", [])]


def collect(session: Session, *, since: dt.datetime | None = None,
            until: dt.datetime | None = None,
            public_keys: Sequence[PublicKey] = ()) -> ExportData:
    """The entries recorded in [since, until], with what verifies them."""
    stmt = select(func.min(AuditEntry.seq), func.max(AuditEntry.seq))
    if since is not None:
        stmt = stmt.where(AuditEntry.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.recorded_at <= until)
    first, last = session.execute(stmt).one()
    head = read_head(session) or Anchor(0, "")
    complete = until is None
    entries = load_entries(session, first, None if complete else last) if first else []
    checkpoints = (load_checkpoints(session, first, None if complete else last)
                   if first else [])
    anchor = anchor_before(session, first) if first else None
    keys = {k.to_text() for k in public_keys}
    keys |= set(session.scalars(select(AuditCheckpoint.public_key).distinct()))
    header = {
        "type": "header", "format": FORMAT, "version": 1, "exported_at": format_time(utcnow()),
        "from": format_time(since) if since else None,
        "to": format_time(until) if until else None, "complete": complete,
        "anchor": {"seq": anchor.seq, "entry_hash": anchor.entry_hash} if anchor else None,
        "head": {"seq": head.seq, "entry_hash": head.entry_hash},
        "public_keys": sorted(keys),
        "hashing": "entry_hash = sha256(canonical JSON of the entry without entry_hash, with "
                   "v=1); see docs/guides/audit.md",
    }
    return ExportData(header, entries, checkpoints)


def _jsonl(data: ExportData) -> Iterator[str]:
    yield json.dumps(data.header, sort_keys=True) + "\n"
    for e in data.entries:
        yield json.dumps({"type": "entry", **e.as_dict()}, sort_keys=True) + "\n"
    for c in data.checkpoints:
        yield json.dumps({"type": "checkpoint", **c.as_dict()}, sort_keys=True) + "\n"


def _csv(data: ExportData) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    writer.writerow({"record_type": "header", "extra": json.dumps(data.header, sort_keys=True)})
    yield flush()
    for e in data.entries:
        writer.writerow({"record_type": "entry", **e.as_dict()})
        yield flush()
    for c in data.checkpoints:
        writer.writerow({"record_type": "checkpoint", **c.as_dict()})
        yield flush()


def render(data: ExportData, fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        return _jsonl(data)
    if fmt == "csv":
        return _csv(data)
    raise ValueError(f"unknown format {fmt!r}; use jsonl or csv")


def _text(values: dict[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str):
        raise TypeError(name)
    return value


def _optional(values: dict[str, Any], name: str) -> str | None:
    value = values.get(name)
    return None if value is None else str(value)


def _entry(values: dict[str, Any], where: str) -> EntryRecord:
    try:
        return EntryRecord(
            seq=int(values["seq"]), time=_text(values, "time"), actor=_text(values, "actor"),
            action=_text(values, "action"), object_type=_text(values, "object_type"),
            object_id=_optional(values, "object_id"),
            before_hash=_optional(values, "before_hash"),
            after_hash=_optional(values, "after_hash"), details=_text(values, "details"),
            prev_hash=_text(values, "prev_hash"), entry_hash=_text(values, "entry_hash"))
    except (KeyError, TypeError, ValueError):
        raise ExportFormatError(f"{where}: not a complete entry") from None


def _checkpoint(values: dict[str, Any], where: str) -> CheckpointRecord:
    try:
        return CheckpointRecord(seq=int(values["seq"]), entry_hash=str(values["entry_hash"]),
                                time=str(values["time"]), key_id=str(values["key_id"]),
                                public_key=str(values["public_key"]),
                                signature=str(values["signature"]))
    except (KeyError, TypeError, ValueError):
        raise ExportFormatError(f"{where}: not a complete checkpoint") from None


def parse(text: str) -> ExportData:
    """Read a JSON Lines or CSV export."""
    header: dict[str, Any] | None = None
    entries: list[EntryRecord] = []
    checkpoints: list[CheckpointRecord] = []
    if text.lstrip().startswith("{"):
        rows: list[tuple[str, dict[str, Any]]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                values = json.loads(line)
            except json.JSONDecodeError:
                raise ExportFormatError(f"line {number}: not JSON") from None
            if not isinstance(values, dict):
                raise ExportFormatError(f"line {number}: not a JSON object")
            rows.append((f"line {number}", values))
    else:
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for number, raw in enumerate(reader, 2):
            values = {k: (v if v != "" else None) for k, v in raw.items() if k}
            values["type"] = values.pop("record_type", None)
            if values["type"] == "header":
                try:
                    values = json.loads(values.get("extra") or "")
                except json.JSONDecodeError:
                    raise ExportFormatError(f"line {number}: the header is not JSON") from None
            rows.append((f"line {number}", values))
    for where, values in rows:
        kind = values.get("type")
        if kind == "header":
            header = values
        elif kind == "entry":
            entries.append(_entry(values, where))
        elif kind == "checkpoint":
            checkpoints.append(_checkpoint(values, where))
        else:
            raise ExportFormatError(f"{where}: unknown record type {kind!r}")
    if header is None or header.get("format") != FORMAT:
        raise ExportFormatError(f"not a {FORMAT} file (no header line)")
    return ExportData(header, entries, checkpoints)


def verify_export(data: ExportData, public_keys: Sequence[PublicKey]) -> VerifyResult:
    """Verify an export with only the file and the auditor's public key(s)."""
    return verify_chain(data.entries, data.checkpoints, public_keys, anchor=data.anchor(),
                        head=data.head())


def read_public_keys(values: Sequence[str]) -> list[PublicKey]:
    """Keys given as text (``ed25519:…`` or PEM) or as paths to files holding one."""
    keys = []
    for value in values:
        path = Path(value)
        text = value
        if not value.strip().startswith(("ed25519:", "-----BEGIN")):
            try:
                text = path.read_text("ascii")
            except OSError as exc:
                raise SigningKeyError(f"cannot read public key file {value}: "
                                      f"{exc.strerror}") from None
        keys.append(PublicKey.from_text(text))
    return keys
