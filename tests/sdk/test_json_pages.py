"""JSON bodies: decoded once per page, exactly as ``json.loads`` decodes them, and a page's
response and records freed as soon as the reader lets go of them (no wait for the collector)."""

from __future__ import annotations

import gc
import json
import weakref

import httpx
import pytest

from connectors.sdk.errors import ConnectorError, DataError
from connectors.sdk.http import AddressPolicy, HttpClient, RecordSelector
from connectors.sdk.http.paginators import CursorPaginator
from connectors.sdk.http.records import forget_json, response_json
from tests.support.record_source import Source, serve_source


@pytest.mark.parametrize("body", [
    b'{"a": 1, "b": [true, null, 1.5e300, -0.0, "\\u00e9\\ud83d\\ude00"]}',
    b'{"big": 123456789012345678901234567890, "n": NaN, "i": -Infinity}',  # json.loads only
    b'{"lone": "\\ud800"}',  # a lone surrogate escape: json.loads only
    '\ufeff{"bom": 1}'.encode(),  # json.loads(bytes) strips a UTF-8 BOM
    '{"utf16": "é"}'.encode("utf-16"),
    b'{"dup": 1, "dup": 2}',
    b"[1, 2, 3]",
])
def test_bodies_decode_as_json_loads_does(body: bytes) -> None:
    response = httpx.Response(200, content=body)
    decoded = response_json(response)
    assert json.dumps(decoded) == json.dumps(json.loads(body))
    assert response_json(response) is decoded  # decoded once
    forget_json(response)
    assert response_json(response) is not decoded


def test_a_body_that_is_not_json_raises_value_error() -> None:
    with pytest.raises(ValueError):  # what httpx.Response.json raises
        response_json(httpx.Response(200, content=b"<html>"))


async def test_pages_are_freed_without_the_garbage_collector() -> None:
    source = Source(5000)
    with serve_source(source) as url:
        async with HttpClient(url, policy=AddressPolicy(allow_loopback=True)) as http:
            pages = http.paginate("/items", paginator=CursorPaginator("next_cursor"),
                                  selector=RecordSelector("items"), params={"limit": 1000})
            gc.collect()
            gc.disable()
            try:
                alive: list[weakref.ref[httpx.Response]] = []
                count = 0
                async for page in pages:
                    count += len(page.records)
                    alive.append(weakref.ref(page.response))
                    del page
                # Every page but the last one the generator may still hold is gone already.
                assert count == 5000
                assert sum(ref() is not None for ref in alive[:-1]) == 0
            finally:
                gc.enable()


async def test_a_non_json_page_is_a_data_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not json", headers={"content-type": "text/plain"})

    async with HttpClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler),
                          policy=AddressPolicy(allow_loopback=True)) as http:
        with pytest.raises(DataError):
            async for _ in http.paginate("/x"):
                pass


async def test_the_next_page_is_fetched_ahead_and_dropped_when_not_wanted() -> None:
    source = Source(5000)
    with serve_source(source) as url:
        async with HttpClient(url, policy=AddressPolicy(allow_loopback=True)) as http:
            numbers = []
            async for page in http.paginate("/items", paginator=CursorPaginator("next_cursor"),
                                            selector=RecordSelector("items"),
                                            params={"limit": 1000}):
                numbers.append((page.number, page.records[0]["id"]))
            assert numbers == [(n + 1, f"u{n * 1000:07d}") for n in range(5)]
            assert source.requests == 5  # no request beyond the last page

            source.requests = 0
            pages = http.paginate("/items", paginator=CursorPaginator("next_cursor"),
                                  selector=RecordSelector("items"), params={"limit": 1000})
            async for _ in pages:
                break  # the caller stops: the page fetched ahead is cancelled or dropped
            await pages.aclose()  # type: ignore[attr-defined]
            assert source.requests <= 2


async def test_a_failing_next_page_fails_when_it_is_asked_for() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(200, json={"items": [{"id": 1}], "next_cursor": "2"})
        return httpx.Response(404, json={"error": "gone"})

    async with HttpClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler),
                          policy=AddressPolicy(allow_loopback=True)) as http:
        seen: list[list[dict[str, object]]] = []

        async def read_all() -> None:
            async for page in http.paginate("/x", paginator=CursorPaginator("next_cursor"),
                                            selector=RecordSelector("items")):
                seen.append(page.records)

        with pytest.raises(ConnectorError):
            await read_all()
        assert seen == [[{"id": 1}]]  # the first page was delivered before the failure
