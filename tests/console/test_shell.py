"""The main window against a loopback stub agent: connect, navigate, slow agent, lost agent,
problem+json errors on screen."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer

from app.core.connection import ConnectionState
from app.instances.view import InstancesPage
from app.logs.view import LogsPage
from app.qt.aio import BackgroundOp
from app.shell.main_window import MainWindow

from .conftest import wait_until
from .stub_agent import StubAgent


async def _connected(window: MainWindow, stub: StubAgent) -> None:
    window.connect_to(stub.url, stub.token)
    await wait_until(lambda: window.session.is_connected)


def test_connects_and_shows_state_and_pages(
    make_window: Callable[[], MainWindow],
    stub_agent: StubAgent,
    arun: Callable[..., Any],
    qtbot: Any,
) -> None:
    window = make_window()
    assert window.indicator.state == "disconnected"  # nothing chosen yet

    async def scenario() -> None:
        await _connected(window, stub_agent)
        assert window.indicator.state == "connected"
        assert "as admin (admin)" in window.indicator.label.text()
        window.activateWindow()
        await wait_until(window.isActiveWindow)  # shortcuts go to the active window
        qtbot.keyClick(window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
        logs = window.page(LogsPage)
        assert window.current_page is logs
        await wait_until(lambda: logs.model.rowCount() == 120)
        assert logs.instance_box.count() == 6  # "All" + five instances
        qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
        instances = window.page(InstancesPage)
        await wait_until(lambda: instances.model.rowCount() == 5)
        await wait_until(lambda: all(r.get("last_sync") for r in instances.model.rows))

    arun(scenario())


def test_ui_stays_responsive_while_the_agent_is_slow(
    make_window: Callable[[], MainWindow], stub_agent: StubAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()
    instances = window.page(InstancesPage)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))

    async def scenario() -> tuple[float, bool]:
        await _connected(window, stub_agent)
        window.show_page(window.pages.index(instances))
        await wait_until(lambda: instances.model.rowCount() == 5)
        stub_agent.delay = 1.5  # every authenticated request now takes 1.5 s
        timer.start()
        started = time.monotonic()
        instances.refresh()
        await wait_until(window.busy.isVisible, 1.0)  # the indicator appears
        indicator_after = time.monotonic() - started
        label_ok = "Loading instances" in window.busy.label.text()
        await wait_until(lambda: not window.busy.isVisible(), 15)
        timer.stop()
        return indicator_after, label_ok

    indicator_after, label_ok = arun(scenario(), timeout=30)
    assert indicator_after < 1.0
    assert label_ok
    duration = ticks[-1] - ticks[0]
    assert duration >= 2.5  # the load really took its time (1.5 s list + 1.5 s statuses)
    # a blocked GUI thread would leave gaps as long as a request: the loop kept ticking
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.5
    assert len(ticks) > duration / 0.05


def test_losing_the_agent_shows_disconnected_and_recovers(
    make_window: Callable[[], MainWindow], arun: Callable[..., Any]
) -> None:
    stub = StubAgent().start()
    window = make_window()
    logs = window.page(LogsPage)

    async def scenario() -> None:
        await _connected(window, stub)
        window.show_page(window.pages.index(logs))
        await wait_until(lambda: logs.model.rowCount() == 120)
        stub.stop()
        await wait_until(lambda: window.indicator.state == "disconnected")
        assert window.indicator.retry.isVisible()
        assert "Disconnected" in window.indicator.label.text()
        assert "Cannot reach the agent" in window.indicator.label.toolTip()
        await asyncio.sleep(0.5)
        stub.add_log(None, "info", "agent.start", "agent restarted")
        stub.start()  # same port, as after an agent restart
        await wait_until(lambda: window.indicator.state == "connected", 10)
        assert not window.indicator.retry.isVisible()
        await wait_until(lambda: logs.model.rowCount() == 121)  # reloaded by itself

    try:
        arun(scenario(), timeout=30)
    finally:
        stub.stop()


def test_bad_token_shows_not_signed_in(
    make_window: Callable[[], MainWindow], stub_agent: StubAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()

    async def scenario() -> None:
        window.connect_to(stub_agent.url, "not-the-token")
        await wait_until(lambda: window.indicator.state == "unauthorized")
        assert window.banner.isVisible()
        assert "refused the token" in window.banner.text
        assert window.indicator.sign_in.isVisible()
        window.session.set_token(stub_agent.token)
        await wait_until(lambda: window.session.is_connected)
        assert not window.banner.isVisible()

    arun(scenario())
    assert window.session.status is not None
    assert window.session.status.state is ConnectionState.CONNECTED


def test_problem_json_error_is_shown_with_its_fields(
    make_window: Callable[[], MainWindow], stub_agent: StubAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()

    async def scenario() -> None:
        await _connected(window, stub_agent)
        api = window.session.api()
        BackgroundOp(window, lambda: api.post("/instances", {"name": ""})).with_progress(
            "Creating the instance…"
        ).run()
        await wait_until(window.banner.isVisible)

    arun(scenario())
    text = window.banner.text
    assert "Creating the instance failed" in text
    assert "Unprocessable" in text
    assert "name: must not be empty" in text
    assert "connector_id: is required" in text
    assert stub_agent.token not in text
