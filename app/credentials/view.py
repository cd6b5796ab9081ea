"""The Credentials page: every credential with its method, masked secrets, expiry and users.

Actions: new (typed secrets go to the agent's vault), test (optionally against a probe URL),
refresh (OAuth tokens), and browser sign-in for OAuth authorization-code credentials. The
browser opener is an attribute (``open_browser``) so tests can drive the sign-in.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QWidget,
)

from app.core.api import JsonDict
from app.core.errors import ConsoleError
from app.core.formatting import format_relative, format_timestamp
from app.credentials.core import (
    OAUTH_SIGN_IN,
    credential_test_summary,
    decorate,
    expiry_warnings,
    oauth_sign_in,
)
from app.credentials.editor import CredentialDialog
from app.qt import layout
from app.qt.aio import BackgroundOp
from app.qt.models import ROW_ROLE, Column, DictTableModel, SearchProxy, selected_row
from app.qt.session import AgentSession
from app.qt.widgets import Banner
from app.shell.page import Page


def credential_columns() -> list[Column]:
    return [
        Column("name", "Name"),
        Column("auth_title", "Method"),
        Column("fields_text", "Fields (secrets masked)"),
        Column(
            "expiry_state",
            "Expiry",
            lambda v: str(v) if v else "no expiry",
            status_colors=True,
            tooltip=lambda r: format_timestamp(r.get("expiration")) or "no expiry set",
        ),
        Column(
            "last_used",
            "Last used",
            format_relative,
            tooltip=lambda r: format_timestamp(r.get("last_used")),
        ),
        Column("used_by_text", "Used by"),
    ]


class CredentialsPage(Page):
    title = "Credentials"

    sig_loaded = Signal(int)
    sig_tested = Signal(bool, str)  # ok, readable result
    sig_signed_in = Signal(object)  # the updated credential row

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.open_browser: Callable[[str], object] = webbrowser.open
        self.sign_in_wait_seconds = 300.0
        self.warnings = Banner("WarningBanner")
        self.root.addWidget(self.warnings)
        self.model = DictTableModel(credential_columns(), parent=self)
        self.proxy = SearchProxy(self.model, self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search credentials (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_search)
        self.root.addWidget(self.search)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((170, 170, 260, 100, 90)):
            self.table.setColumnWidth(column, width)
        layout.restore_header(header, "credentials")
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.result = QLabel("")
        self.result.setObjectName("Hint")
        self.result.setWordWrap(True)
        splitter = QSplitter()
        splitter.setOrientation(splitter.orientation().Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.result)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        self.root.addWidget(splitter, 1)
        self._build_actions()
        self.dialog: CredentialDialog | None = None
        self._update_actions()

    def _build_actions(self) -> None:
        actions = QHBoxLayout()
        self.count_label = QLabel("")
        self.count_label.setObjectName("Hint")
        self.probe = QLineEdit()
        self.probe.setPlaceholderText(
            "Probe URL for Test (optional), e.g. https://api.github.com/user"
        )
        self.new_button = QPushButton("&New credential…")
        self.test_button = QPushButton("&Test")
        self.refresh_button = QPushButton("Re&fresh token")
        self.sign_in_button = QPushButton("Sign in with &browser…")
        self.new_button.clicked.connect(self.open_new_dialog)
        self.test_button.clicked.connect(self.test_selected)
        self.refresh_button.clicked.connect(self.refresh_selected)
        self.sign_in_button.clicked.connect(self.sign_in_selected)
        actions.addWidget(self.count_label)
        actions.addWidget(self.probe, 1)
        for button in (self.test_button, self.refresh_button, self.sign_in_button, self.new_button):
            actions.addWidget(button)
        self.root.addLayout(actions)

    # -- loading -----------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()

    def clear(self) -> None:
        self.model.set_rows([])
        self.warnings.hide()
        self.result.clear()

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        BackgroundOp(
            self,
            lambda: api.list_all("/auth-configs", page_size=200, max_items=5000),
            self.show_rows,
        ).with_progress("Loading credentials…").run()

    def show_rows(self, rows: list[JsonDict]) -> None:
        selected = self.selected()
        self.model.set_rows(decorate(rows))
        self.count_label.setText(f"{len(rows)} credentials")
        warnings = expiry_warnings(rows)
        if warnings:
            self.warnings.show_message(
                f"{len(warnings)} credential{'s' if len(warnings) > 1 else ''} need attention",
                "\n".join(warnings),
                tag="expiry",
            )
        else:
            self.warnings.hide()
        if selected is not None:
            self.select_name(str(selected.get("name")))
        self._update_actions()
        self.sig_loaded.emit(len(rows))

    def selected(self) -> JsonDict | None:
        return selected_row(self.table)

    def select_name(self, name: str) -> bool:
        for row in range(self.proxy.rowCount()):
            data = self.proxy.data(self.proxy.index(row, 0), ROW_ROLE)
            if isinstance(data, dict) and data.get("name") == name:
                self.table.selectRow(row)
                return True
        return False

    def on_status(self, status: Any) -> None:
        self._update_actions()

    def _update_actions(self, *_: Any) -> None:
        row = self.selected()
        writable = self.session.is_connected and self.session.role in ("admin", "operator")
        self.new_button.setEnabled(writable)
        self.test_button.setEnabled(writable and row is not None)
        oauth = row is not None and str(row.get("auth_type", "")).startswith("oauth2_")
        self.refresh_button.setEnabled(writable and oauth)
        self.sign_in_button.setEnabled(
            writable and row is not None and row.get("auth_type") == OAUTH_SIGN_IN
        )
        self.sign_in_button.setToolTip(
            "Opens your browser to sign in; the refresh token goes to the agent's vault."
        )

    # -- actions -------------------------------------------------------------------------------

    def open_new_dialog(self) -> CredentialDialog:
        dialog = CredentialDialog(self.session, self)
        dialog.sig_created.connect(self._created)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _created(self, row: JsonDict) -> None:
        self.result.setText(f"Created {row.get('name')}.")
        self.refresh()

    def _show_result(self, ok: bool, text: str) -> None:
        self.result.setText(text)
        self.result.setObjectName("Hint" if ok else "FieldError")
        self.result.style().unpolish(self.result)
        self.result.style().polish(self.result)

    def test_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        api = self.session.api()
        probe = self.probe.text().strip() or None

        def done(answer: Any) -> None:
            ok, text = credential_test_summary(answer if isinstance(answer, dict) else {})
            self._show_result(ok, f"Test of {row.get('name')}: {text}")
            self.sig_tested.emit(ok, text)
            self.refresh()

        BackgroundOp(
            self, lambda: api.post(f"/auth-configs/{row['id']}/test", {"probe_url": probe}), done
        ).with_progress(f"Testing {row.get('name')}…").run()

    def refresh_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        api = self.session.api()

        def done(answer: Any) -> None:
            refreshed = isinstance(answer, dict) and answer.get("refreshed")
            expires = answer.get("expires_at") if isinstance(answer, dict) else None
            text = "token refreshed" if refreshed else "no refresh was needed or possible"
            if isinstance(expires, int | float):
                import datetime as dt  # noqa: PLC0415

                text += f"; valid until {dt.datetime.fromtimestamp(expires):%Y-%m-%d %H:%M}"
            self._show_result(bool(refreshed), f"{row.get('name')}: {text}")
            self.refresh()

        BackgroundOp(
            self, lambda: api.post(f"/auth-configs/{row['id']}/refresh"), done
        ).with_progress(f"Refreshing {row.get('name')}…").run()

    def sign_in_selected(self) -> None:
        """Browser sign-in; asks for the client secret again if the client has one."""
        row = self.selected()
        if row is None:
            return
        if "client_secret" in (row.get("secret_hints") or {}):
            ask = QInputDialog(self)
            ask.setWindowTitle("Client secret")
            ask.setLabelText(
                f"{row.get('name')} is a confidential client: type its client secret for the "
                "code exchange (it is not stored by the console)."
            )
            ask.setTextEchoMode(QLineEdit.EchoMode.Password)
            ask.textValueSelected.connect(lambda secret: self.start_sign_in(row, secret))
            ask.open()
            return
        self.start_sign_in(row)

    def start_sign_in(self, row: JsonDict, client_secret: str | None = None) -> None:
        api = self.session.api()
        self._show_result(True, f"Finish the sign-in for {row.get('name')} in your browser…")

        def done(updated: JsonDict) -> None:
            self._show_result(True, f"Signed in: {updated.get('name')} now has a refresh token.")
            self.sig_signed_in.emit(updated)
            self.refresh()

        def failed(error: ConsoleError) -> None:
            self._show_result(False, error.user_message())

        BackgroundOp(
            self,
            lambda: oauth_sign_in(
                api,
                row,
                client_secret=client_secret or None,
                open_browser=self.open_browser,
                wait_seconds=self.sign_in_wait_seconds,
            ),
            done,
        ).failure(failed).with_progress("Waiting for the browser sign-in…").run()

    def save_layout(self) -> None:
        layout.save_header(self.table.horizontalHeader(), "credentials")
