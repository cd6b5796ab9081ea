"""The connector library: categories, search and a table of the agent's connectors.

Shared by the Connectors page and the wizard's first step. Rows are `GET /connectors`
items; the category list is the connectors' ``system_type``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JsonDict
from app.qt.models import ROW_ROLE, Column, DictTableModel, SearchProxy, selected_row
from app.wizard.flow import categories

ALL = "All connectors"


SHORT_METHODS = {
    "none": "none",
    "api_key": "API key",
    "basic": "password",
    "bearer": "token",
    "oauth2_client_credentials": "OAuth client",
    "oauth2_authorization_code": "OAuth sign-in",
    "jwt_bearer": "JWT",
    "certificate": "mTLS",
    "aws": "AWS keys",
    "ldap_bind": "LDAP bind",
}


def _auth_text(methods: Any) -> str:
    return ", ".join(SHORT_METHODS.get(str(m), str(m)) for m in methods or [])


def library_columns() -> list[Column]:
    return [
        Column("name", "Connector"),
        Column("system_type", "Category"),
        Column("vendor", "Vendor"),
        Column("auth_methods", "Sign-in", _auth_text),
        Column("description", "Description", tooltip=lambda r: str(r.get("description") or "")),
    ]


class _LibraryModel(DictTableModel):
    """Greys out connectors the agent cannot load (``available: false``)."""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            row = self.row_at(index.row())
            if row.get("available") is False:
                return QBrush(QColor("#9e9e9e"))
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid():
            row = self.row_at(index.row())
            if row.get("available") is False:
                return "The agent cannot load this connector (its package is missing)."
        return super().data(index, role)


class CategoryProxy(SearchProxy):
    """Text search plus one category (``system_type``)."""

    def __init__(self, source: DictTableModel, parent: QObject | None = None) -> None:
        super().__init__(source, parent)
        self.category: str | None = None

    def set_category(self, category: str | None) -> None:
        self.beginFilterChange()
        self.category = category
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(  # noqa: N802
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        if self.category is not None:
            model = self.sourceModel()
            row = model.data(model.index(source_row, 0, source_parent), ROW_ROLE)
            if not isinstance(row, dict) or (row.get("system_type") or "Other") != self.category:
                return False
        return super().filterAcceptsRow(source_row, source_parent)


class ConnectorLibrary(QWidget):
    """Categories on the left, search and connectors on the right."""

    sig_selected = Signal(object)  # the connector row, or None
    sig_activated = Signal(object)  # double-click / Enter on a connector

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = _LibraryModel(library_columns(), parent=self)
        self.proxy = CategoryProxy(self.model, self)
        self.categories = QListWidget()
        self.categories.setObjectName("Categories")
        self.categories.setFixedWidth(170)
        self.categories.currentItemChanged.connect(self._on_category)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search connectors by name, vendor or description")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_search)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((175, 85, 95, 190)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double_click)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.search)
        right.addWidget(self.table, 1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.categories)
        row.addLayout(right, 1)

    def set_connectors(self, rows: list[JsonDict]) -> None:
        previous = self.selected()
        self.model.set_rows(rows)
        self.categories.blockSignals(True)
        self.categories.clear()
        all_item = QListWidgetItem(f"{ALL} ({len(rows)})")
        all_item.setData(Qt.ItemDataRole.UserRole, None)
        self.categories.addItem(all_item)
        for name, count in categories(rows):
            item = QListWidgetItem(f"{name} ({count})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.categories.addItem(item)
        self.categories.setCurrentRow(0)
        self.categories.blockSignals(False)
        self.proxy.set_category(None)
        if previous is not None:
            self.select_key(str(previous.get("key")))

    def select_category(self, name: str | None) -> None:
        for i in range(self.categories.count()):
            if self.categories.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.categories.setCurrentRow(i)
                return

    def _on_category(self, current: QListWidgetItem | None, _previous: object) -> None:
        self.proxy.set_category(current.data(Qt.ItemDataRole.UserRole) if current else None)

    def selected(self) -> JsonDict | None:
        return selected_row(self.table)

    def select_key(self, key: str) -> bool:
        """Select a connector by its key (e.g. ``github``), clearing filters that hide it."""
        for attempt in range(2):
            for row in range(self.proxy.rowCount()):
                data = self.proxy.data(self.proxy.index(row, 0), ROW_ROLE)
                if isinstance(data, dict) and data.get("key") == key:
                    self.table.selectRow(row)
                    return True
            if attempt == 0:
                self.search.clear()
                self.categories.setCurrentRow(0)
        return False

    def _on_selection(self, *_: object) -> None:
        self.sig_selected.emit(self.selected())

    def _on_double_click(self, index: QModelIndex) -> None:
        row = self.proxy.data(index, ROW_ROLE)
        if isinstance(row, dict):
            self.sig_activated.emit(row)
