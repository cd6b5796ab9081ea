"""A sync shortens the GIL switch interval while it runs (its writer thread then waits less
for the read loop after each PostgreSQL round trip) and puts it back when the last one ends."""

from __future__ import annotations

import sys

from server.sync import engine


def test_the_switch_interval_is_short_while_any_sync_runs_and_restored_after() -> None:
    before = sys.getswitchinterval()
    assert before > engine.SWITCH_INTERVAL  # the interpreter's default, 5 ms
    with engine._SwitchInterval.short():
        assert sys.getswitchinterval() == engine.SWITCH_INTERVAL
        with engine._SwitchInterval.short():  # a second, concurrent sync
            assert sys.getswitchinterval() == engine.SWITCH_INTERVAL
        assert sys.getswitchinterval() == engine.SWITCH_INTERVAL  # the first still runs
    assert sys.getswitchinterval() == before
