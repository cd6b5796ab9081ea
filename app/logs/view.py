"""The logs page.

Filters become `/logs` query parameters (the agent filters, not the console). The first page
loads newest first; "Load older" follows the cursor. Live tail asks every two seconds for
entries at or after the newest one shown and puts new ones on top.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QWidget,
)

from app.core.api import JsonDict, Page
from app.core.errors import ConsoleError
from app.core.formatting import format_timestamp, parse_timestamp
from app.core.logs import LOG_TYPES, LogFilter, write_csv, write_json
from app.qt import layout
from app.qt.aio import BackgroundOp
from app.qt.models import ROW_ROLE, Column, DictTableModel
from app.qt.session import AgentSession
from app.shell.page import Page as BasePage

PAGE_SIZE = 200
TAIL_INTERVAL_MS = 2000
EXPORT_LIMIT = 50_000
RANGES = [
    ("Last hour", dt.timedelta(hours=1)),
    ("Last 24 hours", dt.timedelta(days=1)),
    ("Last 7 days", dt.timedelta(days=7)),
    ("Last 30 days", dt.timedelta(days=30)),
    ("All time", None),
    ("Custom…", "custom"),
]


class LogsPage(BasePage):
    title = "Logs"

    sig_loaded = Signal(int)  # rows shown after a (re)load
    sig_tail_added = Signal(int)  # rows added by one live-tail poll
    sig_exported = Signal(str, int)  # path, rows

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.instance_names: dict[str, str] = {}
        self.next_cursor: str | None = None
        self._known_ids: set[str] = set()
        self._tail_busy = False
        self._generation = 0  # results of superseded loads are dropped

        self.model = DictTableModel(
            [
                Column("timestamp", "Time", format_timestamp),
                Column("log_type", "Type", status_colors=True),
                Column("operation", "Operation"),
                Column("instance_id", "Instance", self._instance_name),
                Column("message", "Message"),
            ],
            parent=self,
            max_rows=20_000,
        )
        self.tail_timer = QTimer(self)
        self.tail_timer.setInterval(TAIL_INTERVAL_MS)
        self.tail_timer.timeout.connect(self.tail_once)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(350)
        self.search_timer.timeout.connect(self.refresh)
        self._build_filters()
        self._build_body()
        self._build_footer()

    # -- building ---------------------------------------------------------------------------

    def _build_filters(self) -> None:
        row = QHBoxLayout()
        self.instance_box = QComboBox()
        self.instance_box.setMinimumWidth(160)
        self.instance_box.addItem("All instances", None)
        self.instance_box.setToolTip("Instance")
        self.type_boxes: dict[str, QCheckBox] = {}
        for log_type in LOG_TYPES:
            box = QCheckBox(log_type)
            box.setToolTip(f"Show {log_type} entries (none checked = all)")
            box.toggled.connect(self.refresh)
            self.type_boxes[log_type] = box
        self.operation = QLineEdit()
        self.operation.setPlaceholderText("operation, e.g. instance")
        self.operation.setClearButtonEnabled(True)
        self.operation.setMaximumWidth(190)
        self.range_box = QComboBox()
        for label, value in RANGES:
            self.range_box.addItem(label, value)
        self.range_box.setCurrentIndex(4)
        self.since_edit = QDateTimeEdit(QDateTime.currentDateTime().addDays(-1))
        self.until_edit = QDateTimeEdit(QDateTime.currentDateTime())
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.hide()
            edit.dateTimeChanged.connect(self._debounce)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search messages (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.instance_box.currentIndexChanged.connect(self.refresh)
        self.range_box.currentIndexChanged.connect(self._on_range)
        self.operation.textChanged.connect(self._debounce)
        self.search.textChanged.connect(self._debounce)
        row.addWidget(self.instance_box)
        for box in self.type_boxes.values():
            row.addWidget(box)
        row.addWidget(self.operation)
        row.addWidget(self.range_box)
        row.addWidget(self.since_edit)
        row.addWidget(self.until_edit)
        row.addWidget(self.search, 1)
        self.root.addLayout(row)

    def _build_body(self) -> None:
        self.table = QTableView()
        self.table.setObjectName("LogsTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((150, 70, 150, 140)):
            self.table.setColumnWidth(column, width)
        layout.restore_header(header, "logs")
        self.table.selectionModel().selectionChanged.connect(self._on_selected)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("JsonView")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select an entry to see its structured details.")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout.restore_splitter(self.splitter, "logs")
        self.root.addWidget(self.splitter, 1)

    def _build_footer(self) -> None:
        row = QHBoxLayout()
        self.count_label = QLabel("")
        self.count_label.setObjectName("Hint")
        self.more_button = QPushButton("Load &older")
        self.more_button.clicked.connect(self.load_more)
        self.more_button.setEnabled(False)
        self.tail_box = QCheckBox("&Live tail")
        self.tail_box.setToolTip("Poll for new entries every 2 s (Ctrl+T)")
        self.tail_box.toggled.connect(self.set_live_tail)
        self.tail_box.setShortcut("Ctrl+T")
        self.export_button = QToolButton()
        self.export_button.setText("&Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("As CSV…", lambda: self._ask_export("csv"))
        menu.addAction("As JSON…", lambda: self._ask_export("json"))
        self.export_button.setMenu(menu)
        row.addWidget(self.count_label, 1)
        row.addWidget(self.tail_box)
        row.addWidget(self.more_button)
        row.addWidget(self.export_button)
        self.root.addLayout(row)

    # -- filters ---------------------------------------------------------------------------

    def _debounce(self, *_: object) -> None:
        self.search_timer.start()

    def _on_range(self) -> None:
        custom = self.range_box.currentData() == "custom"
        self.since_edit.setVisible(custom)
        self.until_edit.setVisible(custom)
        self.refresh()

    def current_filter(self) -> LogFilter:
        since: dt.datetime | None = None
        until: dt.datetime | None = None
        span = self.range_box.currentData()
        if span == "custom":
            since = _utc(self.since_edit.dateTime())
            until = _utc(self.until_edit.dateTime())
        elif isinstance(span, dt.timedelta):
            since = dt.datetime.now(dt.UTC) - span
        return LogFilter(
            instance_id=self.instance_box.currentData(),
            log_types=tuple(t for t, box in self.type_boxes.items() if box.isChecked()),
            operation=self.operation.text(),
            since=since,
            until=until,
            text=self.search.text(),
        )

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- loading ---------------------------------------------------------------------------

    def clear(self) -> None:
        self._generation += 1
        self.model.set_rows([])
        self._known_ids.clear()
        self.detail.clear()
        self.next_cursor = None
        self.more_button.setEnabled(False)
        self.count_label.clear()

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        self._generation += 1
        generation = self._generation
        query = self.current_filter().params()
        api = self.session.api()

        async def load() -> tuple[list[JsonDict], Page]:
            instances = await api.list_all("/instances", page_size=500, max_items=2000)
            page = await api.page("/logs", query, limit=PAGE_SIZE, sort="-timestamp")
            return instances, page

        def show(result: tuple[list[JsonDict], Page]) -> None:
            if generation != self._generation:
                return
            instances, page = result
            self._set_instances(instances)
            self.model.set_rows(page.items)
            self._known_ids = {str(r.get("id")) for r in page.items}
            self.next_cursor = page.next_cursor
            self._after_load()
            self.sig_loaded.emit(self.model.rowCount())

        BackgroundOp(self, load, show).with_progress("Loading logs…").run()

    def load_more(self) -> None:
        cursor = self.next_cursor
        if cursor is None or not self.session.is_connected:
            return
        generation = self._generation
        query = self.current_filter().params()
        api = self.session.api()

        def show(page: Page) -> None:
            if generation != self._generation:
                return
            fresh = [r for r in page.items if str(r.get("id")) not in self._known_ids]
            self._known_ids.update(str(r.get("id")) for r in fresh)
            self.model.append_rows(fresh)
            self.next_cursor = page.next_cursor
            self._after_load()
            self.sig_loaded.emit(self.model.rowCount())

        BackgroundOp(
            self,
            lambda: api.page("/logs", query, limit=PAGE_SIZE, cursor=cursor, sort="-timestamp"),
            show,
        ).with_progress("Loading older logs…").run()

    def _after_load(self) -> None:
        self.more_button.setEnabled(self.next_cursor is not None)
        more = " (more available)" if self.next_cursor else ""
        self.count_label.setText(f"{self.model.rowCount()} entries{more}")

    def _set_instances(self, instances: list[JsonDict]) -> None:
        self.instance_names = {str(i.get("id")): str(i.get("name")) for i in instances}
        current = self.instance_box.currentData()
        self.instance_box.blockSignals(True)
        self.instance_box.clear()
        self.instance_box.addItem("All instances", None)
        for instance in sorted(instances, key=lambda i: str(i.get("name")).lower()):
            self.instance_box.addItem(str(instance.get("name")), str(instance.get("id")))
        index = self.instance_box.findData(current)
        self.instance_box.setCurrentIndex(max(index, 0))
        self.instance_box.blockSignals(False)

    def _instance_name(self, instance_id: Any) -> str:
        if instance_id is None:
            return ""
        return self.instance_names.get(str(instance_id), str(instance_id)[:8])

    # -- live tail -------------------------------------------------------------------------

    def set_live_tail(self, on: bool) -> None:
        if self.tail_box.isChecked() != on:
            self.tail_box.setChecked(on)  # re-enters through toggled
            return
        if on:
            self.tail_timer.start()
            self.tail_once()
        else:
            self.tail_timer.stop()

    def tail_once(self) -> None:
        if self._tail_busy or not self.session.is_connected:
            return
        newest = max(
            (p for p in (parse_timestamp(r.get("timestamp")) for r in self.model.rows) if p),
            default=None,
        )
        log_filter = self.current_filter()
        if newest is not None:
            since = max(newest, log_filter.since) if log_filter.since else newest
            log_filter = dataclasses.replace(log_filter, since=since, until=None)
        query = log_filter.params()
        api = self.session.api()
        generation = self._generation
        self._tail_busy = True

        def add(page: Page) -> None:
            self._tail_busy = False
            if generation != self._generation:
                return
            fresh = [r for r in page.items if str(r.get("id")) not in self._known_ids]
            self._known_ids.update(str(r.get("id")) for r in fresh)
            self.model.prepend_rows(list(reversed(fresh)))
            if fresh:
                self._after_load()
            self.sig_tail_added.emit(len(fresh))

        def failed(_error: ConsoleError) -> None:
            self._tail_busy = False  # the connection indicator already says what is wrong

        BackgroundOp(
            self, lambda: api.page("/logs", query, limit=500, sort="timestamp"), add
        ).failure(failed).run()

    # -- detail and export -----------------------------------------------------------------

    def _on_selected(self, selected: QItemSelection, _old: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            self.detail.clear()
            return
        row = self.model.data(indexes[0], ROW_ROLE)
        self.detail.setPlainText(json.dumps(row, indent=2, ensure_ascii=False, sort_keys=True))

    def _ask_export(self, fmt: str) -> None:
        suggested = f"simpletrust-logs.{fmt}"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export logs", suggested, "CSV (*.csv)" if fmt == "csv" else "JSON (*.json)"
        )
        if path:
            self.export(Path(path), fmt)

    def export(self, path: Path, fmt: str) -> None:
        """Export every entry matching the filters (not only those loaded), up to 50 000."""
        if fmt not in ("csv", "json"):
            raise ValueError(f"Export format: {fmt!r} is not csv or json")
        query = self.current_filter().params()
        api = self.session.api()
        names = dict(self.instance_names)

        async def fetch_and_write() -> int:
            rows = await api.list_all(
                "/logs", query, page_size=500, sort="-timestamp", max_items=EXPORT_LIMIT
            )
            try:
                return write_csv(rows, path, names) if fmt == "csv" else write_json(rows, path)
            except OSError as exc:
                raise ConsoleError(f"Export file {path}: {exc.strerror or exc}") from None

        BackgroundOp(
            self, fetch_and_write, lambda n: self.sig_exported.emit(str(path), n)
        ).with_progress("Exporting logs…").run()

    def save_layout(self) -> None:
        layout.save_splitter(self.splitter, "logs")
        layout.save_header(self.table.horizontalHeader(), "logs")


def _utc(value: QDateTime) -> dt.datetime:
    """A QDateTimeEdit's local time as an aware UTC datetime for the API."""
    return dt.datetime.fromtimestamp(value.toSecsSinceEpoch(), dt.UTC)
