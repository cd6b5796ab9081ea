"""Configuration history of an instance: its revisions and what each one changed.

Uses the agent's revisions API (`GET /instances/{id}/revisions`, `.../revisions/diff`); the
Instances page offers it only when the agent's OpenAPI document lists that endpoint.
The first revision (the creation) is shown as every field "added".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JsonDict
from app.core.formatting import format_timestamp
from app.qt.aio import BackgroundOp
from app.qt.models import ROW_ROLE, Column, DictTableModel
from app.qt.session import AgentSession

REVISIONS_PATH = "/instances/{object_id}/revisions"


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of a snapshot with their paths: ``configuration.base_url``, ``a[0].b``."""
    if isinstance(value, Mapping) and value:
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
        out = []
        for index, item in enumerate(value):
            out.extend(flatten(item, f"{prefix}[{index}]"))
        return out
    return [(prefix, value)]


def creation_changes(snapshot: Mapping[str, Any]) -> list[JsonDict]:
    return [
        {"path": path, "change": "added", "before": None, "after": value}
        for path, value in flatten(snapshot)
    ]


def _show(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


class HistoryDialog(QDialog):
    """Revisions on top, the selected revision's changes below."""

    sig_diff_loaded = Signal(int)  # revision number

    def __init__(self, session: AgentSession, instance: JsonDict, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Configuration history — {instance.get('name')}")
        self.session = session
        self.instance = instance
        self.revisions = DictTableModel(
            [
                Column("revision", "Revision", align_right=True),
                Column("operation", "Change"),
                Column("author", "By"),
                Column("created_at", "When", format_timestamp),
                Column("restored_from", "Restored from"),
            ],
            parent=self,
            key="revision",
        )
        self.changes = DictTableModel(
            [
                Column("path", "Field"),
                Column("change", "Change"),
                Column("before", "Before", _show),
                Column("after", "After", _show),
            ],
            parent=self,
            key="path",
        )
        self.revisions_view = _table(self.revisions)
        self.changes_view = _table(self.changes)
        self.revisions_view.selectionModel().selectionChanged.connect(self._on_select)
        self.caption = QLabel("")
        self.caption.setObjectName("Hint")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.revisions_view)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.caption)
        column.addWidget(self.changes_view, 1)
        splitter.addWidget(holder)
        splitter.setStretchFactor(1, 2)
        heading = QLabel(f"Configuration history of {instance.get('name')}")
        heading.setObjectName("PageTitle")
        root = QVBoxLayout(self)
        root.addWidget(heading)
        root.addWidget(splitter)
        self.resize(860, 560)
        self.load()

    def load(self) -> None:
        api = self.session.api()
        BackgroundOp(
            self, lambda: api.get(f"/instances/{self.instance['id']}/revisions"), self._loaded
        ).with_progress("Loading the history…").run()

    def _loaded(self, rows: Any) -> None:
        items = rows if isinstance(rows, list) else (rows or {}).get("items", [])
        newest_first = sorted(items, key=lambda r: -int(r.get("revision", 0)))
        self.revisions.set_rows(newest_first)
        if newest_first:
            self.revisions_view.selectRow(0)

    def _on_select(self, *_: Any) -> None:
        indexes = self.revisions_view.selectionModel().selectedRows()
        if not indexes:
            return
        row = self.revisions.data(indexes[0], ROW_ROLE)
        if not isinstance(row, dict):
            return
        number = int(row["revision"])
        if number == 1:
            self._show_changes(number, creation_changes(row.get("snapshot") or {}))
            return
        api = self.session.api()
        BackgroundOp(
            self,
            lambda: api.get(
                f"/instances/{self.instance['id']}/revisions/diff", {"to_revision": number}
            ),
            lambda diff: self._show_changes(number, list((diff or {}).get("changes") or [])),
        ).with_progress("Comparing revisions…").run()

    def _show_changes(self, number: int, changes: list[JsonDict]) -> None:
        self.changes.set_rows(changes)
        what = "created with" if number == 1 else f"changed from revision {number - 1}"
        noun = "field" if len(changes) == 1 else "fields"
        self.caption.setText(f"Revision {number}: {len(changes)} {noun} {what}")
        self.sig_diff_loaded.emit(number)


def _table(model: DictTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return view
