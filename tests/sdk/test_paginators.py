"""Each pagination strategy against a loopback server, plus loop detection."""

from __future__ import annotations

import pytest

from connectors.sdk import errors as e
from connectors.sdk.http import (
    AddressPolicy,
    CursorPaginator,
    HttpClient,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    RecordSelector,
)

from .servers import Reply, Seen, serve

ITEMS = [{"id": i} for i in range(1, 8)]  # 7 records
LOOPBACK = AddressPolicy(allow_loopback=True)


async def _ids(url: str, path: str, **kwargs) -> list[int]:
    async with HttpClient(url, policy=LOOPBACK) as http:
        return [r["id"] async for page in http.paginate(path, **kwargs) for r in page.records]


async def test_page_number():
    def handler(r: Seen) -> Reply:
        page, size = int(r.query["page"]), int(r.query["per_page"])
        return Reply(200, ITEMS[(page - 1) * size : page * size])

    with serve(handler) as server:
        ids = await _ids(
            server.url, "/items",
            paginator=PageNumberPaginator("page", page_size=3, page_size_param="per_page"),
        )
    assert ids == list(range(1, 8))
    assert len(server.seen) == 3  # the short third page ends it


async def test_offset_limit_with_total():
    def handler(r: Seen) -> Reply:
        offset, limit = int(r.query["offset"]), int(r.query["limit"])
        return Reply(200, {"data": ITEMS[offset : offset + limit], "total": 6})

    with serve(handler) as server:
        ids = await _ids(
            server.url, "/items",
            paginator=OffsetPaginator(limit=3, total_path="total"),
            selector=RecordSelector("data"),
        )
    assert ids == [1, 2, 3, 4, 5, 6]
    assert len(server.seen) == 2


async def test_cursor_in_body():
    def handler(r: Seen) -> Reply:
        start = int(r.query.get("cursor", "0"))
        nxt = start + 3 if start + 3 < len(ITEMS) else None
        return Reply(200, {"items": ITEMS[start : start + 3], "meta": {"next": nxt and str(nxt)}})

    with serve(handler) as server:
        ids = await _ids(
            server.url, "/items",
            paginator=CursorPaginator("meta.next", "cursor"),
            selector=RecordSelector("items"),
        )
    assert ids == list(range(1, 8))


async def test_next_link_in_body_and_link_header():
    def body_handler(r: Seen) -> Reply:
        page = int(r.query.get("p", "1"))
        nxt = f"/items?p={page + 1}" if page < 3 else None
        return Reply(200, {"results": ITEMS[(page - 1) * 3 : page * 3], "next": nxt})

    with serve(body_handler) as server:
        ids = await _ids(
            server.url, "/items", paginator=NextLinkPaginator("next"),
            selector=RecordSelector("results"),
        )
    assert ids == list(range(1, 8))

    def link_handler(r: Seen) -> Reply:
        page = int(r.query.get("page", "1"))
        headers = {}
        if page < 3:
            headers["Link"] = f'<{server2.url}/items?page={page + 1}>; rel="next", <x>; rel="last"'
        return Reply(200, ITEMS[(page - 1) * 3 : page * 3], headers)

    with serve(link_handler) as server2:
        ids = await _ids(server2.url, "/items", paginator=LinkHeaderPaginator())
    assert ids == list(range(1, 8))


async def test_repeated_cursor_is_a_loop_not_an_endless_read():
    def handler(r: Seen) -> Reply:
        return Reply(200, {"items": ITEMS[:1], "next": "same"})

    with serve(handler) as server:
        with pytest.raises(e.PaginationLoopError) as info:
            await _ids(
                server.url, "/items", paginator=CursorPaginator("next"),
                selector=RecordSelector("items"),
            )
        assert "loop" in str(info.value).lower()
        assert len(server.seen) == 2


async def test_next_link_to_another_host_is_refused():
    def handler(r: Seen) -> Reply:
        return Reply(200, [{"id": 1}], {"Link": '<http://127.0.0.2:9/steal>; rel="next"'})

    with serve(handler) as server, pytest.raises(e.RemoteError) as info:
        await _ids(server.url, "/items", paginator=LinkHeaderPaginator())
    assert "another host" in str(info.value)
    assert len(server.seen) == 1


async def test_record_selector_errors_are_data_errors():
    with serve(lambda r: Reply(200, {"data": "oops"})) as server, pytest.raises(e.DataError):
        await _ids(server.url, "/x", selector=RecordSelector("data"))
    with pytest.raises(e.ConfigError):
        RecordSelector("data[")
