"""Wizard steps 1-3: choose the connector, its credential, its connection parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JsonDict
from app.core.errors import ApiError, ConsoleError
from app.credentials.core import auth_title
from app.credentials.editor import CredentialEditor
from app.forms.widgets import SchemaForm
from app.library.widget import ConnectorLibrary
from app.wizard.base import Collapsible, StepPage
from app.wizard.flow import (
    DEFAULT_OPTIONS,
    credential_methods,
    matching_credentials,
    needs_credential,
    save_draft,
    suggest_name,
)

if TYPE_CHECKING:
    from app.wizard.wizard import ConfigWizard


class ChooseConnectorPage(StepPage):
    step_title = "Choose a connector"
    step_subtitle = "Pick the system to connect. Search by name, vendor or what it reads."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.library = ConnectorLibrary()
        self.library.sig_selected.connect(lambda _row: self.completeChanged.emit())
        self.library.sig_activated.connect(lambda _row: self.wiz.next())
        self.details = QLabel("")
        self.details.setObjectName("Hint")
        self.details.setWordWrap(True)
        self.library.sig_selected.connect(self._describe)
        self.column.addWidget(self.library, 1)
        self.column.addWidget(self.details)
        self.add_status_line()

    def _describe(self, row: JsonDict | None) -> None:
        if row is None:
            self.details.clear()
            return
        methods = ", ".join(auth_title(str(m)) for m in row.get("auth_methods") or [])
        self.details.setText(
            f"<b>{row.get('name')}</b> {row.get('version') or ''} — {row.get('description') or ''}"
            f"<br>Sign-in: {methods or 'none'}"
        )

    def isComplete(self) -> bool:  # noqa: N802
        row = self.library.selected()
        return super().isComplete() and row is not None and row.get("available") is not False

    def validatePage(self) -> bool:  # noqa: N802
        if self.consume_pass():
            return True
        row = self.library.selected()
        if row is None:
            return False
        api = self.wiz.session.api()

        async def load() -> JsonDict:
            return dict(await api.get(f"/connectors/{row['id']}/schema"))

        def loaded(schema: JsonDict) -> bool:
            self.wiz.set_connector(row, schema.get("config_schema") or {})
            return True

        return self.run_then_advance(load, loaded, f"Loading the {row.get('name')} settings…")

    def nextId(self) -> int:  # noqa: N802
        from app.wizard.wizard import Step  # noqa: PLC0415 - circular at import time

        row = self.library.selected()
        if row is not None and not needs_credential(row):
            return Step.PARAMETERS
        return Step.CREDENTIALS


class CredentialPage(StepPage):
    step_title = "Sign-in"
    step_subtitle = "Use a stored credential, or create one. Secrets go to the agent's vault."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.use_existing = QRadioButton("Use a stored credential")
        self.create_new = QRadioButton("Create a new credential")
        self.no_credential = QRadioButton("No credential (the system needs none)")
        self.group = QButtonGroup(self)
        for button in (self.use_existing, self.create_new, self.no_credential):
            self.group.addButton(button)
            button.toggled.connect(self._mode_changed)
        self.existing = QComboBox()
        self.existing.setObjectName("existing-credential")
        self.existing.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())
        self.editor = CredentialEditor(())
        self.editor.sig_changed.connect(self.completeChanged.emit)
        self.column.addWidget(self.use_existing)
        self.column.addWidget(self.existing)
        self.column.addWidget(self.create_new)
        self.column.addWidget(self.editor, 1)
        self.column.addWidget(self.no_credential)
        self.add_status_line()

    def initializePage(self) -> None:  # noqa: N802
        connector = self.wiz.draft.connector or {}
        methods = credential_methods(connector)
        self.editor.set_methods(methods)
        if not self.editor.name.text():
            self.editor.name.setText(f"{connector.get('name')} credential")
        stored = matching_credentials(self.wiz.credentials, connector)
        self.existing.clear()
        for row in stored:
            used = ", ".join(r["name"] for r in row.get("used_by") or [])
            label = f"{row['name']} — {auth_title(str(row['auth_type']))}"
            self.existing.addItem(label + (f" (used by {used})" if used else ""), row)
        self.use_existing.setEnabled(bool(stored))
        self.no_credential.setVisible("none" in (connector.get("auth_methods") or []))
        wanted = self.wiz.draft.auth_config_id
        index = next((i for i, r in enumerate(stored) if r["id"] == wanted), -1)
        if index >= 0:
            self.existing.setCurrentIndex(index)
            self.use_existing.setChecked(True)
        elif stored:
            self.use_existing.setChecked(True)
        else:
            self.create_new.setChecked(True)
        self._mode_changed()

    def _mode_changed(self, *_: Any) -> None:
        self.existing.setEnabled(self.use_existing.isChecked())
        self.editor.setEnabled(self.create_new.isChecked())
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        if self.use_existing.isChecked():
            return super().isComplete() and self.existing.currentData() is not None
        return super().isComplete() and (
            self.create_new.isChecked() or self.no_credential.isChecked()
        )

    def validatePage(self) -> bool:  # noqa: N802
        if self.consume_pass():
            return True
        draft = self.wiz.draft
        if self.no_credential.isChecked():
            draft.auth_config_id, draft.auth_config_name = None, ""
            return True
        if self.use_existing.isChecked():
            row = self.existing.currentData()
            draft.auth_config_id, draft.auth_config_name = str(row["id"]), str(row["name"])
            return True
        if not self.editor.validate():
            self.say("Fix the fields marked in red first.", error=True)
            return False

        def created(row: JsonDict) -> bool:
            self.editor.clear_secrets()
            self.wiz.credentials.append(row)
            draft.auth_config_id, draft.auth_config_name = str(row["id"]), str(row["name"])
            self.say(f"Created the credential {row['name']}.")
            self.create_new.setChecked(False)
            self.initializePage()  # it is a stored credential now
            return True

        return self.run_then_advance(
            lambda: self.editor.create_in(self.wiz.session),
            created,
            "Creating the credential…",
            on_failure=self.editor.show_error,
        )


class ParametersPage(StepPage):
    step_title = "Connection parameters"
    step_subtitle = "Fields marked * are required. Problems show under the field as you type."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.name = QLineEdit()
        self.name.setObjectName("instance-name")
        self.name.textChanged.connect(self._name_changed)
        self.name_error = QLabel()
        self.name_error.setObjectName("FieldError")
        self.name_error.hide()
        head = QFormLayout()
        name_box = QVBoxLayout()
        name_box.setSpacing(2)
        name_box.addWidget(self.name)
        name_box.addWidget(self.name_error)
        head.addRow("Instance name *", name_box)
        self.column.addLayout(head)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.column.addWidget(self.scroll_area, 1)
        self.form: SchemaForm | None = None
        self._form_for: str | None = None

        advanced = QWidget()
        grid = QFormLayout(advanced)
        self.allow_loopback = QCheckBox("Allow connecting to this machine (127.0.0.1 / ::1)")
        self.verify_tls = QCheckBox("Verify TLS certificates")
        self.rate_limit = QDoubleSpinBox()
        self.rate_limit.setRange(0, 10_000)
        self.rate_limit.setDecimals(1)
        self.rate_limit.setSpecialValueText("no limit")
        self.rate_limit.setSuffix(" requests/s")
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setSuffix(" s")
        grid.addRow(self.allow_loopback)
        grid.addRow(self.verify_tls)
        grid.addRow("Rate limit", self.rate_limit)
        grid.addRow("HTTP timeout", self.timeout)
        self.advanced = Collapsible("Advanced options", advanced)
        self.column.addWidget(self.advanced)
        self.add_status_line()

    def initializePage(self) -> None:  # noqa: N802
        draft = self.wiz.draft
        connector = draft.connector or {}
        if self._form_for != draft.connector_id or self.form is None:
            self.form = SchemaForm(self.wiz.config_schema)
            self.form.set_value(draft.configuration)
            self.form.sig_changed.connect(self.completeChanged.emit)
            holder = QWidget()
            box = QVBoxLayout(holder)
            box.setContentsMargins(0, 0, 8, 0)
            box.addWidget(self.form)
            box.addStretch(1)
            self.scroll_area.setWidget(holder)
            self._form_for = draft.connector_id
        if not self.name.text():
            self.name.setText(draft.name or suggest_name(connector, self.wiz.instance_names))
        options = {**DEFAULT_OPTIONS, **draft.options}
        self.allow_loopback.setChecked(bool(options["allow_loopback"]))
        self.verify_tls.setChecked(bool(options["verify_tls"]))
        self.rate_limit.setValue(float(options["rate_limit_per_second"] or 0))
        self.timeout.setValue(float(options["http_timeout"] or 30))

    def _name_changed(self, text: str) -> None:
        if text.strip():
            self.name_error.hide()
        self.completeChanged.emit()

    def options(self) -> JsonDict:
        rate = self.rate_limit.value()
        return {
            "allow_loopback": self.allow_loopback.isChecked(),
            "verify_tls": self.verify_tls.isChecked(),
            "rate_limit_per_second": rate if rate > 0 else None,
            "http_timeout": self.timeout.value(),
        }

    def validatePage(self) -> bool:  # noqa: N802
        if self.consume_pass():
            return True
        assert self.form is not None
        ok = self.form.validate()
        if not self.name.text().strip():
            self.name_error.setText("Instance name: is required")
            self.name_error.show()
            ok = False
        if not ok:
            self.say("Fix the fields marked in red first.", error=True)
            return False
        draft = self.wiz.draft
        draft.name = self.name.text().strip()
        draft.configuration = self.form.value()
        draft.options = self.options()
        api = self.wiz.session.api()

        def saved(row: JsonDict) -> bool:
            self.say(f"Saved as a draft ({row.get('status')}).")
            return True

        return self.run_then_advance(
            lambda: save_draft(api, draft), saved, "Saving the draft instance…", self.show_api_error
        )

    def show_api_error(self, error: ConsoleError) -> None:
        """``configuration.x`` errors under field x, ``name`` under the name."""
        if isinstance(error, ApiError) and self.form is not None:
            for item in error.errors:
                field = item.field.removeprefix("body.")
                if field == "name":
                    self.name_error.setText(f"Instance name: {item.message}")
                    self.name_error.show()
                elif field.startswith("configuration."):
                    try:
                        editor = self.form.editor(field.removeprefix("configuration."))
                    except KeyError:
                        continue
                    editor.show_error(f"{editor.spec.title}: {item.message}")
                elif field.startswith("options."):
                    self.advanced.set_expanded(True)
        self.show_error(error)
