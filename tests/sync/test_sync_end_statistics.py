"""A small sync's end skips the statistics check below the floor ``refresh_statistics``
itself never analyses under: the check would find nothing to do, after a query of its own."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from server.db.engine import make_session_factory
from server.sync import store
from tests.support.api import Api
from tests.support.record_source import Source, generic_rest_config, serve_source


def test_no_analyze_at_or_below_the_floor(api: Api) -> None:
    if api.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no ANALYZE step here")
    with make_session_factory(api.engine)() as session:
        # An empty table (no rows, an estimate of 0 or -1): the fewest rows written are
        # enough to analyse it, except at or below the floor.
        session.execute(text("TRUNCATE evidence_records CASCADE"))
        session.commit()
        assert not store.refresh_statistics(session, store.ANALYZE_FLOOR)
        session.rollback()
        assert store.refresh_statistics(session, store.ANALYZE_FLOOR + 1)
        session.rollback()


@pytest.mark.parametrize(("size", "checked"), [(200, False), (1200, True)])
def test_the_engine_checks_statistics_only_past_the_floor(
        api: Api, size: int, checked: bool) -> None:
    """A full refresh of a few records (one batch, its end) sends no statistics query; one
    past the floor still does, and its records are all stored either way."""
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    with serve_source(Source(size)) as url:
        instance = api.create_instance("Directory API", "generic-rest",
                                       generic_rest_config(url, page=1000))
        event.listen(api.engine, "before_cursor_execute", note)
        try:
            done = api.sync(instance["id"], timeout=300)
        finally:
            event.remove(api.engine, "before_cursor_execute", note)
    assert done["status"] == "completed", done["error_details"]
    assert done["stats"]["created"] == size
    expected = checked and api.engine.dialect.name == "postgresql"
    assert any("reltuples" in s for s in seen) == expected
