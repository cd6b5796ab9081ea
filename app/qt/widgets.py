"""Small widgets shared by the pages: banners, tiles, the busy indicator, field errors."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import ApiError, ConsoleError
from app.qt.aio import ProgressHub


def repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property used in QSS changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    for child in widget.findChildren(QWidget):
        style.unpolish(child)
        style.polish(child)


class Banner(QFrame):
    """A dismissable message strip at the top of a page or the window."""

    def __init__(self, object_name: str = "ErrorBanner", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss (Esc)")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        self.tag = ""
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, title: str, message: str, *, tag: str = "") -> None:
        """Show a message; ``tag`` lets the owner hide it again when its cause is gone."""
        self.tag = tag
        self.label.setText(f"<b>{_escape(title)}</b><br>{_escape(message)}".replace("\n", "<br>"))
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class BusyIndicator(QWidget):
    """An indeterminate bar and label, shown while any operation runs longer than ``delay``."""

    def __init__(self, hub: ProgressHub, parent: QWidget | None = None, delay_ms: int = 200):
        super().__init__(parent)
        self.setObjectName("BusyIndicator")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setFixedWidth(110)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._hub = hub
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._show_if_busy)
        hub.sig_busy_changed.connect(self._on_busy)
        hub.sig_label_changed.connect(self.label.setText)
        self.setVisible(False)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._timer.start()
        else:
            self._timer.stop()
            self.setVisible(False)

    def _show_if_busy(self) -> None:
        if self._hub.busy:
            self.label.setText(self._hub.label)
            self.setVisible(True)


class Tile(QFrame):
    """A number with a caption; ``level`` (ok/warn/bad/idle) colors the number."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Tile")
        self.value = QLabel("-")
        self.value.setObjectName("TileValue")
        self.caption = QLabel(title)
        self.caption.setObjectName("TileTitle")
        self.note = QLabel("")
        self.note.setObjectName("Hint")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.note)
        self.setMinimumWidth(130)

    def set_value(self, value: str, level: str = "idle", note: str = "") -> None:
        self.value.setText(value)
        self.note.setText(note)
        if self.property("level") != level:
            self.setProperty("level", level)
            repolish(self)


def show_field_errors(
    error: ConsoleError, labels: Mapping[str, QLabel], general: QLabel | None = None
) -> None:
    """Put each field's message under its input; the rest (and the summary) in ``general``."""
    for label in labels.values():
        label.clear()
        label.hide()
    leftover: list[str] = []
    if isinstance(error, ApiError):
        for item in error.errors:
            target = labels.get(item.field)
            if target is not None:
                target.setText(f"{item.field}: {item.message}")
                target.show()
            else:
                leftover.append(str(item))
        summary = error.title + (f": {error.detail}" if error.detail else "")
    else:
        summary = error.user_message()
    if general is not None:
        general.setText("\n".join([summary, *leftover]))
        general.show()
