"""Base class of the sidebar's pages: reload when shown or when the agent comes back."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.core.connection import ConnectionState, ConnectionStatus
from app.qt.session import AgentSession


class Page(QWidget):
    """A page loads its data lazily: on first show, on F5, and after a reconnect."""

    title = "Page"
    shortcut_hint = ""

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._stale = True
        self._was_connected = False
        self.root = QVBoxLayout(self)
        self.root.setContentsMargins(16, 12, 16, 12)
        heading = QLabel(self.title)
        heading.setObjectName("PageTitle")
        self.root.addWidget(heading)
        session.sig_status_changed.connect(self._on_status)
        session.sig_agent_changed.connect(self._on_agent_changed)

    def activate(self) -> None:
        """The page became visible."""
        if self._stale and self.session.is_connected:
            self._stale = False
            self.refresh()

    def refresh(self) -> None:
        """Reload from the agent (override)."""

    def focus_search(self) -> None:
        """Ctrl+F: focus the page's search field, if any (override)."""

    def clear(self) -> None:
        """Forget data of the previous agent (override)."""

    def save_layout(self) -> None:
        """The window is closing: remember splitters and columns (override)."""

    def on_status(self, status: ConnectionStatus) -> None:
        """Connection status changed (override to enable/disable actions)."""

    def _on_agent_changed(self) -> None:
        self._stale = True
        self._was_connected = False
        self.clear()

    def _on_status(self, status: ConnectionStatus | None) -> None:
        if status is None:
            return
        connected = status.state is ConnectionState.CONNECTED
        if connected and not self._was_connected:
            self._stale = True
            if self.isVisible():
                self.activate()
        self._was_connected = connected
        self.on_status(status)


class PlaceholderPage(Page):
    """A page whose feature is not built yet; says so instead of looking broken."""

    def __init__(
        self, title: str, text: str, session: AgentSession, parent: QWidget | None = None
    ) -> None:
        self.title = title
        super().__init__(session, parent)
        label = QLabel(text)
        label.setObjectName("Hint")
        label.setWordWrap(True)
        self.root.addWidget(label)
        self.root.addStretch(1)
