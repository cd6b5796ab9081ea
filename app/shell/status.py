"""The connection indicator that lives in the status bar of the main window."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.core.connection import ConnectionState, ConnectionStatus
from app.qt.widgets import repolish

_TEXT = {
    ConnectionState.CONNECTING: "● Connecting",
    ConnectionState.CONNECTED: "● Connected",
    ConnectionState.DISCONNECTED: "● Disconnected",
    ConnectionState.UNAUTHORIZED: "● Not signed in",
}


class ConnectionIndicator(QWidget):
    """State dot and words, the full message as tooltip, and buttons for what to do next."""

    sig_retry_requested = Signal()
    sig_connect_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("● Not connected")
        self.label.setObjectName("ConnectionIndicator")
        self.label.setProperty("state", "disconnected")
        self.retry = QPushButton("Retry now")
        self.retry.setFlat(True)
        self.retry.clicked.connect(self.sig_retry_requested)
        self.sign_in = QPushButton("Sign in…")
        self.sign_in.setFlat(True)
        self.sign_in.clicked.connect(self.sig_connect_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.retry)
        layout.addWidget(self.sign_in)
        self.retry.hide()
        self.sign_in.hide()
        self._status: ConnectionStatus | None = None
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._render)

    @property
    def state(self) -> str:
        return str(self.label.property("state"))

    def set_status(self, status: ConnectionStatus | None) -> None:
        self._status = status
        state = status.state.value if status else "disconnected"
        if self.label.property("state") != state:
            self.label.setProperty("state", state)
            repolish(self.label)
        disconnected = status is not None and status.state is ConnectionState.DISCONNECTED
        self.retry.setVisible(disconnected)
        self.sign_in.setVisible(status is None or status.state is ConnectionState.UNAUTHORIZED)
        if disconnected:
            self._countdown.start()
        else:
            self._countdown.stop()
        self._render()

    def _render(self) -> None:
        status = self._status
        if status is None:
            self.label.setText("● Not connected")
            self.label.setToolTip("Connect to an agent with File → Connect (Ctrl+O)")
            return
        text = f"{_TEXT[status.state]} — {status.agent_url}"
        if status.state is ConnectionState.CONNECTED and status.principal:
            text += f" as {status.principal.get('name', '?')} ({status.role})"
        if status.state is ConnectionState.DISCONNECTED and status.retry_at is not None:
            left = max(0, round(status.retry_at - time.monotonic()))
            text += f" — retrying in {left} s" if left else " — retrying"
        self.label.setText(text)
        self.label.setToolTip(status.message)
