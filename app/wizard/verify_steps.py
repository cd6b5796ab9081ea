"""Wizard steps 4-7: test the connection, preview data, schedule, review and create."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JsonDict
from app.core.errors import ConsoleError
from app.core.formatting import format_value
from app.qt.aio import BackgroundOp
from app.qt.models import Column, DictTableModel
from app.wizard.base import StepPage
from app.wizard.flow import Created, finish, masked_configuration

if TYPE_CHECKING:
    from app.wizard.wizard import ConfigWizard

PREVIEW_LIMIT = 10
PREVIEW_COLUMNS = 8


def _table(model: DictTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return view


def check_columns() -> list[Column]:
    return [
        Column("name", "Check", lambda v: str(v or "").replace("_", " ")),
        Column("status", "Result", status_colors=True),
        Column("cause", "Cause"),
        Column("hint", "What to do"),
    ]


def summarize_test(result: JsonDict) -> str:
    items = result.get("items") or []
    failed = [i for i in items if i.get("status") == "failed"]
    latency = result.get("latency_ms")
    extra = f" in {latency:.0f} ms" if isinstance(latency, int | float) else ""
    version = result.get("server_api_version")
    if version:
        extra += f"; the system speaks API version {version}"
    if result.get("ok"):
        return f"All checks passed{extra}."
    return f"{len(failed)} of {len(items)} checks failed{extra}."


class TestPage(StepPage):
    step_title = "Test the connection"
    step_subtitle = "The agent connects with these settings: each check, its result and a hint."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.model = DictTableModel(check_columns(), parent=self, key="name")
        self.table = _table(self.model)
        self.table.setWordWrap(True)  # causes and hints are sentences: show them whole
        for column, width in enumerate((120, 70, 340)):
            self.table.setColumnWidth(column, width)
        self.summary = QLabel("")
        self.summary.setObjectName("TestSummary")
        self.summary.setWordWrap(True)
        self.again = QPushButton("Test again")
        self.again.clicked.connect(self.run_test)
        self.proceed_anyway = QCheckBox("Continue although the test failed")
        self.proceed_anyway.toggled.connect(lambda _c: self.completeChanged.emit())
        self.proceed_anyway.hide()
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.again)
        self.column.addLayout(row)
        self.column.addWidget(self.table, 1)
        self.column.addWidget(self.proceed_anyway)
        self.add_status_line()
        self.result: JsonDict | None = None

    def initializePage(self) -> None:  # noqa: N802
        self.run_test()

    def run_test(self) -> None:
        instance_id = self.wiz.draft.instance_id
        if instance_id is None or self.busy:
            return
        api = self.wiz.session.api()
        self.busy = True
        self.result = None
        self.model.set_rows([])
        self.summary.setText("Testing…")
        self.proceed_anyway.hide()
        self.say("")
        self.completeChanged.emit()

        def done(result: Any) -> None:
            self.busy = False
            self.result = result if isinstance(result, dict) else {}
            self.model.set_rows(self.result.get("items") or [])
            self.table.resizeRowsToContents()
            self.summary.setText(summarize_test(self.result))
            self.proceed_anyway.setVisible(not self.result.get("ok"))
            error = self.result.get("error")
            if isinstance(error, dict) and error.get("message"):
                hint = f"\nHint: {error['hint']}" if error.get("hint") else ""
                self.say(f"{error['message']}{hint}", error=True)
            self.completeChanged.emit()
            self.wiz.sig_step_done.emit("test")

        def failed(error: ConsoleError) -> None:
            self.busy = False
            self.summary.setText("The test could not run.")
            self.show_error(error)
            self.completeChanged.emit()

        BackgroundOp(self, lambda: api.post(f"/instances/{instance_id}/test"), done).failure(
            failed
        ).with_progress("Testing the connection…").run()

    @property
    def passed(self) -> bool:
        return bool(self.result and self.result.get("ok"))

    def isComplete(self) -> bool:  # noqa: N802
        if self.busy or self.result is None:
            return False
        return self.passed or self.proceed_anyway.isChecked()


def record_columns(records: list[JsonDict], limit: int = PREVIEW_COLUMNS) -> list[Column]:
    """The first ``limit`` keys seen across the records, as columns."""
    keys: list[str] = []
    for record in records:
        for key in record:
            if key not in keys:
                keys.append(key)
    return [Column(k, k, _cell) for k in keys[:limit]] or [Column("-", "(no records)")]


def _cell(value: Any) -> str:
    if isinstance(value, dict | list) and value:
        return json.dumps(value, default=str)[:80]
    return format_value(value)


class PreviewPage(StepPage):
    step_title = "Preview sample data"
    step_subtitle = "A few records as the system returns them, and as they will be stored."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.stream = QComboBox()
        self.stream.setObjectName("preview-stream")
        self.stream.setMinimumWidth(220)
        self.stream.activated.connect(lambda _i: self.load_preview())
        self.reload = QPushButton("Reload")
        self.reload.clicked.connect(self.load_preview)
        top = QHBoxLayout()
        top.addWidget(QLabel("Stream"))
        top.addWidget(self.stream)
        top.addWidget(self.reload)
        top.addStretch(1)
        self.column.addLayout(top)
        self.records = DictTableModel([Column("-", "(no records)")], parent=self)
        self.mapped = DictTableModel([Column("-", "(no mapping)")], parent=self)
        self.records_view = _table(self.records)
        self.mapped_view = _table(self.mapped)
        left, right = QWidget(), QWidget()
        for holder, title, view in (
            (left, "Records from the system", self.records_view),
            (right, "Mapped output", self.mapped_view),
        ):
            box = QVBoxLayout(holder)
            box.setContentsMargins(0, 0, 0, 0)
            caption = QLabel(title)
            caption.setObjectName("SectionTitle")
            box.addWidget(caption)
            box.addWidget(view, 1)
        self.records_caption = left.findChild(QLabel)
        self.mapped_caption = right.findChild(QLabel)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(left)
        splitter.addWidget(right)
        self.column.addWidget(splitter, 1)
        self.add_status_line()
        self.preview: JsonDict | None = None
        self.records_view.selectionModel().selectionChanged.connect(self._sync_selection)

    def _sync_selection(self, *_: Any) -> None:
        rows = self.records_view.selectionModel().selectedRows()
        if rows and rows[0].row() < self.mapped.rowCount():
            self.mapped_view.selectRow(rows[0].row())

    def initializePage(self) -> None:  # noqa: N802
        instance_id = self.wiz.draft.instance_id
        if instance_id is None:
            return
        api = self.wiz.session.api()

        def got(streams: Any) -> None:
            self.stream.clear()
            for stream in streams if isinstance(streams, list) else []:
                self.stream.addItem(str(stream.get("name")), stream.get("name"))
            self.load_preview()

        def failed(error: ConsoleError) -> None:
            self.show_error(error, "Streams: ")
            self.load_preview()

        BackgroundOp(self, lambda: api.get(f"/instances/{instance_id}/streams"), got).failure(
            failed
        ).with_progress("Discovering streams…").run()

    def load_preview(self) -> None:
        instance_id = self.wiz.draft.instance_id
        if instance_id is None:
            return
        api = self.wiz.session.api()
        body = {"stream": self.stream.currentData(), "limit": PREVIEW_LIMIT}
        self.say("Reading sample records…")

        def done(result: Any) -> None:
            self.show_preview(result if isinstance(result, dict) else {})
            self.wiz.sig_step_done.emit("preview")

        BackgroundOp(
            self, lambda: api.post(f"/instances/{instance_id}/preview", body), done
        ).failure(lambda e: self.show_error(e, "Preview: ")).with_progress(
            "Reading sample records…"
        ).run()

    def show_preview(self, result: JsonDict) -> None:
        self.preview = result
        records = [r for r in result.get("records") or [] if isinstance(r, dict)]
        mapped = [m if isinstance(m, dict) else {} for m in result.get("mapped") or []]
        self.records.columns = record_columns(records)
        self.records.set_rows(records)
        self.mapped.columns = record_columns([m for m in mapped if m])
        self.mapped.set_rows(mapped if any(mapped) else [])
        for view in (self.records_view, self.mapped_view):
            view.resizeColumnsToContents()  # headers readable; long values stay elided
            for column in range(view.model().columnCount()):
                view.setColumnWidth(column, min(view.columnWidth(column), 240))
        entity = result.get("entity_type")
        assert self.records_caption is not None
        assert self.mapped_caption is not None
        self.records_caption.setText(
            f"Records from the system — stream {result.get('stream')}, {len(records)} shown"
        )
        self.mapped_caption.setText(
            f"Mapped output — {entity} records"
            if entity
            else "Mapped output — this stream has no mapping yet"
        )
        errors = [e for row in result.get("mapping_errors") or [] for e in row or []]
        if errors:
            first = errors[0]
            detail = first.get("message") if isinstance(first, dict) else str(first)
            self.say(f"{len(errors)} mapping problems; the first: {detail}", error=True)
        elif not records:
            self.say("The stream returned no records (that is fine for an empty system).")
        else:
            self.say("")


class SchedulePage(StepPage):
    step_title = "Schedule"
    step_subtitle = "When should the agent sync? You can always sync by hand as well."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.manual = QRadioButton("Only when I start a sync")
        self.interval = QRadioButton("Every")
        self.cron = QRadioButton("On a cron schedule")
        self.on_event = QRadioButton("When an event arrives")
        self.group = QButtonGroup(self)
        self.minutes = QSpinBox()
        self.minutes.setRange(1, 525_600)
        self.minutes.setValue(60)
        self.minutes.setSuffix(" minutes")
        self.cron_text = QLineEdit("0 2 * * *")
        self.cron_text.setObjectName("cron-expression")
        self.cron_text.setPlaceholderText("minute hour day month weekday, e.g. 0 2 * * *")
        self.timezone = QLineEdit("UTC")
        self.timezone.setPlaceholderText("IANA zone, e.g. Europe/Berlin")
        self.event_type = QComboBox()
        self.event_type.setEditable(True)
        self.event_type.setMinimumWidth(240)
        self.errors = {
            "interval_minutes": QLabel(),
            "cron_expression": QLabel(),
            "timezone": QLabel(),
            "event_trigger": QLabel(),
        }
        for label in self.errors.values():
            label.setObjectName("FieldError")
            label.hide()
        grid = QGridLayout()
        grid.addWidget(self.manual, 0, 0, 1, 3)
        grid.addWidget(self.interval, 1, 0)
        grid.addWidget(self.minutes, 1, 1)
        grid.addWidget(self.errors["interval_minutes"], 2, 1, 1, 2)
        grid.addWidget(self.cron, 3, 0)
        grid.addWidget(self.cron_text, 3, 1)
        grid.addWidget(self.timezone, 3, 2)
        grid.addWidget(self.errors["cron_expression"], 4, 1)
        grid.addWidget(self.errors["timezone"], 4, 2)
        grid.addWidget(self.on_event, 5, 0)
        grid.addWidget(self.event_type, 5, 1, 1, 2)
        grid.addWidget(self.errors["event_trigger"], 6, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        for i, button in enumerate((self.manual, self.interval, self.cron, self.on_event)):
            self.group.addButton(button, i)
        self.group.idToggled.connect(lambda *_: self._changed())
        for widget in (self.minutes, self.cron_text, self.timezone):
            signal = widget.valueChanged if isinstance(widget, QSpinBox) else widget.textChanged
            signal.connect(lambda *_: self._changed())
        self.event_type.editTextChanged.connect(lambda *_: self._changed())
        self.column.addLayout(grid)
        self.column.addStretch(1)
        self.add_status_line()
        self.interval.setChecked(True)

    def initializePage(self) -> None:  # noqa: N802
        if self.event_type.count() == 0 and self.wiz.session.supports("GET", "/events/types"):
            api = self.wiz.session.api()

            def got(types: Any) -> None:
                for item in types if isinstance(types, list) else []:
                    self.event_type.addItem(str(item.get("type")))
                self.event_type.setEditText("")

            BackgroundOp(self, lambda: api.get("/events/types"), got).failure(lambda _e: None).run()
        self._changed()

    def choice_kind(self) -> str:
        return ("none", "interval", "cron", "event")[max(self.group.checkedId(), 0)]

    def _changed(self) -> None:
        choice = self.wiz.draft.schedule
        choice.kind = self.choice_kind()
        choice.interval_minutes = self.minutes.value()
        choice.cron_expression = self.cron_text.text()
        choice.timezone = self.timezone.text()
        choice.event_trigger = self.event_type.currentText()
        self.minutes.setEnabled(choice.kind == "interval")
        self.cron_text.setEnabled(choice.kind == "cron")
        self.timezone.setEnabled(choice.kind == "cron")
        self.event_type.setEnabled(choice.kind == "event")
        problems = choice.problems()
        titles = {
            "interval_minutes": "Interval",
            "cron_expression": "Cron expression",
            "timezone": "Time zone",
            "event_trigger": "Event type",
        }
        for key, label in self.errors.items():
            label.setText(f"{titles[key]}: {problems[key]}" if key in problems else "")
            label.setVisible(key in problems)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return super().isComplete() and not self.wiz.draft.schedule.problems()


class ReviewPage(StepPage):
    step_title = "Review and create"
    step_subtitle = "Create the schedule and activate the instance."

    def __init__(self, wizard: ConfigWizard) -> None:
        super().__init__(wizard)
        self.summary = QTextBrowser()
        self.summary.setObjectName("ReviewSummary")
        self.summary.setOpenLinks(False)
        self.activate = QCheckBox("Activate the instance now")
        self.activate.setChecked(True)
        self.sync_now = QCheckBox("Start a first sync right away")
        self.sync_now.setChecked(True)
        self.activate.toggled.connect(self.sync_now.setEnabled)
        options = QFormLayout()
        options.addRow(self.activate)
        options.addRow(self.sync_now)
        self.column.addWidget(self.summary, 1)
        self.column.addLayout(options)
        self.add_status_line()
        self.setFinalPage(True)
        self.setButtonText(self.wiz.WizardButton.FinishButton, "Create")

    def initializePage(self) -> None:  # noqa: N802
        self.summary.setHtml(self.review_html())

    def review_html(self) -> str:
        draft = self.wiz.draft
        connector = draft.connector or {}
        config = masked_configuration(draft.configuration, self.wiz.config_schema)
        options = draft.options
        test = self.wiz.test_page.result or {}
        rows = [
            ("Instance", draft.name),
            ("Connector", f"{connector.get('name')} ({connector.get('system_type')})"),
            ("Credential", draft.auth_config_name or "none"),
            ("Schedule", draft.schedule.describe()),
            (
                "Connection test",
                summarize_test(test) if test else "not run",
            ),
            (
                "Options",
                ", ".join(
                    [
                        "loopback allowed" if options.get("allow_loopback") else "no loopback",
                        "TLS verified" if options.get("verify_tls") else "TLS NOT verified",
                        f"timeout {options.get('http_timeout')} s",
                        f"rate limit {options.get('rate_limit_per_second') or 'none'}",
                    ]
                ),
            ),
        ]
        body = "".join(
            f"<tr><td style='padding:3px 12px 3px 0'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        config_text = html.escape(json.dumps(config, indent=2, default=str))
        return (
            f"<table>{body}</table><p><b>Configuration</b></p>"
            f"<pre style='font-family:DejaVu Sans Mono,monospace'>{config_text}</pre>"
        )

    def validatePage(self) -> bool:  # noqa: N802
        if self.consume_pass():
            return True
        draft = self.wiz.draft
        draft.activate = self.activate.isChecked()
        draft.sync_now = draft.activate and self.sync_now.isChecked()
        api = self.wiz.session.api()

        def done(created: Created) -> bool:
            self.wiz.created = created
            self.wiz.sig_created.emit(created)
            return True

        return self.run_then_advance(
            lambda: finish(api, draft), done, "Creating the integration…", self._failed
        )

    def _failed(self, error: ConsoleError) -> None:
        self.show_error(error, "Not created yet — ")
