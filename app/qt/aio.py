"""One way to run network work from the UI: a coroutine on the qasync loop.

The rule (after Anki's QueryOp): the coroutine does I/O and returns plain data; it never
touches widgets. ``success`` and ``failure`` run afterwards on the GUI thread, and only while
the parent widget is still alive. Failures reach the user: by default through
`ProgressHub.sig_failed`, which the main window shows as an error banner.

Example::

    BackgroundOp(self, lambda: client.list_all("/instances"), self.model.set_rows) \\
        .with_progress("Loading instances…").run()

Never call ``QDialog.exec()`` from a coroutine (it would re-enter the asyncio loop inside a
running task); open dialogs with ``open()`` and react to their signals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Self, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from app.core.errors import ConsoleError

log = logging.getLogger(__name__)
T = TypeVar("T")


def event_loop() -> asyncio.AbstractEventLoop:
    """The running loop, or the qasync loop installed with ``asyncio.set_event_loop``."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class ProgressHub(QObject):
    """Counts operations in flight so one indicator can show "busy" for all of them."""

    sig_busy_changed = Signal(bool)
    sig_label_changed = Signal(str)
    sig_failed = Signal(str, str)  # what was being done, the readable error

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._active: dict[int, str] = {}
        self._next = 0

    @property
    def busy(self) -> bool:
        return bool(self._active)

    @property
    def label(self) -> str:
        return next(reversed(self._active.values()), "") if self._active else ""

    def begin(self, label: str) -> int:
        self._next += 1
        was_busy = self.busy
        self._active[self._next] = label
        if not was_busy:
            self.sig_busy_changed.emit(True)
        self.sig_label_changed.emit(self.label)
        return self._next

    def end(self, ticket: int) -> None:
        if self._active.pop(ticket, None) is None:
            return
        self.sig_label_changed.emit(self.label)
        if not self._active:
            self.sig_busy_changed.emit(False)

    def report_failure(self, what: str, error: ConsoleError) -> None:
        self.sig_failed.emit(what, error.user_message())


_hub: ProgressHub | None = None


def progress_hub() -> ProgressHub:
    """The application-wide hub (created on first use, owned by the QApplication)."""
    global _hub  # noqa: PLW0603 - one per process, like the QApplication itself
    if _hub is None or not shiboken6.isValid(_hub):
        _hub = ProgressHub(QApplication.instance())
    return _hub


class BackgroundOp(Generic[T]):
    """Run ``op()`` on the event loop; call ``success(result)`` or report the failure."""

    def __init__(
        self,
        parent: QObject | None,
        op: Callable[[], Awaitable[T]],
        success: Callable[[T], None] | None = None,
    ) -> None:
        self._parent = parent
        self._op = op
        self._success = success
        self._failure: Callable[[ConsoleError], None] | None = None
        self._label: str | None = None
        self._what = "The operation"
        self.task: asyncio.Task[None] | None = None

    def failure(self, callback: Callable[[ConsoleError], None]) -> Self:
        """Handle errors yourself instead of the default error banner."""
        self._failure = callback
        return self

    def with_progress(self, label: str) -> Self:
        """Show ``label`` with the busy indicator while the coroutine runs."""
        self._label = label
        self._what = label.rstrip("…. ")
        return self

    def run(self) -> asyncio.Task[None]:
        self.task = task = event_loop().create_task(self._run())
        if self._parent is not None:
            # Cancel with the widget; the link is dropped again when the task ends.
            link = self._parent.destroyed.connect(lambda *_: task.cancel())
            parent = self._parent
            task.add_done_callback(
                lambda _t: QObject.disconnect(link) if shiboken6.isValid(parent) else None
            )
        return task

    def _alive(self) -> bool:
        return self._parent is None or shiboken6.isValid(self._parent)

    async def _run(self) -> None:
        hub = progress_hub()
        ticket = hub.begin(self._label) if self._label is not None else None
        try:
            result = await self._op()
        except ConsoleError as exc:
            self._fail(exc)
        except Exception as exc:
            # A bug, not a network failure: keep the traceback in the log, tell the user.
            log.exception("%s failed", self._what)
            self._fail(ConsoleError(f"Internal error ({type(exc).__name__}); see the log."))
        else:
            if self._success is not None and self._alive():
                self._success(result)
        finally:
            if ticket is not None:
                hub.end(ticket)

    def _fail(self, error: ConsoleError) -> None:
        if not self._alive():
            return
        if self._failure is not None:
            self._failure(error)
        else:
            progress_hub().report_failure(self._what, error)
