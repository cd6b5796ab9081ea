"""`QAbstractTableModel` over a list of dicts, the shape every API list returns.

Views never fill cells: they hand rows (plain dicts from the API) to a `DictTableModel` and
declare `Column`s. The whole row is available under `ROW_ROLE`, the raw value for sorting
under `SORT_ROLE`, so a `QSortFilterProxyModel` sorts timestamps and numbers correctly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView

from app.core.formatting import format_value, get_path

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
AnyIndex = QModelIndex | QPersistentModelIndex

STATUS_COLORS = {
    "active": "#2e7d32",
    "healthy": "#2e7d32",
    "success": "#2e7d32",
    "completed": "#2e7d32",
    "warning": "#b26a00",
    "degraded": "#b26a00",
    "configuring": "#1565c0",
    "running": "#1565c0",
    "pending": "#1565c0",
    "inactive": "#757575",
    "cancelled": "#757575",
    "error": "#c62828",
    "failed": "#c62828",
    "failing": "#c62828",
    "passed": "#2e7d32",
    "ok": "#2e7d32",
    "valid": "#2e7d32",
    "skipped": "#757575",
    "untested": "#757575",
    "expires soon": "#b26a00",
    "expired": "#c62828",
    "lost": "#c62828",
    "stopped": "#757575",
}


@dataclass(frozen=True)
class Column:
    """One column: which key of the row (dotted for nested), its title and text."""

    key: str
    title: str
    format: Callable[[Any], str] = format_value
    status_colors: bool = False  # color the text by STATUS_COLORS
    align_right: bool = False
    tooltip: Callable[[dict[str, Any]], str | None] | None = None


class DictTableModel(QAbstractTableModel):
    """Rows are dicts; ``key`` identifies a row for updates (default ``"id"``)."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Iterable[dict[str, Any]] = (),
        parent: QObject | None = None,
        *,
        key: str = "id",
        max_rows: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key = key
        self.max_rows = max_rows
        self._rows: list[dict[str, Any]] = list(rows)

    # -- Qt interface ----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == ROW_ROLE:
            return row
        value = get_path(row, column.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.format(value)
        if role == SORT_ROLE:
            return value if isinstance(value, int | float) else column.format(value)
        if role == Qt.ItemDataRole.ForegroundRole and column.status_colors:
            color = STATUS_COLORS.get(str(value))
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.tooltip is not None:
                return column.tooltip(row)
            text = column.format(value)
            return text if len(text) > 40 else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.columns)
        ):
            return self.columns[section].title
        return None

    # -- our interface ---------------------------------------------------------------------

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def row_at(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def set_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._trim_end()
        self.endResetModel()

    def prepend_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert at the top (newest first, as in a live tail), trimming the oldest."""
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._rows[0:0] = list(rows)
        self.endInsertRows()
        self._trim_end()

    def append_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def update_row(self, row_data: dict[str, Any]) -> bool:
        """Replace the row with the same key; False if there is none."""
        wanted = row_data.get(self.key)
        for i, row in enumerate(self._rows):
            if row.get(self.key) == wanted:
                self._rows[i] = row_data
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
                return True
        return False

    def merge_into(self, key_value: object, extra: dict[str, Any]) -> None:
        """Add fields to one row (e.g. status fetched separately)."""
        for i, row in enumerate(self._rows):
            if row.get(self.key) == key_value:
                self._rows[i] = {**row, **extra}
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
                return

    def _trim_end(self) -> None:
        if self.max_rows is None or len(self._rows) <= self.max_rows:
            return
        first = self.max_rows
        if self.signalsBlocked():
            del self._rows[first:]
            return
        self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
        del self._rows[first:]
        self.endRemoveRows()


class SearchProxy(QSortFilterProxyModel):
    """Case-insensitive text search over all columns, sorting by `SORT_ROLE`."""

    def __init__(self, source: DictTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setDynamicSortFilter(True)

    def set_search(self, text: str) -> None:
        self.setFilterFixedString(text.strip())


def selected_row(view: QAbstractItemView) -> dict[str, Any] | None:
    """The row dict behind a single-selection table's current selection (through proxies)."""
    indexes = view.selectionModel().selectedRows()
    if not indexes:
        return None
    row = view.model().data(indexes[0], ROW_ROLE)
    return row if isinstance(row, dict) else None
