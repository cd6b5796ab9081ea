"""The instances page: every instance with its status, last and next sync, and actions.

The list comes from `/instances`; the last/next sync of each comes from
`/instances/{id}/status`, fetched a few at a time and merged into the rows as they arrive.
Actions the agent does not offer yet (test, sync now) are disabled with a tooltip saying so;
the agent's OpenAPI document decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QWidget,
)

from app.core.api import ApiClient, JsonDict
from app.core.connection import ConnectionStatus
from app.core.errors import ConsoleError
from app.core.formatting import format_relative, format_timestamp
from app.qt import layout
from app.qt.aio import BackgroundOp
from app.qt.models import ROW_ROLE, Column, DictTableModel, SearchProxy, selected_row
from app.qt.session import AgentSession
from app.shell.page import Page
from app.wizard.history import REVISIONS_PATH, HistoryDialog
from app.wizard.wizard import ConfigWizard, open_wizard

STATUSES = ("configuring", "active", "inactive", "error")
STATUS_CONCURRENCY = 6


def instance_columns() -> list[Column]:
    return [
        Column("name", "Name"),
        Column("status", "Status", status_colors=True),
        Column(
            "last_sync",
            "Last sync",
            format_relative,
            tooltip=lambda r: format_timestamp(r.get("last_sync")),
        ),
        Column(
            "next_sync",
            "Next sync",
            format_relative,
            tooltip=lambda r: format_timestamp(r.get("next_sync")),
        ),
        Column("last_connected", "Last connected", format_timestamp),
        Column("error_message", "Problem"),
    ]


async def load_instances_with_status(
    api: ApiClient,
    on_status: Callable[[str, JsonDict], None] | None = None,
    *,
    status: str | None = None,
) -> list[JsonDict]:
    """All instances (optionally of one status), each merged with its `/status`."""
    rows = await api.list_all(
        "/instances", {"status": status}, page_size=200, sort="name", max_items=5000
    )
    gate = asyncio.Semaphore(STATUS_CONCURRENCY)

    async def one(row: JsonDict) -> None:
        async with gate:
            try:
                detail = await api.get(f"/instances/{row['id']}/status")
            except ConsoleError:
                return  # the row still shows what /instances said
        if isinstance(detail, dict):
            row.update(flatten_status(detail))
            if on_status is not None:
                on_status(str(row["id"]), detail)

    await asyncio.gather(*(one(r) for r in rows))
    return rows


def flatten_status(detail: JsonDict) -> JsonDict:
    """`/instances/{id}/status` as flat row fields (its last_sync is an execution object)."""
    out = {k: v for k, v in detail.items() if k not in ("id", "last_sync", "next_sync")}
    last = detail.get("last_sync")
    if isinstance(last, dict):
        out["last_sync"] = last.get("end_time") or last.get("start_time")
        out["last_sync_status"] = last.get("status")
        out["last_sync_records"] = last.get("records_processed")
        out["last_sync_errors"] = last.get("error_count")
    else:
        out["last_sync"] = last
    upcoming = detail.get("next_sync")
    out["next_sync"] = (
        upcoming.get("next_execution") or upcoming.get("time")
        if isinstance(upcoming, dict)
        else upcoming
    )
    return out


def _last_sync_tip(row: JsonDict) -> str | None:
    if not row.get("last_sync"):
        return None
    return (
        f"{format_timestamp(row.get('last_sync'))}: {row.get('last_sync_status', '?')}, "
        f"{row.get('last_sync_records') or 0} records, {row.get('last_sync_errors') or 0} errors"
    )


class InstancesPage(Page):
    title = "Instances"

    sig_loaded = Signal(int)
    sig_action_done = Signal(str, str)  # action, instance name

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.model = DictTableModel(instance_columns(), parent=self)
        self.proxy = SearchProxy(self.model, self)

        filters = QHBoxLayout()
        self.status_box = QComboBox()
        self.status_box.addItem("All statuses", None)
        for status in STATUSES:
            self.status_box.addItem(status, status)
        self.status_box.currentIndexChanged.connect(self.refresh)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search instances (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        filters.addWidget(self.status_box)
        filters.addWidget(self.search, 1)
        self.root.addLayout(filters)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((200, 90, 100, 100, 150, 150)):
            self.table.setColumnWidth(column, width)
        layout.restore_header(header, "instances")
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.root.addWidget(self.table, 1)
        self._build_actions()
        self._update_actions()

    def _build_actions(self) -> None:
        actions = QHBoxLayout()
        self.count_label = QLabel("")
        self.count_label.setObjectName("Hint")
        self.activate_button = QPushButton("&Activate")
        self.pause_button = QPushButton("&Pause")
        self.test_button = QPushButton("&Test connection")
        self.sync_button = QPushButton("&Sync now")
        self.new_button = QPushButton("&New…")
        self.new_button.setToolTip("Configure a new integration (Ctrl+N)")
        self.clone_button = QPushButton("&Clone…")
        self.clone_button.setToolTip("A new instance with this one's settings")
        self.history_button = QPushButton("&History…")
        self.history_button.setToolTip("Configuration revisions and what each changed")
        self.new_button.clicked.connect(self.open_new_wizard)
        self.clone_button.clicked.connect(self.open_clone_wizard)
        self.history_button.clicked.connect(self.open_history)
        self.activate_button.clicked.connect(lambda: self.run_action("activate"))
        self.pause_button.clicked.connect(lambda: self.run_action("deactivate"))
        self.test_button.clicked.connect(lambda: self.run_action("test"))
        self.sync_button.clicked.connect(lambda: self.run_action("sync"))
        actions.addWidget(self.count_label, 1)
        for button in (
            self.activate_button,
            self.pause_button,
            self.test_button,
            self.sync_button,
            self.history_button,
            self.clone_button,
            self.new_button,
        ):
            actions.addWidget(button)
        self.root.addLayout(actions)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def clear(self) -> None:
        self.model.set_rows([])
        self.count_label.clear()
        self._update_actions()

    def _apply_filter(self) -> None:
        self.proxy.set_search(self.search.text())
        self._count()

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        status = self.status_box.currentData()

        async def load() -> list[JsonDict]:
            rows = await load_instances_with_status(api, status=status)
            return rows

        def show(rows: list[JsonDict]) -> None:
            self.model.set_rows(rows)
            self._count()
            self._update_actions()
            self.sig_loaded.emit(len(rows))

        BackgroundOp(self, load, show).with_progress("Loading instances…").run()

    def _count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(
            f"{total} instances" if shown == total else f"{shown} of {total} instances"
        )

    def selected(self) -> JsonDict | None:
        return selected_row(self.table)

    def select_name(self, name: str) -> bool:
        for row in range(self.proxy.rowCount()):
            data = self.proxy.data(self.proxy.index(row, 0), ROW_ROLE)
            if isinstance(data, dict) and data.get("name") == name:
                self.table.selectRow(row)
                return True
        return False

    def _on_selection(self, _new: QItemSelection, _old: QItemSelection) -> None:
        self._update_actions()

    def on_status(self, status: ConnectionStatus) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        row = self.selected()
        connected = self.session.is_connected
        writable = self.session.role in ("admin", "operator")
        status = row.get("status") if row else None
        self.activate_button.setEnabled(bool(row) and connected and writable and status != "active")
        self.pause_button.setEnabled(bool(row) and connected and writable and status == "active")
        for button, action in ((self.test_button, "test"), (self.sync_button, "sync")):
            offered = self.session.supports("POST", f"/instances/{{instance_id}}/{action}")
            button.setEnabled(bool(row) and connected and writable and offered)
            button.setToolTip("" if offered else "This agent does not offer this action yet.")
        if connected and not writable:
            self.activate_button.setToolTip(f"Your role ({self.session.role}) is read-only.")
        self.new_button.setEnabled(connected and writable)
        self.clone_button.setEnabled(bool(row) and connected and writable)
        has_history = self.session.supports("GET", REVISIONS_PATH)
        self.history_button.setVisible(has_history)  # hidden where the agent has no revisions
        self.history_button.setEnabled(bool(row) and connected and has_history)

    def open_new_wizard(self) -> ConfigWizard:
        wizard = open_wizard(self.session, self.window())
        wizard.sig_created.connect(lambda _created: self.refresh())
        return wizard

    def open_clone_wizard(self) -> ConfigWizard | None:
        row = self.selected()
        if row is None:
            return None
        wizard = open_wizard(self.session, self.window(), clone_of=row)
        wizard.sig_created.connect(lambda _created: self.refresh())
        return wizard

    def open_history(self) -> HistoryDialog | None:
        row = self.selected()
        if row is None:
            return None
        dialog = HistoryDialog(self.session, row, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def run_action(self, action: str) -> None:
        row = self.selected()
        if row is None:
            return
        api = self.session.api()
        name = str(row.get("name"))

        def done(result: Any) -> None:
            if isinstance(result, dict) and result.get("id") == row.get("id"):
                self.model.update_row({**row, **result})
            self._update_actions()
            self.sig_action_done.emit(action, name)
            self.refresh()

        BackgroundOp(
            self, lambda: api.post(f"/instances/{row['id']}/{action}"), done
        ).with_progress(f"{action.capitalize()} {name}…").run()

    def save_layout(self) -> None:
        layout.save_header(self.table.horizontalHeader(), "instances")
