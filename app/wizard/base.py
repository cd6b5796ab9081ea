"""What every wizard step shares: an error/status line and "validate, then go on" over the
network without blocking (QWizard's ``validatePage`` is synchronous, the agent is not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QToolButton, QVBoxLayout, QWidget, QWizardPage

from app.core.errors import ApiError, ConsoleError
from app.qt.aio import BackgroundOp
from app.qt.widgets import repolish

if TYPE_CHECKING:
    from app.wizard.wizard import ConfigWizard

T = TypeVar("T")


class StepPage(QWizardPage):
    """A wizard page with a status line and asynchronous validation."""

    step_title = ""
    step_subtitle = ""

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle(self.step_title)
        self.setSubTitle(self.step_subtitle)
        self.column = QVBoxLayout(self)
        self.status = QLabel("")
        self.status.setObjectName("Hint")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()
        self._passed = False
        self.busy = False

    def add_status_line(self) -> None:
        self.column.addWidget(self.status)

    def say(self, text: str, *, error: bool = False) -> None:
        """Show a status (or, with ``error``, a problem) line under the page."""
        self.status.setText(text)
        self.status.setObjectName("FieldError" if error else "Hint")
        repolish(self.status)
        self.status.setVisible(bool(text))

    def show_error(self, error: ConsoleError, what: str = "") -> None:
        text = error.user_message()
        if isinstance(error, ApiError):
            text = error.title + (f": {error.detail}" if error.detail else "")
            if error.errors:
                text += "\n" + "\n".join(f"  - {e}" for e in error.errors)
        self.say(f"{what}{text}" if what else text, error=True)

    def run_then_advance(
        self,
        op: Callable[[], Awaitable[T]],
        on_success: Callable[[T], bool],
        label: str,
        on_failure: Callable[[ConsoleError], None] | None = None,
    ) -> bool:
        """For ``validatePage``: start ``op``; when it succeeds and ``on_success`` agrees,
        move on (``validatePage`` runs again and `consume_pass` lets it through).

        Returns False, what validatePage returns while the operation runs.
        """
        if self.busy:
            return False
        self.busy = True
        self.say(label)
        self.completeChanged.emit()

        def ok(result: T) -> None:
            self.busy = False
            self.completeChanged.emit()
            if on_success(result):
                self._passed = True
                if self.wiz.currentPage() is self:
                    if self.isFinalPage():
                        self.wiz.accept()
                    else:
                        self.wiz.next()
                self._passed = False

        def failed(error: ConsoleError) -> None:
            self.busy = False
            self.completeChanged.emit()
            (on_failure or self.show_error)(error)

        BackgroundOp(self, op, ok).failure(failed).with_progress(label).run()
        return False

    def consume_pass(self) -> bool:
        """True once after `run_then_advance` succeeded: validatePage should return True."""
        passed, self._passed = self._passed, False
        return passed

    def isComplete(self) -> bool:  # noqa: N802
        return not self.busy and super().isComplete()


class Collapsible(QWidget):
    """A header button that shows and hides its content ("Advanced options")."""

    def __init__(self, title: str, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self.set_expanded)
        self.content = content
        frame = QFrame()
        frame.setObjectName("CollapsibleBody")
        body = QVBoxLayout(frame)
        body.setContentsMargins(18, 0, 0, 0)
        body.addWidget(content)
        self.frame = frame
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.toggle)
        column.addWidget(frame)
        frame.hide()

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, expanded: Any) -> None:
        if self.toggle.isChecked() != bool(expanded):
            self.toggle.setChecked(bool(expanded))
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.frame.setVisible(bool(expanded))
