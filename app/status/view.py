"""The connection status dashboard: live indicators, trends, schedules, events, versions.

Refreshes every ``LIVE_INTERVAL_MS`` while visible. "Check connections now" runs the
connection test of every active instance (a few at a time) and shows each one's response
time next to its status. Parts whose endpoint the agent does not offer (events, agents) are
left out, not shown broken.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ApiClient, JsonDict
from app.core.dashboard import merge_health
from app.core.errors import ConsoleError
from app.core.formatting import format_relative, format_timestamp
from app.instances.view import load_instances_with_status
from app.qt.aio import BackgroundOp
from app.qt.models import Column, DictTableModel
from app.qt.session import AgentSession
from app.qt.widgets import Banner
from app.shell.page import Page
from app.status.charts import PALETTE, StatusChart, day_labels
from app.status.figures import StatusFigures, compute

log = logging.getLogger(__name__)
DAYS = 7
LIVE_INTERVAL_MS = 15_000
TEST_CONCURRENCY = 4


def _percent(value: Any) -> str:
    return "" if value is None else f"{float(value):.0f} %"


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f} s"


def _ms(value: Any) -> str:
    return "" if value is None else f"{float(value):.0f} ms"


def _dot(value: Any) -> str:
    return f"● {value}" if value else ""


def indicator_columns() -> list[Column]:
    return [
        Column("health", "", _dot, status_colors=True),
        Column("name", "Instance"),
        Column("status", "Status", status_colors=True),
        Column("uptime", f"Uptime {DAYS} d", _percent, align_right=True),
        Column("error_rate", "Errors", _percent, align_right=True),
        Column("avg_duration_s", "Avg sync", _seconds, align_right=True),
        Column("latency_ms", "Response", _ms, align_right=True),
        Column("records", "Records", align_right=True),
        Column("last_sync", "Last sync", format_relative),
        Column("next_sync", "Next sync", format_relative),
    ]


@dataclass
class Sources:
    health: JsonDict
    instances: list[JsonDict]
    executions: list[JsonDict]
    metrics: list[JsonDict]
    schedules: list[JsonDict]
    events: list[JsonDict]
    agents: list[JsonDict]
    connectors: list[JsonDict]
    test_logs: list[JsonDict]


async def load_sources(api: ApiClient, *, events: bool, agents: bool) -> Sources:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)

    async def optional(path: str, params: dict[str, Any] | None = None) -> list[JsonDict]:
        try:
            body = await api.get(path, params)
        except ConsoleError:
            return []
        items = body.get("items") if isinstance(body, dict) else body
        return [i for i in items or [] if isinstance(i, dict)]

    async def nothing() -> list[JsonDict]:
        return []

    async def metrics() -> list[JsonDict]:
        # figures fall back to the syncs when the agent records no metrics or fails to
        try:
            return await api.list_all("/metrics", {"since": since}, page_size=500, max_items=20_000)
        except ConsoleError as exc:
            log.warning("metrics unavailable: %s", exc)
            return []

    results: list[Any] = await asyncio.gather(
        api.health(detail=True),
        load_instances_with_status(api),
        api.list_all("/sync-executions", {"since": since}, page_size=500, max_items=20_000),
        metrics(),
        api.list_all("/schedules", page_size=500, max_items=5000),
        optional("/events", {"limit": 500}) if events else nothing(),
        optional("/agents") if agents else nothing(),
        api.list_all("/connectors", page_size=200, max_items=2000),
        optional("/logs", {"operation": "instance.test", "since": since, "limit": 500}),
    )
    merge_health(results[1], results[0])  # the agent's health verdict on each instance row
    return Sources(*results)


async def check_connections(api: ApiClient, instances: list[JsonDict]) -> dict[str, JsonDict]:
    """Run the connection test of each active instance; ``{instance id: result}``."""
    gate = asyncio.Semaphore(TEST_CONCURRENCY)
    results: dict[str, JsonDict] = {}

    async def one(row: JsonDict) -> None:
        async with gate:
            try:
                answer = await api.post(f"/instances/{row['id']}/test")
            except ConsoleError as exc:
                answer = {"ok": False, "error": {"message": exc.user_message()}}
        results[str(row["id"])] = answer if isinstance(answer, dict) else {}

    await asyncio.gather(*(one(r) for r in instances if r.get("status") == "active"))
    return results


def _table(model: DictTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return view


class StatusPage(Page):
    title = "Status"

    sig_loaded = Signal()
    sig_checked = Signal(int)  # instances tested

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.figures = StatusFigures()
        self.latency: dict[str, JsonDict] = {}
        self.indicators = DictTableModel(indicator_columns(), parent=self)
        self.alerts = DictTableModel(
            [
                Column("level", "", status_colors=True),
                Column("subject", "What"),
                Column("message", "Alert"),
            ],
            parent=self,
            key="subject",
        )
        self.schedules = DictTableModel(
            [
                Column("instance", "Instance"),
                Column("when", "Schedule"),
                Column("state", "State", status_colors=True),
                Column(
                    "next_execution",
                    "Next run",
                    format_relative,
                    tooltip=lambda r: format_timestamp(r.get("next_execution")),
                ),
                Column("last_execution", "Last run", format_relative),
            ],
            parent=self,
        )
        self.events = DictTableModel(
            [Column("type", "Event type"), Column("count", "Events", align_right=True)],
            parent=self,
            key="type",
        )
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(LIVE_INTERVAL_MS)
        self.timer.timeout.connect(self._live_tick)

    def _build(self) -> None:
        bar = QHBoxLayout()
        self.agent_label = QLabel("")
        self.agent_label.setObjectName("AgentState")
        self.updated = QLabel("")
        self.updated.setObjectName("Hint")
        self.check_button = QPushButton("Check connections now")
        self.check_button.setToolTip("Run the connection test of every active instance")
        self.check_button.clicked.connect(self.check_now)
        bar.addWidget(self.agent_label)
        bar.addStretch(1)
        bar.addWidget(self.updated)
        bar.addWidget(self.check_button)
        self.root.addLayout(bar)

        self.alert_banner = Banner("WarningBanner")
        self.root.addWidget(self.alert_banner)
        top = self.indicators_view = _table(self.indicators)
        top.setMinimumHeight(190)

        self.charts = {
            "uptime": StatusChart(f"Availability by instance, last {DAYS} days (%)"),
            "errors": StatusChart("Record error rate per day (%)"),
            "response": StatusChart("Response time"),
            "volume": StatusChart("Data volume (records per day)"),
            "events": StatusChart("Events by type"),
            "next_runs": StatusChart("Scheduled syncs: minutes until the next run"),
        }
        trends = QWidget()
        grid = QGridLayout(trends)
        grid.setContentsMargins(0, 4, 0, 0)
        for n, chart in enumerate(self.charts.values()):
            grid.addWidget(chart, n // 3, n % 3)
        schedules = QWidget()
        column = QVBoxLayout(schedules)
        column.setContentsMargins(0, 4, 0, 0)
        column.addWidget(_table(self.schedules))
        events = QWidget()
        column = QVBoxLayout(events)
        column.setContentsMargins(0, 4, 0, 0)
        self.events_note = QLabel("")
        self.events_note.setObjectName("Hint")
        column.addWidget(self.events_note)
        column.addWidget(_table(self.events))
        self.tabs = QTabWidget()
        self.tabs.addTab(trends, "Trends")
        self.tabs.addTab(schedules, "Scheduled syncs")
        self.tabs.addTab(events, "Events")
        self.tabs.addTab(_table(self.alerts), "Version alerts")

        split = QSplitter()
        split.setOrientation(split.orientation().Vertical)
        split.addWidget(top)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        split.setSizes([200, 560])
        self.root.addWidget(split, 1)
        for chart in self.charts.values():
            chart.setMinimumHeight(180)

    # -- life cycle --------------------------------------------------------------------------

    def activate(self) -> None:
        super().activate()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802
        self.timer.stop()
        super().hideEvent(event)

    def _live_tick(self) -> None:
        if self.isVisible() and self.session.is_connected:
            self.refresh()

    def clear(self) -> None:
        self.latency = {}
        for model in (self.indicators, self.alerts, self.schedules, self.events):
            model.set_rows([])

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        events = self.session.supports("GET", "/events")
        agents = self.session.supports("GET", "/agents")
        BackgroundOp(
            self, lambda: load_sources(api, events=events, agents=agents), self.show_sources
        ).with_progress("Loading the status…").run()

    def show_sources(self, sources: Sources) -> None:
        figures = compute(
            instances=sources.instances,
            executions=sources.executions,
            metrics=sources.metrics,
            schedules=sources.schedules,
            events=sources.events,
            agents=sources.agents,
            connectors=sources.connectors,
            test_logs=sources.test_logs,
            agent_version=str(sources.health.get("version") or "") or None,
            days=DAYS,
        )
        self.figures = figures
        for row in figures.indicators:
            tested = self.latency.get(str(row.get("id")))
            if tested is not None:
                row["latency_ms"] = tested.get("latency_ms")
        self.indicators.set_rows(figures.indicators)
        if figures.alerts:
            self.alert_banner.show_message(
                f"{len(figures.alerts)} version or compatibility alert(s)",
                "\n".join(f"{a['subject']}: {a['message']}" for a in figures.alerts[:3]),
                tag="versions",
            )
        else:
            self.alert_banner.hide()
        self.tabs.setTabText(3, f"Version alerts ({len(figures.alerts)})")
        self.alerts.set_rows(
            figures.alerts
            or [
                {
                    "level": "ok",
                    "subject": "agents, connectors",
                    "message": "no version or compatibility problems",
                }
            ]
        )
        self.schedules.set_rows(figures.schedules)
        self.events.set_rows([{"type": t, "count": n} for t, n in figures.events])
        supported = self.session.supports("GET", "/events")
        self.events_note.setText(
            f"The {len(sources.events)} most recent events, by type"
            if supported
            else "This agent does not record events."
        )
        self._draw(figures)
        status = str(sources.health.get("status", "?"))
        self.agent_label.setText(
            f"● Agent {status} — version {sources.health.get('version', '?')}, "
            f"{len(sources.agents) or 1} agent process(es)"
        )
        self.agent_label.setStyleSheet(
            f"color: {'#2e7d32' if status == 'healthy' else '#c62828'}; font-weight: 600"
        )
        self.updated.setText(f"Updated {dt.datetime.now():%H:%M:%S}; live every 15 s")
        self.sig_loaded.emit()

    def _draw(self, figures: StatusFigures) -> None:
        labels = day_labels(figures.days)
        measured = [r for r in figures.indicators if r.get("uptime") is not None]
        self.charts["uptime"].set_bars(
            [_short(str(r.get("name")), 16) for r in measured],
            [float(r["uptime"]) for r in measured],
            name="availability",
            color=PALETTE[1],
            horizontal=True,
            y_max=100.0,
            highlight=[i for i, r in enumerate(measured) if float(r["uptime"]) < 95],
        )
        self.charts["errors"].set_bars(
            labels, figures.error_rate, name="error rate", color="#e53935", axis_title="day"
        )
        unit = figures.response_unit
        self.charts["response"].title = (
            "API response time per day (ms)"
            if unit == "ms"
            else "Average sync duration per day (s)"
        )
        self.charts["response"].set_bars(
            labels,
            figures.response,
            name=f"response ({unit})",
            color=PALETTE[3],
            axis_title="day",
        )
        self.charts["volume"].set_bars(
            labels, [float(v) for v in figures.volume], name="records", axis_title="day"
        )
        self.charts["events"].set_bars(
            [_short(t, 22) for t, _n in figures.events],
            [float(n) for _t, n in figures.events],
            name="events",
            color=PALETTE[5],
            horizontal=True,
        )
        upcoming = [s for s in figures.schedules if s.get("minutes_until") is not None][:6]
        self.charts["next_runs"].set_bars(
            [_short(str(s["instance"]), 16) for s in upcoming],
            [float(s["minutes_until"]) for s in upcoming],
            name="minutes",
            color=PALETTE[0],
            horizontal=True,
        )

    # -- live checks -------------------------------------------------------------------------

    def check_now(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        rows = self.indicators.rows

        def done(results: dict[str, JsonDict]) -> None:
            self.latency.update(results)
            for row_id, result in results.items():
                self.indicators.merge_into(
                    row_id,
                    {
                        "latency_ms": result.get("latency_ms"),
                        "test_ok": bool(result.get("ok")),
                    },
                )
            self.updated.setText(
                f"Checked {len(results)} connections at {dt.datetime.now():%H:%M:%S}"
            )
            self.sig_checked.emit(len(results))

        BackgroundOp(self, lambda: check_connections(api, rows), done).with_progress(
            "Checking connections…"
        ).run()


def _short(text: str, size: int = 18) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
