"""QtCharts for the status dashboard: lines per instance over days, and bar charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

from app.qt.theme import current_theme

PALETTE = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935", "#00897b", "#6d4c41")


class StatusChart(QChartView):
    """A chart that can be redrawn with new data; ``values`` holds what it shows (tests)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.values: dict[str, list[float]] = {}
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(200)
        self.setMinimumWidth(240)
        self._swap(self._chart())

    def _chart(self) -> QChart:
        chart = QChart()
        chart.setTitle(self.title)
        chart.setTheme(
            QChart.ChartTheme.ChartThemeDark
            if current_theme() == "dark"
            else QChart.ChartTheme.ChartThemeLight
        )
        chart.setMargins(QMargins(2, 2, 2, 2))
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        return chart

    def _swap(self, chart: QChart) -> None:
        old = self.chart()
        self.setChart(chart)
        if old is not None and old is not chart:
            old.deleteLater()

    def set_lines(
        self,
        days: Sequence[dt.date],
        series: Mapping[str, Sequence[float | None]],
        *,
        y_max: float | None = None,
        label_format: str = "%.0f",
    ) -> None:
        """One line per name over the days (missing points are skipped)."""
        chart = self._chart()
        axis_x = QValueAxis()
        axis_x.setRange(0, max(len(days) - 1, 1))
        axis_x.setTickCount(max(len(days), 2))
        axis_x.setLabelFormat("%d")
        axis_x.setTitleText(_span_text(days))
        axis_x.setLabelsVisible(False)
        axis_y = QValueAxis()
        axis_y.setLabelFormat(label_format)
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        top = 0.0
        self.values = {}
        for n, (name, points) in enumerate(series.items()):
            line = QLineSeries()
            line.setName(name)
            line.setColor(QColor(PALETTE[n % len(PALETTE)]))
            line.setPointsVisible(True)
            shown = []
            for i, value in enumerate(points):
                if value is not None:
                    line.append(float(i), float(value))
                    shown.append(float(value))
                    top = max(top, float(value))
            self.values[name] = shown
            chart.addSeries(line)
            line.attachAxis(axis_x)
            line.attachAxis(axis_y)
        axis_y.setRange(0, y_max if y_max is not None else max(1.0, top * 1.2))
        axis_y.setTickCount(5)
        chart.legend().setVisible(bool(series))
        self._swap(chart)

    def set_bars(
        self,
        categories: Sequence[str],
        values: Sequence[float],
        *,
        name: str,
        color: str = PALETTE[0],
        axis_title: str = "",
        horizontal: bool = False,
        y_max: float | None = None,
        highlight: Sequence[int] = (),
        highlight_color: str = "#e53935",
    ) -> None:
        """Bars per category; ``horizontal`` for long category names (instances, types);
        bars at ``highlight`` indexes drawn in ``highlight_color`` (e.g. poor availability)."""
        chart = self._chart()
        bars = QBarSet(name)
        bars.setColor(QColor(color))
        bars.append([float(v) for v in values])
        bars.setSelectedColor(QColor(highlight_color))
        bars.selectBars(list(highlight))
        series: QBarSeries | QHorizontalBarSeries = (
            QHorizontalBarSeries() if horizontal else QBarSeries()
        )
        series.append(bars)
        series.setBarWidth(0.7)
        axis_cat = QBarCategoryAxis()
        axis_cat.append(list(categories) or [""])
        if axis_title:
            axis_cat.setTitleText(axis_title)
        axis_val = QValueAxis()
        top = max((float(v) for v in values), default=0.0)
        axis_val.setLabelFormat("%.1f" if (y_max or top) < 5 else "%.0f")
        axis_val.setRange(0, y_max if y_max is not None else max(1.0, top * 1.2))
        axis_val.setTickCount(5)
        chart.addSeries(series)
        chart.addAxis(
            axis_cat, Qt.AlignmentFlag.AlignLeft if horizontal else Qt.AlignmentFlag.AlignBottom
        )
        chart.addAxis(
            axis_val, Qt.AlignmentFlag.AlignBottom if horizontal else Qt.AlignmentFlag.AlignLeft
        )
        series.attachAxis(axis_cat)
        series.attachAxis(axis_val)
        chart.legend().setVisible(False)
        self.values = {name: [float(v) for v in values]}
        self._swap(chart)


def _span_text(days: Sequence[dt.date]) -> str:
    if not days:
        return ""
    return f"{days[0]:%d %b} to {days[-1]:%d %b %Y} (one point a day)"


def day_labels(days: Sequence[dt.date]) -> list[str]:
    return [f"{d:%d}" for d in days]
