"""File Import: CSV, JSON and NDJSON files from a folder on the agent's machine.

Each stream is a glob pattern inside the configured folder (or, with no streams configured,
each supported file at the top of the folder). Schemas are inferred from the files; CSV
encoding and delimiter are detected; bad rows are reported with their line numbers and
skipped, never fatal. Nothing outside the folder is ever read: patterns must be relative,
and every file is resolved (symlinks included) and refused if it leaves the folder.

Incremental reads work per file: a file whose size and modification time are unchanged since
the saved state is not read again.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.builtin.file_import.readers import (
    BadRow,
    FileFormat,
    Row,
    convert_csv_value,
    csv_column_types,
    format_for,
    read_rows,
)
from connectors.sdk.connector import Connector
from connectors.sdk.errors import ConfigError, PermissionDeniedError
from connectors.sdk.messages import (
    ReadMessage,
    RecordMessage,
    SkippedRecordMessage,
    StateMessage,
)
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.schema import infer_schema
from connectors.sdk.streams import Stream, SyncMode

__all__ = ["FileImportConfig", "FileImportConnector", "FileStreamConfig"]

MAX_FILE_BYTES = 256 * 1024 * 1024


class FileStreamConfig(BaseModel):
    """One stream: the files matching ``pattern`` inside the folder."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    pattern: str = Field(description="Glob relative to the folder, e.g. 'users.csv' or 'hr/*.csv'.")
    format: Literal["auto", "csv", "json", "ndjson"] = "auto"
    encoding: str | None = Field(None, description="Text encoding; detected when empty.")
    delimiter: str | None = Field(None, max_length=1, description="CSV delimiter; detected.")
    records_path: str | None = Field(None, description="JMESPath to the records in JSON files.")
    primary_key: tuple[str, ...] = ()
    typed: bool = Field(True, description="Convert CSV values to inferred numbers/booleans.")

    @field_validator("pattern")
    @classmethod
    def _inside(cls, value: str) -> str:
        posix = PurePosixPath(value.replace("\\", "/"))
        if posix.is_absolute() or re.match(r"^[A-Za-z]:", value) or ".." in posix.parts:
            raise ValueError("must be relative to the folder and must not contain '..'")
        return value


class FileImportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(description="Absolute path of the folder files are imported from.")
    streams: list[FileStreamConfig] = Field(
        default_factory=list,
        description="Streams; empty means one stream per supported file in the folder.",
    )

    @field_validator("folder")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError("must be an absolute path")
        return value


def _stream_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "file"
    return name if re.match(r"^[A-Za-z_]", name) else f"_{name}"


class FileStream(Stream):
    """The files of one pattern; state is the size and mtime of every file read."""

    detects_deletions = True

    def __init__(self, folder: Path, spec: FileStreamConfig) -> None:
        self.folder = folder
        self.spec = spec
        self.name = spec.name
        self.primary_key = spec.primary_key
        self.description = f"Files matching {spec.pattern}"
        self.json_schema: dict[str, Any] = {"type": "object"}
        self._types: dict[str, Any] | None = None

    @property
    def sync_modes(self) -> tuple[SyncMode, ...]:
        return (SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL)

    def files(self) -> tuple[list[Path], list[tuple[str, str]]]:
        """Matching files inside the folder, and (name, reason) of those refused."""
        found: list[Path] = []
        refused: list[tuple[str, str]] = []
        for candidate in sorted(self.folder.glob(self.spec.pattern)):
            relative = candidate.relative_to(self.folder).as_posix()
            if not candidate.is_file():
                continue
            real = candidate.resolve()
            if not real.is_relative_to(self.folder):
                refused.append((relative, "resolves outside the import folder; not read"))
            elif self._format(candidate) is None:
                refused.append((relative, "has an unsupported extension; not read"))
            elif real.stat().st_size > MAX_FILE_BYTES:
                refused.append((relative, f"is larger than {MAX_FILE_BYTES} bytes; not read"))
            else:
                found.append(real)
        return found, refused

    def _format(self, path: Path) -> FileFormat | None:
        return format_for(path) if self.spec.format == "auto" else self.spec.format

    def _rows(self, path: Path, data: bytes | None = None) -> Any:
        file_format = self._format(path)
        assert file_format is not None
        return read_rows(
            path.read_bytes() if data is None else data,
            file_format,
            encoding=self.spec.encoding,
            delimiter=self.spec.delimiter,
            records_path=self.spec.records_path,
        )

    def _is_csv(self, path: Path) -> bool:
        return self._format(path) == "csv"

    def infer(self) -> dict[str, Any]:
        """Infer the schema from every readable row of every file (typed CSV columns)."""
        files, _ = self.files()
        csv_records: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for path in files:
            bucket = csv_records if self._is_csv(path) else other
            bucket.extend(row.record for row in self._rows(path) if isinstance(row, Row))
        types = csv_column_types(csv_records) if self.spec.typed else {}
        self._types = types
        converted = [self._convert(r, types) for r in csv_records]
        self.json_schema = infer_schema(converted + other)
        return self.json_schema

    def _convert(self, record: dict[str, Any], types: Mapping[str, Any]) -> dict[str, Any]:
        return {k: convert_csv_value(v, types.get(k, "string")) for k, v in record.items()}

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for message in self.read(None, SyncMode.FULL_REFRESH):
            if isinstance(message, RecordMessage):
                yield message.data

    async def read(
        self, state: Mapping[str, Any] | None = None, sync_mode: SyncMode | None = None
    ) -> AsyncIterator[ReadMessage]:
        incremental = (sync_mode or SyncMode.INCREMENTAL) is SyncMode.INCREMENTAL
        previous: dict[str, Any] = dict((state or {}).get("files") or {}) if incremental else {}
        if self._types is None:
            await asyncio.to_thread(self.infer)
        types = self._types or {}
        files, refused = self.files()
        for relative, reason in refused:
            yield SkippedRecordMessage(self.name, f"{relative} {reason}", relative)
        seen: dict[str, Any] = {}
        for path in files:
            relative = path.relative_to(self.folder).as_posix()
            stat = path.stat()
            fingerprint = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            seen[relative] = fingerprint
            if previous.get(relative) == fingerprint:
                continue  # unchanged since the last read
            csv_file = self._is_csv(path)
            data = await asyncio.to_thread(path.read_bytes)
            for row in self._rows(path, data):
                if isinstance(row, BadRow):
                    where = f"{relative} line {row.line}" if row.line else relative
                    yield SkippedRecordMessage(self.name, f"{where}: {row.reason}", where)
                    continue
                record = self._convert(row.record, types) if csv_file else row.record
                yield RecordMessage(self.name, record)
            yield StateMessage(self.name, {"files": {**previous, **seen}})
        yield StateMessage(self.name, {"files": seen})


class FileImportConnector(Connector[FileImportConfig]):
    """The built-in File Import connector."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="file-import",
        name="File Import",
        description="Import CSV, JSON and NDJSON files from a folder on the agent's machine.",
        version="1.0.0",
        system_type=SystemType.FILE,
        author="SimpleTrust",
        auth_methods=(AuthMethod.NONE,),
    )
    config_model: ClassVar[type[BaseModel]] = FileImportConfig

    @property
    def folder(self) -> Path:
        return Path(self.config.folder).resolve()

    async def check_connection(self) -> None:
        await asyncio.to_thread(self._check_folder)

    def _check_folder(self) -> None:
        folder = self.folder
        root = self.context.options.get("file_import_root")
        if root and not folder.is_relative_to(Path(str(root)).resolve()):
            raise ConfigError(
                f"The folder {self.config.folder} is outside the agent's import root.",
                hint=f"Choose a folder inside {root}.",
            )
        if not folder.is_dir():
            raise ConfigError(
                f"The folder {self.config.folder} does not exist or is not a folder.",
                hint="Create the folder or correct the path.",
            )
        if not os.access(folder, os.R_OK | os.X_OK):
            raise PermissionDeniedError(
                f"The agent may not read the folder {self.config.folder}.",
                hint="Give the agent's service account read access to the folder.",
            )

    async def streams(self) -> Sequence[Stream]:
        await self.check_connection()
        return await asyncio.to_thread(self._streams_now)

    def _streams_now(self) -> list[Stream]:
        folder = self.folder
        specs = list(self.config.streams)
        if not specs:
            specs = [
                FileStreamConfig(name=_stream_name(path), pattern=path.name)
                for path in sorted(folder.iterdir())
                if path.is_file() and format_for(path) is not None
            ]
        return [FileStream(folder, spec) for spec in specs]

    async def discover(self) -> list[Any]:
        streams = await self._stream_map()
        for stream in streams.values():
            if isinstance(stream, FileStream):
                await asyncio.to_thread(stream.infer)
        return [s.descriptor() for s in streams.values()]
