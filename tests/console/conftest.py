"""Fixtures for the console tests: offscreen Qt, a qasync loop per test, isolated keyring.

qasync inside pytest-qt: each test gets a fresh ``qasync.QEventLoop(qapp)`` installed as the
current asyncio loop. ``arun(coro)`` runs a coroutine with the Qt event loop spinning
(``run_until_complete`` calls ``QApplication.exec``), so widgets repaint, QTimers fire and
network callbacks arrive exactly as in the running console. At teardown, tasks still pending
are cancelled and awaited before the loop closes, so nothing is destroyed while pending.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import pytest
import qasync
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from .stub_agent import StubAgent

T = TypeVar("T")
Runner = Callable[..., Any]


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def arun(qloop: qasync.QEventLoop) -> Callable[..., Any]:
    """``arun(coro, timeout=10)``: run a coroutine on the Qt loop and return its result."""

    def run(awaitable: Awaitable[T], timeout: float = 15.0) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(timeout):
                return await awaitable

        return qloop.run_until_complete(bounded())  # type: ignore[no-any-return]

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
def stub_agent() -> Iterator[StubAgent]:
    agent = StubAgent().start()
    try:
        yield agent
    finally:
        agent.stop()
