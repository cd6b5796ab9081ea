"""Stream.read over pages (``read_pages``) gives exactly what it gives over records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest

from connectors.sdk.messages import ReadMessage, RecordMessage, StateMessage
from connectors.sdk.streams import Stream, SyncMode, cursor_sort_key

PAGES: list[list[Mapping[str, Any]]] = [
    [{"id": 1, "at": "2024-01-01T00:00:00Z"}, {"id": 2, "at": "2024-01-02T00:00:00Z"}],
    [],
    [MappingProxyType({"id": 3, "at": "2024-01-02T00:00:00Z"}),
     {"id": 4, "at": "2024-01-03T00:00:00Z"}, {"id": 5, "at": None}],
]


class ByRecord(Stream):
    name = "things"
    json_schema: dict[str, Any] = {"type": "object"}
    primary_key = ("id",)

    def __init__(self, cursor_field: str | None, is_sorted: bool) -> None:
        self.cursor_field = cursor_field
        self.is_sorted = is_sorted
        self.checkpoint_interval = 2
        self.asked: list[Any] = []

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        self.asked.append(cursor)
        for page in PAGES:
            for record in page:
                yield record


class ByPage(ByRecord):
    async def read_pages(self, cursor: Any | None
                         ) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        self.asked.append(cursor)
        for page in PAGES:
            yield page


async def _read(stream: Stream, state: dict[str, Any] | None,
                mode: SyncMode | None) -> list[ReadMessage]:
    return [message async for message in stream.read(state, mode)]


@pytest.mark.parametrize("cursor_field", [None, "at"])
@pytest.mark.parametrize("is_sorted", [False, True])
@pytest.mark.parametrize("state", [None, {"cursor": "2024-01-02T00:00:00Z",
                                          "boundary_keys": ["[2]"]}])
async def test_pages_read_as_records_do(cursor_field: str | None, is_sorted: bool,
                                        state: dict[str, Any] | None) -> None:
    modes: list[SyncMode | None] = [None, SyncMode.FULL_REFRESH]
    for mode in modes:
        by_record, by_page = ByRecord(cursor_field, is_sorted), ByPage(cursor_field, is_sorted)
        expected = await _read(by_record, state, mode)
        got = await _read(by_page, state, mode)
        assert got == expected
        assert by_page.asked == by_record.asked
        assert isinstance(got[-1], StateMessage)
        assert all(type(m.data) is dict for m in got if isinstance(m, RecordMessage))
    if cursor_field and state:  # the saved cursor was passed and its boundary skipped
        assert by_page.asked == [None]  # (the last mode read was a full refresh)
        incremental = await _read(ByPage(cursor_field, is_sorted), state, None)
        ids = [m.data["id"] for m in incremental if isinstance(m, RecordMessage)]
        assert ids == [3, 4, 5]


@pytest.mark.parametrize("cursor_field", [None, "at"])
async def test_a_page_hands_on_its_dicts_and_records_are_copied(
        cursor_field: str | None) -> None:
    paged = [m.data for m in await _read(ByPage(cursor_field, False), None, None)
             if isinstance(m, RecordMessage)]
    originals = [record for page in PAGES for record in page]
    assert [d is o for d, o in zip(paged, originals, strict=True)] == [
        True, True, False, True, True]  # the read-only mapping became a dict of its own
    by_record = [m.data for m in await _read(ByRecord(cursor_field, False), None, None)
                 if isinstance(m, RecordMessage)]
    assert not any(d is o for d, o in zip(by_record, originals, strict=True))


@pytest.mark.parametrize("cursor_field", [None, "at"])
@pytest.mark.parametrize("is_sorted", [False, True])
@pytest.mark.parametrize("state", [None, {"cursor": "2024-01-02T00:00:00Z",
                                          "boundary_keys": ["[2]"]}])
@pytest.mark.parametrize("paged", [False, True])
async def test_read_paged_hands_on_what_read_gives(cursor_field: str | None, is_sorted: bool,
                                                   state: dict[str, Any] | None,
                                                   paged: bool) -> None:
    """``read_paged``: the same records, checkpoints and order as ``read``, runs of records
    as lists (never empty) for a stream that reads pages, messages for one that does not."""
    kind = ByPage if paged else ByRecord
    for mode in (None, SyncMode.FULL_REFRESH):
        expected = await _read(kind(cursor_field, is_sorted), state, mode)
        items = [item async for item in kind(cursor_field, is_sorted).read_paged(state, mode)]
        flat: list[ReadMessage] = []
        for item in items:
            if isinstance(item, list):
                assert paged
                assert item
                assert all(type(r) is dict for r in item)
                flat.extend(RecordMessage("things", r) for r in item)
            else:
                flat.append(item)
        assert flat == expected
        assert paged == any(isinstance(item, list) for item in items)


async def test_read_paged_goes_through_a_stream_s_own_read() -> None:
    class OwnRead(ByPage):
        async def read(self, state: Any = None, sync_mode: Any = None
                       ) -> AsyncIterator[ReadMessage]:
            yield RecordMessage(self.name, {"id": 9})
            yield StateMessage(self.name, {"files": 1})

    items = [item async for item in OwnRead(None, False).read_paged()]
    assert items == [RecordMessage("things", {"id": 9}), StateMessage("things", {"files": 1})]


KEYS: list[Any] = ["u1", "", " a b ", 'q"uote', "back\\slash", "tab\there", "nl\n", "\x7f",
                   "é", "日本", "\ud800", "/path", 0, -5, 10**30, True, False, None, 1.5,
                   float("nan"), [1, "a"], {"b": 1}]


@pytest.mark.parametrize("value", KEYS)
def test_the_record_key_of_one_field_is_the_json_of_its_value(value: Any) -> None:
    """The shortcut for a single top-level primary key writes what ``json.dumps`` writes."""
    stream = ByPage(None, False)
    expected = json.dumps([value], default=str)
    assert stream._key_function()({"id": value}) == expected
    assert stream.record_key({"id": value}) == expected


def test_cursor_order_is_unchanged_for_every_kind_of_value() -> None:
    assert cursor_sort_key("2024-01-02T00:00:00Z") == cursor_sort_key("2024-01-02T00:00:00+00:00")
    assert cursor_sort_key("2024-01-02T00:00:00") == cursor_sort_key("2024-01-02T00:00:00Z")
    assert cursor_sort_key("not a date") == (2, "not a date")
    assert cursor_sort_key(3) == (0, 3)
    assert cursor_sort_key(True) == (0, 1)
    assert cursor_sort_key(2.5) == (0, 2.5)
    assert cursor_sort_key({"a": 1}) == (3, '{"a": 1}')
