"""The conformance kit: green on the built-in connectors, readable red on a broken one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from connectors.builtin.file_import import FileImportConnector
from connectors.builtin.generic_rest import GenericRestConnector
from connectors.sdk import (
    Connector,
    ConnectorMetadata,
    ReadMessage,
    RecordMessage,
    StateMessage,
    Stream,
    SyncMode,
    SystemType,
    secret_field,
)
from connectors.sdk.testing import (
    ConformanceError,
    conformance_tests,
    loopback_context_value,
    run_conformance,
)

from .servers import Reply, Seen, Server, serve

ITEMS = [{"id": i, "name": f"item {i}", "updated": 100 + i} for i in range(1, 8)]


def _items_api(server_url: list[str]):
    def handler(r: Seen) -> Reply:
        since = int(r.query.get("since", "0"))
        rows = [i for i in ITEMS if i["updated"] >= since]
        page = int(r.query.get("page", "1"))
        headers = {}
        if page * 2 < len(rows):
            headers["Link"] = f'<{server_url[0]}/items?page={page + 1}&since={since}>; rel="next"'
        return Reply(200, rows[(page - 1) * 2 : page * 2], headers)

    return handler


@pytest.fixture
def items_server() -> Iterator[Server]:
    url: list[str] = []
    with serve(_items_api(url)) as server:
        url.append(server.url)
        yield server


@pytest.fixture
def generic_rest_config(items_server: Server) -> dict[str, Any]:
    return {
        "base_url": items_server.url,
        "streams": [
            {
                "name": "items",
                "path": "/items",
                "paginator": "header_link",
                "primary_key": "id",
                "incremental": {"cursor_field": "updated", "param": "since"},
                "is_sorted": True,
                "checkpoint_interval": 3,
            }
        ],
    }


@pytest.fixture
def file_import_config(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "hosts.csv").write_text("host,cpu\nweb1,4\ndb1,16\n")
    daily = tmp_path / "logins"
    daily.mkdir()
    (daily / "2024-05-01.ndjson").write_text('{"user": "ana", "ok": true}\n')
    (daily / "2024-05-02.ndjson").write_text('{"user": "bob", "ok": false}\n')
    return {
        "folder": str(tmp_path),
        "streams": [
            {"name": "hosts", "pattern": "hosts.csv", "primary_key": ["host"]},
            {"name": "logins", "pattern": "logins/*.ndjson"},
        ],
    }


TestGenericRestConformance = conformance_tests(
    GenericRestConnector, config="generic_rest_config", context=loopback_context_value()
)
TestFileImportConformance = conformance_tests(FileImportConnector, config="file_import_config")


# ---- a deliberately broken connector -------------------------------------------------------

module_logger = logging.getLogger("broken_connector")


class BrokenConfig(BaseModel):
    url: str
    api_key: SecretStr = secret_field()


class BadRecords(Stream):
    name = "items"
    json_schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    primary_key = ("id",)

    async def read_records(self, cursor: Any) -> AsyncIterator[Mapping[str, Any]]:
        yield {"id": "one"}
        yield {"id": 2}


class ForgetfulEvents(Stream):
    """Claims incremental support but ignores the state it is given."""

    name = "events"
    json_schema = {"type": "object", "properties": {"id": {"type": "integer"}, "at": {}}}
    primary_key = ("id",)
    cursor_field = "at"

    async def read_records(self, cursor: Any) -> AsyncIterator[Mapping[str, Any]]:
        yield {"id": 0, "at": 0}

    async def read(
        self, state: Mapping[str, Any] | None = None, sync_mode: SyncMode | None = None
    ) -> AsyncIterator[ReadMessage]:
        for i in (1, 2):
            yield RecordMessage(self.name, {"id": i, "at": i})
        yield StateMessage(self.name, {"cursor": 2})


class BrokenConnector(Connector[BrokenConfig]):
    metadata = ConnectorMetadata(
        key="broken", name="Broken", version="0.0.1", system_type=SystemType.GENERIC
    )
    config_model = BrokenConfig

    async def check_connection(self) -> None:
        module_logger.info("connecting with key %s", self.config.api_key.get_secret_value())

    async def streams(self) -> list[Stream]:
        return [BadRecords(), ForgetfulEvents()]


async def test_broken_connector_fails_with_a_readable_report():
    report = await run_conformance(
        BrokenConnector, config={"url": "http://x", "api_key": "KEY-abc-123"}
    )
    assert not report.ok
    failed = {o.name: o.message for o in report.failures}
    assert set(failed) == {
        "read items: records valid, state at the end",
        "state events: round-trip and resume",
        "no secret in any log line",
    }
    with pytest.raises(ConformanceError) as info:
        report.raise_for_failures()
    text = str(info.value)
    assert text.startswith("Connector 'broken' failed 3 of ")
    assert "record 0 does not match the stream schema: id: does not satisfy 'type'" in text
    assert "re-reading from the final state returned 2 record(s) already read (first: id=1)" in text
    assert "logger 'broken_connector' logged a secret value: 'connecting with key <SECRET>'" in text
    assert "KEY-abc-123" not in text  # the report itself does not repeat the secret
    assert "ok   check passes" in text


async def test_bad_config_is_reported_not_raised():
    report = await run_conformance(BrokenConnector, config={"api_key": "KEY-abc-123"})
    assert not report.ok
    assert "url: Field required" in report.render()
