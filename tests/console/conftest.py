"""Fixtures for the console tests: offscreen Qt, a qasync loop per test, isolated keyring.

qasync inside pytest-qt: each test gets a fresh ``qasync.QEventLoop(qapp)`` installed as the
current asyncio loop. ``arun(coro)`` runs a coroutine with the Qt event loop spinning
(``run_until_complete`` calls ``QApplication.exec``), so widgets repaint, QTimers fire and
network callbacks arrive exactly as in the running console. At teardown, tasks still pending
are cancelled and awaited before the loop closes, so nothing is destroyed while pending.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import pytest
import qasync
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.core.connection import Backoff
from app.core.profiles import ProfileStore, TokenStore
from app.qt.session import AgentSession
from app.shell.main_window import MainWindow

from .real_agent import RealAgent, start_agent
from .stub_agent import StubAgent

T = TypeVar("T")
Runner = Callable[..., Any]


def _free_qt_objects_here() -> None:
    """Destroy unreachable Qt wrappers now, on the GUI thread.

    A widget caught in a reference cycle is otherwise freed by whichever thread next runs
    Python's cycle collector: in a later, Qt-free test that is a server or worker thread,
    and a QWidget destroyed there crashes the process (seen in CI: a segfault in the first
    test after this package).
    """
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()


@pytest.fixture(autouse=True)
def qt_garbage_on_gui_thread(qapp: QApplication) -> Iterator[None]:
    """Set up before (so torn down after) qtbot and the windows: collect on this thread."""
    yield
    _free_qt_objects_here()


@pytest.fixture
def qloop(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[qasync.QEventLoop]:
    """A qasync loop that counts as running for the whole test.

    ``already_running=True`` marks it running (as inside ``QApplication.exec``), so
    coroutines step whenever Qt processes events: inside `arun`, in ``qtbot.wait*`` and in
    the ``processEvents`` calls pytest-qt makes between test phases. (A loop that is only
    running inside ``run_until_complete`` breaks there: a health poll stepping in
    pytest-qt's teardown finds no running loop.)
    """
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            _spin_until(asyncio.gather(*pending, return_exceptions=True), 10.0)
        # stop() calls QApplication.exit(), which would make every later QEventLoop.exec()
        # (qtbot.waitSignal) return at once; the pytest-qt docs patch it out the same way.
        monkeypatch.setattr(QApplication, "exit", lambda *_: None)
        loop.stop()
        loop.close()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


def _spin_until(awaitable: Awaitable[T], timeout: float) -> asyncio.Future[T]:
    """Run a nested Qt event loop (a real one, as in the console) until the awaitable ends."""
    future = asyncio.ensure_future(awaitable)
    if not future.done():
        spinner = QEventLoop()
        future.add_done_callback(lambda _f: spinner.quit())
        # An owned timer, stopped before the loop object goes: a QTimer.singleShot aimed at
        # `spinner` would fire after it was freed and crash a later test.
        guard = QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(spinner.quit)
        guard.start(int(timeout * 1000))
        spinner.exec()
        guard.stop()
    return future


@pytest.fixture
def arun(qloop: qasync.QEventLoop) -> Callable[..., Any]:
    """``arun(coro, timeout=15)``: run a coroutine with the Qt event loop spinning."""

    def run(awaitable: Awaitable[T], timeout: float = 15.0) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(timeout):
                return await awaitable

        future = _spin_until(bounded(), timeout + 5.0)
        if not future.done():
            future.cancel()
            raise TimeoutError(f"the test coroutine did not finish in {timeout} s")
        return future.result()

    return run


async def wait_until(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``predicate`` (UI state has no event to wait on) while the loop keeps running."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - polling widget state on purpose
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keyring, QSettings, profiles and the agent data dir all under tmp_path."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    # the console (like the agent) trusts keyrings.alt only when chosen explicitly
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("SIMPLETRUST_DATA_DIR", str(tmp_path / "agent-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    try:
        yield tmp_path
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def make_window(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path
) -> Iterator[Callable[[], MainWindow]]:
    """Main windows with quick polling and backoff, closed (connection too) at teardown."""
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        session = AgentSession(
            poll_interval=0.3, backoff=Backoff(initial=0.1, maximum=0.5), timeout=5
        )
        window = MainWindow(
            session, profiles=ProfileStore(tmp_path / "profiles"), tokens=TokenStore()
        )
        session.setParent(window)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        arun(window.shutdown())


@pytest.fixture
def stub_agent() -> Iterator[StubAgent]:
    agent = StubAgent().start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def real_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAgent]:
    """The real agent with one File Import instance that has synced once, and one that
    fails (its folder does not exist)."""
    base = tmp_path_factory.mktemp("agent")
    files = base / "files"
    files.mkdir()
    (files / "users.csv").write_text("id,name\n1,Ada\n2,Grace\n", encoding="utf-8")
    agent = start_agent(base / "data")
    try:
        connectors = agent.call("GET", "/connectors?limit=100")["items"]
        file_import = next(c for c in connectors if c["key"] == "file-import")
        for name, folder in (("hr-files", files), ("broken-files", base / "missing")):
            instance = agent.call(
                "POST",
                "/instances",
                {
                    "name": name,
                    "connector_id": file_import["id"],
                    "configuration": {"folder": str(folder)},
                },
            )
            agent.call("POST", f"/instances/{instance['id']}/activate")
            run = agent.call("POST", f"/instances/{instance['id']}/sync", {})
            agent.wait_sync(run["id"])
        yield agent
    finally:
        agent.stop()
