"""Typing a new credential: name, method, the method's fields (generated), optional expiry.

Used by the Credentials page's "New credential" dialog and by the wizard's sign-in step.
Secret inputs are password fields; after "Create" the typed values are cleared from the form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JsonDict
from app.core.errors import ApiError, ConsoleError
from app.credentials.core import auth_title, create_credential, credential_schema
from app.forms.widgets import SchemaForm
from app.qt.aio import BackgroundOp
from app.qt.session import AgentSession

ALL_METHODS = (
    "api_key",
    "basic",
    "bearer",
    "oauth2_client_credentials",
    "oauth2_authorization_code",
    "jwt_bearer",
    "certificate",
    "aws",
    "ldap_bind",
)


class CredentialEditor(QWidget):
    """Name, method and fields of a credential to create."""

    sig_changed = Signal()

    def __init__(self, methods: Sequence[str] = ALL_METHODS, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = QLineEdit()
        self.name.setObjectName("credential-name")
        self.name.setPlaceholderText("e.g. GitHub PAT (acme-corp)")
        self.name.textChanged.connect(self._changed)
        self.name_error = QLabel()
        self.name_error.setObjectName("FieldError")
        self.name_error.hide()
        self.method = QComboBox()
        self.method.setObjectName("credential-method")
        self.expires = QCheckBox("Expires")
        self.expiration = QDateTimeEdit(QDateTime.currentDateTime().addDays(90))
        self.expiration.setCalendarPopup(True)
        self.expiration.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.expiration.setEnabled(False)
        self.expires.toggled.connect(self.expiration.setEnabled)
        head = QFormLayout()
        name_box = QVBoxLayout()
        name_box.setSpacing(2)
        name_box.addWidget(self.name)
        name_box.addWidget(self.name_error)
        head.addRow("Name *", name_box)
        head.addRow("Method", self.method)
        expiry = QHBoxLayout()
        expiry.addWidget(self.expires)
        expiry.addWidget(self.expiration, 1)
        head.addRow("Expiry", expiry)
        self.general_error = QLabel()
        self.general_error.setObjectName("FieldError")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.form_area = QScrollArea()
        self.form_area.setWidgetResizable(True)
        self.form_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.form: SchemaForm | None = None
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(head)
        column.addWidget(self.form_area, 1)
        column.addWidget(self.general_error)
        self.set_methods(methods)
        self.method.currentIndexChanged.connect(self._rebuild)

    def set_methods(self, methods: Sequence[str]) -> None:
        self.method.blockSignals(True)
        self.method.clear()
        for method in methods:
            self.method.addItem(auth_title(method), method)
        self.method.blockSignals(False)
        self._rebuild()

    @property
    def auth_type(self) -> str:
        return str(self.method.currentData() or "")

    def _rebuild(self, *_: Any) -> None:
        if not self.auth_type:
            return
        self.form = SchemaForm(credential_schema(self.auth_type))
        self.form.sig_changed.connect(self._changed)
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 6, 0, 0)
        box.addWidget(self.form)
        box.addStretch(1)
        self.form_area.setWidget(holder)
        self._changed()

    def _changed(self) -> None:
        self.general_error.hide()
        if self.name.text().strip():
            self.name_error.hide()
        self.sig_changed.emit()

    def validate(self) -> bool:
        """Show every problem under its field; True when the credential can be created."""
        ok = True
        if not self.name.text().strip():
            self.name_error.setText("Name: is required")
            self.name_error.show()
            ok = False
        if self.form is not None and not self.form.validate():
            ok = False
        return ok

    def expiration_value(self) -> dt.datetime | None:
        if not self.expires.isChecked():
            return None
        value = self.expiration.dateTime().toPython()
        assert isinstance(value, dt.datetime)
        return value.astimezone()

    def show_error(self, error: ConsoleError) -> None:
        """API errors under the fields they name (``credentials.password`` -> Password)."""
        leftover: list[str] = []
        if isinstance(error, ApiError):
            for item in error.errors:
                field = item.field.removeprefix("body.")
                if field == "name":
                    self.name_error.setText(f"Name: {item.message}")
                    self.name_error.show()
                    continue
                key = field.removeprefix("credentials.")
                if self.form is not None and key != field:
                    try:
                        editor = self.form.editor(key)
                    except KeyError:
                        pass
                    else:
                        editor.show_error(f"{editor.spec.title}: {item.message}")
                        continue
                leftover.append(str(item))
            summary = error.title + (f": {error.detail}" if error.detail else "")
        else:
            summary = error.user_message()
        self.general_error.setText("\n".join([summary, *leftover]))
        self.general_error.show()

    def clear_secrets(self) -> None:
        """Forget what was typed into secret fields (after it went to the agent)."""
        if self.form is None:
            return
        for editor in self.form.all_editors():
            if editor.spec.secret and isinstance(editor.input, QLineEdit):
                editor.input.clear()

    async def create_in(self, session: AgentSession) -> JsonDict:
        assert self.form is not None
        return await create_credential(
            session.api(),
            self.name.text(),
            self.auth_type,
            self.form.value(),
            self.expiration_value(),
        )


class CredentialDialog(QDialog):
    """ "New credential": the editor and Create / Cancel; ``sig_created(row)`` on success."""

    sig_created = Signal(object)

    def __init__(
        self,
        session: AgentSession,
        parent: QWidget | None = None,
        methods: Sequence[str] = ALL_METHODS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New credential")
        self.session = session
        self.editor = CredentialEditor(methods)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        create_button.setText("Create")
        create_button.setProperty("primary", True)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        note = QLabel(
            "Secrets are sent to the agent's vault and never shown again; the list shows "
            "only their last characters."
        )
        note.setObjectName("Hint")
        note.setWordWrap(True)
        column = QVBoxLayout(self)
        column.addWidget(self.editor, 1)
        column.addWidget(note)
        column.addWidget(self.buttons, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(560, 560)

    def submit(self) -> None:
        if not self.editor.validate():
            return
        self.buttons.setEnabled(False)

        def done(row: JsonDict) -> None:
            self.editor.clear_secrets()
            self.sig_created.emit(row)
            self.accept()

        def failed(error: ConsoleError) -> None:
            self.buttons.setEnabled(True)
            self.editor.show_error(error)

        BackgroundOp(self, lambda: self.editor.create_in(self.session), done).failure(
            failed
        ).with_progress("Creating the credential…").run()
