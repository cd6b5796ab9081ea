"""The home dashboard (Integration Management Console).

One refresh gathers health, instances with their status, the last 14 days of sync runs,
the active alerts and the latest log entries concurrently; the figures are computed by the Qt-free
`app.core.dashboard` and drawn here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ApiClient, JsonDict
from app.core.dashboard import DailySyncs, alert_rows, daily_syncs, health_counts, merge_health
from app.core.errors import ConsoleError
from app.core.formatting import format_relative, format_timestamp
from app.home.charts import SyncChart
from app.instances.view import load_instances_with_status
from app.qt.aio import BackgroundOp
from app.qt.models import Column, DictTableModel, selected_row
from app.qt.session import AgentSession
from app.qt.widgets import Tile
from app.shell.page import Page

CHART_DAYS = 14


@dataclass
class Snapshot:
    health: JsonDict
    instances: list[JsonDict]
    daily: DailySyncs
    alerts: list[JsonDict]
    activity: list[JsonDict]


async def load_snapshot(api: ApiClient) -> Snapshot:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=CHART_DAYS)

    async def active_alerts() -> list[JsonDict]:
        try:
            return await api.list_all("/alerts", {"status": "active"}, page_size=200,
                                      max_items=1000)
        except ConsoleError:
            return []  # an agent without alerts (older): the rest of the dashboard still shows

    health, instances, runs, alerts, activity = await asyncio.gather(
        api.health(detail=True),
        load_instances_with_status(api),
        api.list_all("/sync-executions", {"since": since}, page_size=500, max_items=20_000),
        active_alerts(),
        api.page("/logs", limit=15, sort="-timestamp"),
    )
    merge_health(instances, health)
    return Snapshot(health, instances, daily_syncs(runs, CHART_DAYS),
                    alert_rows(alerts, instances), activity.items)


class HomePage(Page):
    title = "Home"

    sig_loaded = Signal()

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        tiles = QHBoxLayout()
        self.tiles = {
            "agent": Tile("Agent"),
            "healthy": Tile("Healthy"),
            "degraded": Tile("Degraded"),
            "failing": Tile("Failing"),
            "paused": Tile("Paused"),
        }
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        self.root.addLayout(tiles)

        self.charts = {
            "syncs": SyncChart("syncs", f"Syncs per day (last {CHART_DAYS} days)"),
            "records": SyncChart("records", "Records processed per day"),
            "errors": SyncChart("errors", "Error rate (failed syncs, %)"),
        }
        charts = QHBoxLayout()
        for chart in self.charts.values():
            charts.addWidget(chart, 1)
        self.root.addLayout(charts, 3)

        grid = QGridLayout()
        self.instances = DictTableModel(
            [
                Column("name", "Instance"),
                Column("health", "Health", status_colors=True,
                       tooltip=lambda r: r.get("health_reason")),
                Column("health_score", "Score", align_right=True,
                       tooltip=lambda r: r.get("health_reason")),
                Column("last_sync", "Last sync", format_relative),
            ],
            parent=self,
        )
        self.instances_view = _compact_table(self.instances)
        self.instances_view.selectionModel().selectionChanged.connect(self._update_actions)
        self.alerts = DictTableModel(
            [
                Column("level", "", status_colors=True),
                Column("subject", "What", tooltip=_alert_tooltip),
                Column("message", "Alert", tooltip=_alert_tooltip),
                Column("status", "State"),
            ],
            parent=self,
        )
        self.activity = DictTableModel(
            [
                Column("timestamp", "Time", format_timestamp),
                Column("log_type", "Type", status_colors=True),
                Column("message", "Recent activity"),
            ],
            parent=self,
        )
        actions = QHBoxLayout()
        self.sync_button = QPushButton("Sync now")
        self.test_button = QPushButton("Test")
        self.pause_button = QPushButton("Pause")
        self.sync_button.clicked.connect(lambda: self._quick("sync"))
        self.test_button.clicked.connect(lambda: self._quick("test"))
        self.pause_button.clicked.connect(lambda: self._quick("deactivate"))
        for button in (self.sync_button, self.test_button, self.pause_button):
            actions.addWidget(button)
        actions.addStretch(1)
        left = QVBoxLayout()
        left.addWidget(self.instances_view)
        left.addLayout(actions)
        grid.addLayout(left, 0, 0)
        self.alerts_view = _compact_table(self.alerts)
        self.alerts_view.selectionModel().selectionChanged.connect(self._update_actions)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setToolTip("Mark the selected alert as seen; it still resolves by itself "
                                   "when its condition clears.")
        self.ack_button.clicked.connect(self._acknowledge)
        middle = QVBoxLayout()
        middle.addWidget(self.alerts_view)
        acks = QHBoxLayout()
        acks.addWidget(self.ack_button)
        acks.addStretch(1)
        middle.addLayout(acks)
        grid.addLayout(middle, 0, 1)
        grid.addWidget(_compact_table(self.activity), 0, 2)
        self.root.addLayout(grid, 2)
        self.updated = QLabel("")
        self.updated.setObjectName("Hint")
        self.root.addWidget(self.updated)
        self._update_actions()

    def clear(self) -> None:
        for model in (self.instances, self.alerts, self.activity):
            model.set_rows([])
        for tile in self.tiles.values():
            tile.set_value("-")
        for chart in self.charts.values():
            chart.set_data(DailySyncs())

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        BackgroundOp(self, lambda: load_snapshot(api), self.show_snapshot).with_progress(
            "Loading the dashboard…"
        ).run()

    def show_snapshot(self, snap: Snapshot) -> None:
        status = str(snap.health.get("status", "?"))
        database = snap.health.get("database")
        db_status = database.get("status") if isinstance(database, dict) else None
        self.tiles["agent"].set_value(
            status,
            "ok" if status == "healthy" else "bad",
            f"version {snap.health.get('version', '?')}, database {db_status or '?'}",
        )
        counts = health_counts(snap.instances)
        for name, level in (
            ("healthy", "ok"),
            ("degraded", "warn"),
            ("failing", "bad"),
            ("paused", "idle"),
        ):
            self.tiles[name].set_value(str(counts[name]), level if counts[name] else "idle")
        for chart in self.charts.values():
            chart.set_data(snap.daily)
        self.instances.set_rows(snap.instances)
        self.alerts.set_rows(snap.alerts)
        self.activity.set_rows(snap.activity)
        self.updated.setText(f"Updated {dt.datetime.now().strftime('%H:%M:%S')} (F5 refreshes)")
        self._update_actions()
        self.sig_loaded.emit()

    def _selected(self) -> JsonDict | None:
        return selected_row(self.instances_view)

    def _update_actions(self, *_: Any) -> None:
        row = self._selected()
        writable = self.session.is_connected and self.session.role in ("admin", "operator")
        for button, action in ((self.sync_button, "sync"), (self.test_button, "test")):
            offered = self.session.supports("POST", f"/instances/{{instance_id}}/{action}")
            button.setEnabled(bool(row) and writable and offered)
            button.setToolTip("" if offered else "This agent does not offer this action yet.")
        self.pause_button.setEnabled(
            bool(row) and writable and row is not None and row.get("status") == "active"
        )
        alert = self._selected_alert()
        self.ack_button.setEnabled(
            alert is not None and writable and alert.get("status") == "open"
        )

    def _selected_alert(self) -> JsonDict | None:
        return selected_row(self.alerts_view)

    def _acknowledge(self) -> None:
        alert = self._selected_alert()
        if alert is None:
            return
        api = self.session.api()
        BackgroundOp(
            self,
            lambda: api.post(f"/alerts/{alert['id']}/acknowledge"),
            lambda _r: self.refresh(),
        ).with_progress(f"Acknowledging {alert.get('message')}…").run()

    def on_status(self, status: Any) -> None:
        self._update_actions()

    def _quick(self, action: str) -> None:
        row = self._selected()
        if row is None:
            return
        api = self.session.api()
        body: dict[str, Any] | None = {} if action == "sync" else None
        BackgroundOp(
            self,
            lambda: api.post(f"/instances/{row['id']}/{action}", body),
            lambda _r: self.refresh(),
        ).with_progress(f"{action.capitalize()} {row.get('name')}…").run()


def _alert_tooltip(row: dict[str, Any]) -> str | None:
    parts = [str(row.get("detail") or ""), f"What to do: {row['hint']}" if row.get("hint") else ""]
    return "\n".join(p for p in parts if p) or None


def _compact_table(model: DictTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    return view
