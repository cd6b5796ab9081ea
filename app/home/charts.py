"""QtCharts views of the per-day sync figures (themed to match the console)."""

from __future__ import annotations

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QWidget

from app.core.dashboard import DailySyncs
from app.qt.theme import current_theme


class SyncChart(QChartView):
    """One chart; ``kind`` is "syncs" (stacked completed/failed), "records" or "errors"."""

    def __init__(self, kind: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(210)
        self.title = title
        self.values: list[float] = []
        self.set_data(DailySyncs())

    def _new_chart(self) -> QChart:
        chart = QChart()
        chart.setTitle(self.title)
        chart.setTheme(
            QChart.ChartTheme.ChartThemeDark
            if current_theme() == "dark"
            else QChart.ChartTheme.ChartThemeLight
        )
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setVisible(self.kind == "syncs")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        return chart

    def set_data(self, data: DailySyncs) -> None:
        chart = self._new_chart()
        labels = [d.strftime("%d") for d in data.days]  # day of month: fits at any width
        axis_x = _day_axis(data)
        axis_y = QValueAxis()
        axis_y.setLabelFormat("%d" if self.kind != "errors" else "%.0f%%")
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        if self.kind == "syncs":
            stacked = QStackedBarSeries()
            ok, bad = QBarSet("completed"), QBarSet("failed")
            ok.setColor(QColor("#43a047"))
            bad.setColor(QColor("#e53935"))
            ok.append([float(v) for v in data.completed])
            bad.append([float(v) for v in data.failed])
            stacked.append(ok)
            stacked.append(bad)
            series: QStackedBarSeries | QBarSeries | QLineSeries = stacked
            self.values = [float(c + f) for c, f in zip(data.completed, data.failed, strict=True)]
        elif self.kind == "records":
            series = QBarSeries()
            records = QBarSet("records")
            records.setColor(QColor("#1e88e5"))
            records.append([float(v) for v in data.records])
            series.append(records)
            self.values = [float(v) for v in data.records]
        else:
            series = QLineSeries()
            series.setName("error rate")
            self.values = data.error_rate
            for i, rate in enumerate(self.values):
                series.append(i + 0.5, rate)  # centre of the category
            series.setColor(QColor("#e53935"))
        chart.addSeries(series)
        series.attachAxis(axis_y)
        if isinstance(series, QLineSeries):
            line_x = QValueAxis()
            line_x.setRange(0, max(len(labels), 1))
            line_x.setVisible(False)
            chart.addAxis(line_x, Qt.AlignmentFlag.AlignBottom)
            series.attachAxis(line_x)
        else:
            series.attachAxis(axis_x)
        top = max(self.values, default=0.0)
        axis_y.setRange(0, 100 if self.kind == "errors" else max(4.0, top * 1.15))
        axis_y.setTickCount(5)
        old = self.chart()
        self.setChart(chart)
        if old is not None:
            old.deleteLater()


def _day_axis(data: DailySyncs) -> QBarCategoryAxis:
    axis = QBarCategoryAxis()
    axis.append([d.strftime("%d") for d in data.days])
    font = QFont(axis.labelsFont())
    font.setPointSizeF(7.5)  # 14 day numbers must fit a third of the window, not elide
    axis.setLabelsFont(font)
    if data.days:
        first, last = data.days[0].strftime("%d %b"), data.days[-1].strftime("%d %b %Y")
        axis.setTitleText(f"{first} to {last}")
    return axis
