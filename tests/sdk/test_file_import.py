"""File Import on real files: formats, detection, bad rows, incremental, folder confinement."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from connectors.builtin.file_import import FileImportConnector
from connectors.builtin.file_import.readers import detect_delimiter, detect_encoding
from connectors.sdk import (
    CheckName,
    ConfigError,
    ConnectorContext,
    RecordMessage,
    SkippedRecordMessage,
    StateMessage,
    record_errors,
)


async def _read(connector: FileImportConnector, stream: str, state: Any = None):
    records, skipped, states = [], [], []
    async for m in connector.read(stream, state):
        if isinstance(m, RecordMessage):
            records.append(m.data)
        elif isinstance(m, SkippedRecordMessage):
            skipped.append(m)
        elif isinstance(m, StateMessage):
            states.append(m.state)
    return records, skipped, states[-1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    (root / "users.csv").write_bytes(
        "id;name;zip;active;score\n"
        "1;Zoë;01234;true;1.5\n"
        "2;Ana;;false;2\n"
        "3;Bob;99999;true\n"  # short row: line 4
        "\n"
        "4;Lee;10115;false;3.25;extra\n"  # long row: line 6
        "5;\"Multi\nline\";55555;true;4\n"  # quoted newline: starts line 7
        "6;Kim;12345;TRUE;5\n".encode("cp1252")  # a Windows spreadsheet export
    )
    (root / "events.ndjson").write_text(
        '{"id": 1, "kind": "login"}\n{"id": 2, "kind": \n[1, 2]\n\n{"id": 3, "kind": "logout"}\n',
        encoding="utf-8",
    )
    (root / "assets.json").write_text(
        json.dumps({"data": {"items": [{"id": "a", "tags": ["x"]}, 7, {"id": "b", "tags": []}]}}),
        encoding="utf-8",
    )
    (root / "notes.md").write_text("ignored")
    return root


def _connector(folder: Path, streams: list[dict[str, Any]] | None = None) -> FileImportConnector:
    return FileImportConnector({"folder": str(folder), "streams": streams or []})


async def test_discovers_one_stream_per_supported_file(folder: Path):
    connector = _connector(folder)
    streams = {s.name: s for s in await connector.discover()}
    assert sorted(streams) == ["assets", "events", "users"]
    users = streams["users"].json_schema["properties"]
    assert users["id"]["type"] == ["integer"]
    assert users["zip"]["type"] == ["null", "string"]  # 01234 keeps its leading zero
    assert users["active"]["type"] == ["boolean"]
    assert users["score"]["type"] == ["number"]
    assert streams["users"].detects_deletions


async def test_csv_with_detected_encoding_and_delimiter_skips_bad_rows(folder: Path):
    connector = _connector(folder)
    records, skipped, _ = await _read(connector, "users")
    assert [r["id"] for r in records] == [1, 2, 5, 6]
    assert records[0] == {"id": 1, "name": "Zoë", "zip": "01234", "active": True, "score": 1.5}
    assert records[1]["zip"] is None
    assert records[2]["name"] == "Multi\nline"
    assert [s.location for s in skipped] == ["users.csv line 4", "users.csv line 6"]
    assert "has 4 fields, the header has 5" in skipped[0].reason
    schema = (await connector.discover())[2].json_schema
    assert all(record_errors(schema, r) == [] for r in records)


async def test_ndjson_and_json_bad_items_reported(folder: Path):
    connector = _connector(
        folder,
        [
            {"name": "events", "pattern": "*.ndjson"},
            {"name": "assets", "pattern": "assets.json", "records_path": "data.items"},
        ],
    )
    events, skipped, _ = await _read(connector, "events")
    assert [e["id"] for e in events] == [1, 3]
    assert [s.location for s in skipped] == ["events.ndjson line 2", "events.ndjson line 3"]
    assert "invalid JSON" in skipped[0].reason
    assets, skipped, _ = await _read(connector, "assets")
    assert [a["id"] for a in assets] == ["a", "b"]
    assert "item 1 is a JSON int" in skipped[0].reason


async def test_incremental_reads_only_new_or_changed_files(folder: Path):
    daily = folder / "daily"
    daily.mkdir()
    (daily / "2024-01-01.csv").write_text("id,v\n1,a\n2,b\n")
    connector = _connector(folder, [{"name": "daily", "pattern": "daily/*.csv"}])
    records, _, state = await _read(connector, "daily")
    assert len(records) == 2
    assert json.loads(json.dumps(state)) == state
    again, _, state2 = await _read(connector, "daily", state)
    assert again == []
    assert state2 == state
    (daily / "2024-01-02.csv").write_text("id,v\n3,c\n")
    newer, _, _ = await _read(connector, "daily", state)
    assert newer == [{"id": 3, "v": "c"}]


async def test_paths_outside_the_folder_are_refused(folder: Path, tmp_path: Path):
    for pattern in ("../secret.csv", "/etc/passwd", "sub/../../x.csv"):
        with pytest.raises(ConfigError) as info:
            _connector(folder, [{"name": "x", "pattern": pattern}])
        assert "streams[0].pattern" in str(info.value)
    outside = tmp_path / "secret.csv"
    outside.write_text("id,password\n1,hunter2\n")
    os.symlink(outside, folder / "link.csv")
    connector = _connector(folder, [{"name": "linked", "pattern": "link.csv"}])
    records, skipped, _ = await _read(connector, "linked")
    assert records == []
    assert "outside the import folder" in skipped[0].reason
    with pytest.raises(ConfigError):
        FileImportConnector({"folder": "relative/path"})


async def test_check_reports_missing_folder_and_import_root(folder: Path, tmp_path: Path):
    missing = await FileImportConnector({"folder": str(tmp_path / "nope")}).check()
    assert not missing.ok
    failed = missing.item(CheckName.REACHABLE)
    assert failed is not None
    assert "does not exist" in (failed.cause or "")
    context = ConnectorContext(options={"file_import_root": str(tmp_path / "elsewhere")})
    outside_root = await FileImportConnector({"folder": str(folder)}, context=context).check()
    assert not outside_root.ok
    assert (await _connector(folder).check()).ok


def test_detection_helpers():
    assert detect_encoding("é".encode()) == "utf-8"
    assert detect_encoding("é".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"\xef\xbb\xbfid") == "utf-8-sig"
    assert detect_encoding("id".encode("utf-16")) == "utf-16"
    assert detect_delimiter("a\tb\tc\n1\t2\t3\n") == "\t"
    assert detect_delimiter("a|b\n1|2\n") == "|"
    assert detect_delimiter("single\nvalue\n") == ","
