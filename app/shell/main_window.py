"""The console's main window: sidebar, pages, error banner, status bar, shortcuts."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.connect.dialog import ConnectDialog
from app.core.connection import ConnectionState, ConnectionStatus
from app.core.profiles import ProfileStore, TokenStore
from app.instances.view import InstancesPage
from app.qt import layout
from app.qt.aio import BackgroundOp, progress_hub
from app.qt.session import AgentSession
from app.qt.theme import THEMES, apply_theme, current_theme
from app.qt.widgets import Banner, BusyIndicator
from app.shell.page import Page
from app.shell.pages import build_pages
from app.shell.status import ConnectionIndicator

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Owns the `AgentSession`; pages get it and never talk to each other directly."""

    sig_closed = Signal()

    def __init__(
        self,
        session: AgentSession | None = None,
        *,
        profiles: ProfileStore | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("SimpleTrust Integrations")
        self.session = session or AgentSession(self)
        self.profiles = profiles or ProfileStore()
        self.tokens = tokens or TokenStore()
        self.connect_dialog: ConnectDialog | None = None

        self.nav = QListWidget()
        self.nav.setObjectName("Sidebar")
        self.nav.setFixedWidth(190)
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.stack = QStackedWidget()
        self.pages: list[Page] = build_pages(self.session, self)
        for number, page in enumerate(self.pages, start=1):
            self.nav.addItem(page.title)
            item = self.nav.item(number - 1)
            item.setToolTip(f"{page.title} (Ctrl+{number})")
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self.show_page)

        self.banner = Banner()
        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(8, 8, 8, 0)
        column.addWidget(self.banner)
        column.addWidget(self.stack, 1)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(center, 1)
        self.setCentralWidget(body)

        self.indicator = ConnectionIndicator()
        self.indicator.sig_retry_requested.connect(self.session.retry_now)
        self.indicator.sig_connect_requested.connect(self.open_connect_dialog)
        self.busy = BusyIndicator(progress_hub())
        self.statusBar().addWidget(self.indicator, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.session.sig_status_changed.connect(self._on_status)
        progress_hub().sig_failed.connect(self.show_error)

        self._build_menus()
        self.resize(1200, 780)
        layout.restore_window(self)
        self.nav.setCurrentRow(0)

    # -- navigation ------------------------------------------------------------------------

    @property
    def current_page(self) -> Page:
        page = self.stack.currentWidget()
        assert isinstance(page, Page)
        return page

    def show_page(self, index: int) -> None:
        if not 0 <= index < len(self.pages):
            return
        if self.nav.currentRow() != index:
            self.nav.setCurrentRow(index)  # re-enters through currentRowChanged
            return
        self.stack.setCurrentIndex(index)
        self.pages[index].activate()

    def page(self, page_type: type[Page]) -> Page:
        return next(p for p in self.pages if isinstance(p, page_type))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Connect to agent…", "Ctrl+O", self.open_connect_dialog)
        self._action(file_menu, "&New integration…", "Ctrl+N", self.open_wizard)
        self._action(file_menu, "&Retry connection now", "Ctrl+R", self.session.retry_now)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        view = bar.addMenu("&View")
        for number, page in enumerate(self.pages, start=1):
            self._action(
                view, page.title, f"Ctrl+{number}", lambda *_, n=number: self.show_page(n - 1)
            )
        view.addSeparator()
        self._action(view, "&Refresh", QKeySequence.StandardKey.Refresh, self.refresh_current)
        self._action(view, "&Find", QKeySequence.StandardKey.Find, self._focus_search)
        self._action(view, "Toggle &dark theme", "Ctrl+Shift+L", self.toggle_theme)
        self._action(view, "Dismiss message", "Esc", self.banner.hide)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", "F1", self._show_shortcuts)

    def _action(
        self,
        menu: object,
        text: str,
        shortcut: str | QKeySequence.StandardKey,
        slot: object,
    ) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)  # type: ignore[attr-defined]
        self.addAction(action)  # the shortcut works even when the menu bar is hidden
        return action

    def _show_shortcuts(self) -> None:
        lines = [f"Ctrl+{n}\t{p.title}" for n, p in enumerate(self.pages, start=1)]
        lines += [
            "Ctrl+O\tConnect to an agent",
            "Ctrl+N\tNew integration (the configuration wizard)",
            "Ctrl+R\tRetry the connection now",
            "F5\tRefresh the page",
            "Ctrl+F\tSearch on the page",
            "Ctrl+Shift+L\tLight / dark theme",
            "Esc\tDismiss the message",
        ]
        box = QMessageBox(
            QMessageBox.Icon.Information, "Keyboard shortcuts", "\n".join(lines), parent=self
        )
        box.open()

    def open_wizard(self) -> None:
        """Ctrl+N: the configuration wizard (from the Instances page, which then reloads)."""
        if self.session.is_connected:
            page = self.page(InstancesPage)
            assert isinstance(page, InstancesPage)
            page.open_new_wizard()

    def refresh_current(self) -> None:
        if self.session.is_connected:
            self.current_page.refresh()

    def _focus_search(self) -> None:
        self.current_page.focus_search()

    def toggle_theme(self) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        name = THEMES[(THEMES.index(current_theme()) + 1) % len(THEMES)]
        apply_theme(app, name)
        layout.set_preference("theme", name)

    # -- connection ------------------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        self.banner.show_message(f"{title} failed", message)

    def _on_status(self, status: ConnectionStatus | None) -> None:
        self.indicator.set_status(status)
        if status is None:
            return
        if status.state is ConnectionState.UNAUTHORIZED:
            self.banner.show_message("Not signed in", status.message, tag="connection")
        elif status.state is ConnectionState.CONNECTED and self.banner.tag == "connection":
            self.banner.hide()

    def open_connect_dialog(self, initial_url: str | None = None) -> ConnectDialog:
        """Open the (window-modal, non-blocking) connect dialog."""
        if self.connect_dialog is not None and self.connect_dialog.isVisible():
            self.connect_dialog.raise_()
            return self.connect_dialog
        url = initial_url if isinstance(initial_url, str) else None
        if url is None and self.session.client is not None:
            url = self.session.client.agent_url
        dialog = ConnectDialog(self.profiles, self.tokens, self, initial_url=url)
        dialog.sig_connect_requested.connect(self._connect_from_dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.connect_dialog = dialog
        dialog.open()
        return dialog

    def _connect_from_dialog(self, _name: str, url: str, token: str) -> None:
        self.connect_to(url, token)

    def connect_to(self, url: str, token: str | None) -> None:
        """Switch to an agent (asynchronously); the indicator follows its state."""
        self.banner.hide()
        BackgroundOp(self, lambda: self.session.open(url, token)).with_progress("Connecting…").run()

    def start(self, agent_url: str | None = None) -> None:
        """First action after showing: connect where we can, else ask."""
        if agent_url:
            token = self.tokens.get(agent_url)
            if token:
                self.connect_to(agent_url, token)
            else:
                self.open_connect_dialog(agent_url)
            return
        last = self.profiles.last()
        token = self.tokens.get(last.url) if last else None
        if last is not None and token:
            self.connect_to(last.url, token)
        else:
            self.open_connect_dialog()

    async def shutdown(self) -> None:
        """Close the agent connection (call before the loop stops)."""
        await self.session.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        layout.save_window(self)
        for page in self.pages:
            page.save_layout()
        super().closeEvent(event)
        self.sig_closed.emit()
