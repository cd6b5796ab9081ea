"""Choose or add an agent profile and sign in to it.

Tokens are never shown: the field is masked and stays empty when a token is already stored
(the placeholder says so). Every field error is shown under its field, in words.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import DEFAULT_AGENT_URL, ApiClient, normalize_agent_url
from app.core.errors import ConsoleError
from app.core.profiles import AgentProfile, ProfileStore, TokenStore
from app.qt.aio import BackgroundOp
from app.qt.models import Column, DictTableModel
from app.qt.widgets import show_field_errors


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("FieldError")
    label.setWordWrap(True)
    label.hide()
    return label


class ConnectDialog(QDialog):
    """Emits `sig_connect_requested(name, url, token)` when the user connects."""

    sig_connect_requested = Signal(str, str, str)

    def __init__(
        self,
        profiles: ProfileStore,
        tokens: TokenStore,
        parent: QWidget | None = None,
        *,
        initial_url: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to an agent")
        self.setMinimumWidth(720)
        self.profiles = profiles
        self.tokens = tokens

        self._build_table()
        form = self._build_form()
        buttons = self._build_buttons()
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.message)
        right.addStretch(1)
        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Saved agents"))
        left.addWidget(self.table)
        top.addLayout(left, 2)
        top.addLayout(right, 3)
        root = QVBoxLayout(self)
        if profiles.load_error:
            warning = QLabel(profiles.load_error)
            warning.setObjectName("FieldError")
            warning.setWordWrap(True)
            root.addWidget(warning)
        root.addLayout(top)
        root.addWidget(buttons)
        self._prefill(initial_url)

    def _build_table(self) -> None:
        profiles = self.profiles
        self.model = DictTableModel(
            [Column("name", "Profile"), Column("url", "Agent URL")],
            [asdict(p) for p in profiles.list()],
            self,
            key="name",
        )
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selected)
        self.table.doubleClicked.connect(lambda *_: self._connect())

    def _build_form(self) -> QFormLayout:

        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Local agent")
        self.url = QLineEdit()
        self.url.setPlaceholderText(DEFAULT_AGENT_URL)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("Remember the token in the OS keyring")
        secure = TokenStore.is_secure()
        self.remember.setChecked(secure)
        self.remember.setEnabled(secure)
        keyring_note = QLabel(
            f"Token storage: {TokenStore.backend_name()}"
            if secure
            else "No OS keyring here: a typed token is kept for this session only."
        )
        keyring_note.setObjectName("Hint")
        keyring_note.setWordWrap(True)
        self.errors = {"name": _error_label(), "url": _error_label(), "token": _error_label()}
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Profile name", self.name)
        form.addRow("", self.errors["name"])
        form.addRow("Agent URL", self.url)
        form.addRow("", self.errors["url"])
        form.addRow("Token", self.token)
        form.addRow("", self.errors["token"])
        form.addRow("", self.remember)
        form.addRow("", keyring_note)
        return form

    def _build_buttons(self) -> QDialogButtonBox:

        self.test_button = QPushButton("&Test")
        self.test_button.clicked.connect(self._test)
        self.delete_button = QPushButton("&Delete profile")
        self.delete_button.clicked.connect(self._delete)
        buttons = QDialogButtonBox()
        self.connect_button = buttons.addButton("&Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.connect_button.setProperty("primary", True)
        self.connect_button.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.accepted.connect(self._connect)
        buttons.rejected.connect(self.reject)
        return buttons

    def _prefill(self, initial_url: str | None) -> None:
        profiles = self.profiles
        self.url.textChanged.connect(self._update_token_hint)
        last = profiles.last()
        if initial_url:
            self.name.setText("Local agent")
            self.url.setText(initial_url)
            match = next((p for p in profiles.list() if p.url == _safe_url(initial_url)), None)
            if match:
                self.name.setText(match.name)
        elif last is not None:
            self._select(last.name)
        else:
            self.name.setText("Local agent")
            self.url.setText(DEFAULT_AGENT_URL)
        self._update_token_hint()

    # -- profile list ----------------------------------------------------------------------

    def _select(self, name: str) -> None:
        for row, data in enumerate(self.model.rows):
            if data["name"] == name:
                self.table.selectRow(row)
                return

    def _on_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        row = self.model.row_at(indexes[0].row())
        self.name.setText(row["name"])
        self.url.setText(row["url"])
        self.token.clear()

    def _update_token_hint(self) -> None:
        url = _safe_url(self.url.text())
        stored = url is not None and self.tokens.get(url) is not None
        self.token.setPlaceholderText(
            "(a token is stored for this agent; type one to replace it)"
            if stored
            else "paste the agent's API token"
        )

    def _delete(self) -> None:
        name = self.name.text().strip()
        profile = self.profiles.get(name)
        if profile is None:
            self.message.setText(f"Profile name: there is no saved profile {name!r}")
            return
        self.profiles.remove(name)
        self.model.set_rows([asdict(p) for p in self.profiles.list()])
        self.message.setText(f"Deleted profile {name!r} (its token stays in the keyring).")

    # -- validation, test, connect ---------------------------------------------------------

    def _validated(self) -> tuple[AgentProfile, str] | None:
        for label in self.errors.values():
            label.hide()
        self.message.clear()
        try:
            profile = AgentProfile(self.name.text() or " ", self.url.text())
        except ValueError as exc:
            text = str(exc)
            field = "url" if text.startswith("Agent URL") else "name"
            self.errors[field].setText(text)
            self.errors[field].show()
            return None
        token = self.token.text().strip() or self.tokens.get(profile.url) or ""
        if not token:
            self.errors["token"].setText(
                "Token: required — none is stored for this agent. The agent prints its admin "
                "token on first start; `simpletrust token create` makes more."
            )
            self.errors["token"].show()
            return None
        return profile, token

    def _test(self) -> None:
        checked = self._validated()
        if checked is None:
            return
        profile, token = checked
        self.message.setText("Testing…")
        self.test_button.setEnabled(False)

        async def probe() -> tuple[dict[str, Any], dict[str, Any]]:
            client = ApiClient(profile.url, token, timeout=10)
            try:
                return await client.health(), await client.me()
            finally:
                await client.aclose()

        def done(result: tuple[dict[str, Any], dict[str, Any]]) -> None:
            health, me = result
            self.test_button.setEnabled(True)
            self.message.setText(
                f"✔ Agent {health.get('version', '?')} is {health.get('status', '?')}; "
                f"the token belongs to {me.get('name', '?')} ({me.get('role', '?')})."
            )

        def failed(error: ConsoleError) -> None:
            self.test_button.setEnabled(True)
            self.errors["token"].hide()
            show_field_errors(error, {}, self.message)
            if getattr(error, "is_auth_error", False):
                self.errors["token"].setText("Token: the agent refused it (401)")
                self.errors["token"].show()

        BackgroundOp(self, probe, done).failure(failed).with_progress("Testing the agent…").run()

    def _connect(self) -> None:
        checked = self._validated()
        if checked is None:
            return
        profile, token = checked
        typed = self.token.text().strip()
        self.profiles.save(profile)
        if typed and self.remember.isChecked():
            self.tokens.set(profile.url, typed)
        elif typed:
            self.tokens.set_session(profile.url, typed)
        self.sig_connect_requested.emit(profile.name, profile.url, token)
        self.accept()


def _safe_url(text: str) -> str | None:
    try:
        return normalize_agent_url(text)
    except ValueError:
        return None
