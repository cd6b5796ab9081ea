"""The built-in File Import connector (CSV, JSON, NDJSON from a folder)."""

from connectors.builtin.file_import.connector import (
    FileImportConfig,
    FileImportConnector,
    FileStreamConfig,
)

__all__ = ["FileImportConfig", "FileImportConnector", "FileStreamConfig"]
