"""The console against the real agent (child process, SQLite): logs viewer and instances."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.home.view import HomePage
from app.instances.view import InstancesPage
from app.logs.view import LogsPage
from app.shell.main_window import MainWindow

from .conftest import wait_until
from .real_agent import RealAgent


async def _open(window: MainWindow, agent: RealAgent, page_type: type) -> Any:
    window.connect_to(agent.url, agent.token)
    await wait_until(lambda: window.session.is_connected, 10)
    page = window.page(page_type)
    window.show_page(window.pages.index(page))
    return page


def test_logs_viewer_filters_detail_tail_and_export(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    arun: Callable[..., Any],
    tmp_path: Path,
) -> None:
    window = make_window()

    async def scenario() -> None:
        logs: LogsPage = await _open(window, real_agent, LogsPage)
        await wait_until(lambda: logs.model.rowCount() > 0, 10)
        operations = {r["operation"] for r in logs.model.rows}
        assert {"instance.create", "sync.request"} <= operations
        assert logs.instance_box.findText("hr-files") > 0

        # filter by instance and by type: the agent filters, the view shows the result
        logs.instance_box.setCurrentIndex(logs.instance_box.findText("hr-files"))
        hr_id = logs.instance_box.currentData()
        await wait_until(lambda: {r["instance_id"] for r in logs.model.rows} == {hr_id}, 10)
        logs.type_boxes["success"].setChecked(True)
        await wait_until(lambda: {r["log_type"] for r in logs.model.rows} == {"success"}, 10)
        assert all(r["operation"] == "sync.completed" for r in logs.model.rows)

        # text search
        logs.type_boxes["success"].setChecked(False)
        logs.search.setText("manual sync requested")
        await wait_until(
            lambda: (
                logs.model.rowCount() == 1 and logs.model.rows[0]["operation"] == "sync.request"
            ),
            10,
        )

        # detail pane: the whole entry as JSON, structured details included
        logs.table.selectRow(0)
        detail = json.loads(logs.detail.toPlainText())
        assert detail["details"]["principal"] == "admin"

        # live tail: a new sync adds entries on top without reloading
        logs.search.clear()
        await wait_until(lambda: logs.model.rowCount() > 3, 10)
        before = logs.model.rowCount()
        logs.tail_timer.setInterval(200)
        logs.set_live_tail(True)
        run = real_agent.call("POST", f"/instances/{hr_id}/sync", {})
        await wait_until(
            lambda: any(
                r.get("sync_id") == run["id"] and r["operation"] == "sync.completed"
                for r in logs.model.rows
            ),
            20,
        )
        assert logs.model.rowCount() > before
        assert logs.model.rows[0]["timestamp"] >= logs.model.rows[-1]["timestamp"]
        logs.set_live_tail(False)

        # export everything matching the filters
        exported: list[tuple[str, int]] = []
        logs.sig_exported.connect(lambda path, n: exported.append((path, n)))
        logs.export(tmp_path / "logs.csv", "csv")
        logs.export(tmp_path / "logs.json", "json")
        await wait_until(lambda: len(exported) == 2, 10)

    arun(scenario(), timeout=60)
    with (tmp_path / "logs.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {r["instance"] for r in rows} == {"hr-files"}
    assert json.loads(rows[0]["details"]) is not None
    data = json.loads((tmp_path / "logs.json").read_text(encoding="utf-8"))
    assert len(data) == len(rows)
    assert real_agent.token not in (tmp_path / "logs.json").read_text(encoding="utf-8")


def test_instances_list_shows_status_last_sync_and_pauses(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()

    async def scenario() -> None:
        page: InstancesPage = await _open(window, real_agent, InstancesPage)
        await wait_until(lambda: page.model.rowCount() == 2, 10)
        await wait_until(lambda: all(r.get("last_sync_status") for r in page.model.rows), 10)
        by_name = {r["name"]: r for r in page.model.rows}
        assert by_name["hr-files"]["status"] == "active"
        assert by_name["hr-files"]["last_sync_status"] == "completed"
        assert by_name["broken-files"]["last_sync_status"] in ("failed", "completed")
        # the agent offers sync: the button is enabled once a row is selected
        assert page.select_name("hr-files")
        await wait_until(page.sync_button.isEnabled, 5)
        assert page.pause_button.isEnabled()
        page.pause_button.click()
        await wait_until(
            lambda: any(
                r["name"] == "hr-files" and r["status"] == "inactive" for r in page.model.rows
            ),
            10,
        )
        page.search.setText("broken")
        assert page.proxy.rowCount() == 1
        assert page.count_label.text() == "1 of 2 instances"

    arun(scenario(), timeout=60)


def test_home_dashboard_tiles_charts_alerts(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    arun: Callable[..., Any],
    tmp_path: Path,
) -> None:
    window = make_window()
    window.resize(1280, 860)

    async def scenario() -> HomePage:
        home: HomePage = await _open(window, real_agent, HomePage)
        await wait_until(lambda: home.instances.rowCount() == 2, 15)
        return home

    home = arun(scenario(), timeout=30)
    # the agent's own verdict (degraded while an instance is in error)
    assert home.tiles["agent"].value.text() == real_agent.call("GET", "/health")["status"]
    counts = {
        k: int(home.tiles[k].value.text()) for k in ("healthy", "degraded", "failing", "paused")
    }
    assert sum(counts.values()) == 2
    # Each instance's health is the agent's verdict (GET /health detail), with its score.
    detail = {h["name"]: h for h in real_agent.call("GET", "/health")["instance_health"]}
    for row in home.instances.rows:
        assert (row["health"], row["health_score"]) == (
            detail[row["name"]]["health"], detail[row["name"]]["score"])
    runs = real_agent.call("GET", "/sync-executions?limit=500")["items"]
    assert sum(home.charts["syncs"].values) == sum(
        1 for r in runs if r["status"] in ("completed", "failed")
    )
    assert sum(home.charts["records"].values) == sum(r["records_processed"] or 0 for r in runs)
    newest = real_agent.call("GET", "/logs?limit=15")["items"]
    assert [r["id"] for r in home.activity.rows] == [r["id"] for r in newest]
    # The alert panel shows the agent's own alerts (GET /alerts), named by instance.
    active = real_agent.call("GET", "/alerts?status=active&limit=200")["items"]
    assert {a["id"] for a in home.alerts.rows} == {a["id"] for a in active}
    broken = next(r for r in home.alerts.rows if r["subject"] == "broken-files")
    assert (broken["level"], broken["status"]) == ("error", "open")
    assert home.alerts.rows[0]["level"] == "error"  # critical first
    window.grab().save(str(tmp_path / "home.png"))
    assert (tmp_path / "home.png").stat().st_size > 10_000

    # Acknowledge it from the panel: the agent records it, the panel shows it.
    async def acknowledge() -> None:
        row = next(i for i, r in enumerate(home.alerts.rows) if r["id"] == broken["id"])
        home.alerts_view.selectRow(row)
        assert home.ack_button.isEnabled()
        home.ack_button.click()
        await wait_until(lambda: any(
            r["id"] == broken["id"] and r["status"] == "acknowledged"
            for r in home.alerts.rows), 15)

    arun(acknowledge(), timeout=30)
    assert real_agent.call("GET", f"/alerts/{broken['id']}")["status"] == "acknowledged"
