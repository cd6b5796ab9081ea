"""Connectors, Status, clone and configuration history against the real agent (child process,
SQLite, seeded with a synced File Import and a failing one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from app.instances.view import InstancesPage
from app.library.view import ConnectorsPage
from app.shell.main_window import MainWindow
from app.status.view import StatusPage
from app.wizard.wizard import ConfigWizard, Step

from .conftest import wait_until
from .real_agent import RealAgent


async def _open(window: MainWindow, agent: RealAgent, page_type: type[QWidget]) -> Any:
    window.connect_to(agent.url, agent.token)
    await wait_until(lambda: window.session.is_connected, 10)
    await wait_until(lambda: window.session.supports("GET", "/connectors"), 10)
    page = window.page(page_type)  # type: ignore[arg-type]
    window.show_page(window.pages.index(page))
    return page


def test_connector_library_categories_search_and_details(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()

    async def scenario() -> ConnectorsPage:
        page: ConnectorsPage = await _open(window, real_agent, ConnectorsPage)
        await wait_until(lambda: page.library.model.rowCount() >= 5, 10)
        return page

    page = arun(scenario())
    _check_library(page, real_agent)

    async def configure() -> str:
        assert page.library.select_key("jira")
        await wait_until(page.configure_button.isEnabled, 5)
        page.configure_button.click()  # opens the wizard with Jira chosen
        wizard = window.findChild(ConfigWizard)
        assert wizard is not None
        await wait_until(lambda: wizard.choose_page.library.selected() is not None, 10)
        key = str(wizard.choose_page.library.selected()["key"])  # type: ignore[index]
        wizard.reject()
        return key

    assert arun(configure()) == "jira"


def _check_library(page: ConnectorsPage, real_agent: RealAgent) -> None:
    library = page.library
    agent_connectors = real_agent.call("GET", "/connectors?limit=100")["items"]
    assert library.model.rowCount() == len(agent_connectors)
    categories = [library.categories.item(i).text() for i in range(library.categories.count())]
    assert categories[0] == f"All connectors ({len(agent_connectors)})"
    assert "ITSM (1)" in categories
    library.select_category("ITSM")
    assert library.proxy.rowCount() == 1
    assert library.select_key("github")  # clears the category that hides it
    assert "Organisation members" in page.details.toPlainText()
    assert "Bearer token" in page.details.toPlainText()
    library.search.setText("atlassian")
    assert library.proxy.rowCount() == 1
    file_import = next(r for r in library.model.rows if r["key"] == "file-import")
    assert file_import["instance_count"] == 2  # hr-files and broken-files


def test_status_dashboard_figures_and_live_check(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()
    window.resize(1300, 860)

    async def scenario() -> StatusPage:
        page: StatusPage = await _open(window, real_agent, StatusPage)
        await wait_until(lambda: page.indicators.rowCount() >= 2, 15)
        checked: list[int] = []
        page.sig_checked.connect(checked.append)
        page.check_now()
        await wait_until(lambda: checked, 15)
        return page

    page = arun(scenario(), timeout=40)
    rows = {r["name"]: r for r in page.indicators.rows}
    hr_runs = [
        r
        for r in real_agent.call("GET", "/sync-executions?limit=500")["items"]
        if r["instance_id"] == rows["hr-files"]["id"]
    ]
    # its CSV has no primary key: the syncs complete, every record is an error
    assert rows["hr-files"]["health"] == "degraded"
    assert rows["hr-files"]["uptime"] == 100.0
    processed = sum(r["records_processed"] or 0 for r in hr_runs)
    errors = sum(r["error_count"] or 0 for r in hr_runs)
    assert rows["hr-files"]["error_rate"] == 100.0 * errors / processed
    assert rows["broken-files"]["health"] == "failing"
    assert rows["broken-files"]["uptime"] == 0.0
    # the live check tested the active instance and shows its response time
    assert rows["hr-files"]["latency_ms"] is not None
    runs = real_agent.call("GET", "/sync-executions?limit=500")["items"]
    volume = sum(r["records_processed"] or 0 for r in runs)
    assert sum(page.charts["volume"].values["records"]) == volume
    assert rows["hr-files"]["records"] == sum(
        r["records_processed"] or 0 for r in runs if r["instance_id"] == rows["hr-files"]["id"]
    )
    availability = dict(
        zip(
            [r["name"] for r in page.figures.indicators if r.get("uptime") is not None],
            page.charts["uptime"].values["availability"],
            strict=True,
        )
    )
    assert availability["hr-files"] == 100.0
    assert page.tabs.tabText(3).startswith("Version alerts (")


def test_clone_prefills_the_wizard_and_cancel_deletes_the_draft(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    window = make_window()

    async def scenario() -> None:
        page: InstancesPage = await _open(window, real_agent, InstancesPage)
        await wait_until(lambda: page.select_name("hr-files"), 10)
        await wait_until(page.clone_button.isEnabled, 5)
        wizard = page.open_clone_wizard()
        assert wizard is not None
        ready: list[bool] = []
        wizard.sig_ready.connect(lambda: ready.append(True))
        await wait_until(lambda: ready, 10)
        assert wizard.choose_page.library.selected()["key"] == "file-import"  # type: ignore[index]
        wizard.next()
        await wait_until(lambda: wizard.currentId() == Step.PARAMETERS, 10)
        params = wizard.parameters_page
        assert params.name.text() == "hr-files copy"
        assert params.form is not None
        source = next(
            i
            for i in real_agent.call("GET", "/instances?limit=100")["items"]
            if i["name"] == "hr-files"
        )
        assert params.form.value()["folder"] == source["configuration"]["folder"]
        wizard.next()  # saves the draft and tests it
        await wait_until(lambda: wizard.currentId() == Step.TEST, 10)
        names = [i["name"] for i in real_agent.call("GET", "/instances?limit=100")["items"]]
        assert "hr-files copy" in names
        wizard.reject()
        await wait_until(
            lambda: (
                "hr-files copy"
                not in [i["name"] for i in real_agent.call("GET", "/instances?limit=100")["items"]]
            ),
            10,
        )

    arun(scenario(), timeout=40)


def test_history_shows_revisions_and_the_diff(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    instance = next(
        i
        for i in real_agent.call("GET", "/instances?limit=100")["items"]
        if i["name"] == "hr-files"
    )
    real_agent.call(
        "PUT",
        f"/instances/{instance['id']}",
        {"configuration": {**instance["configuration"], "streams": []}, "name": "hr-files"},
    )
    window = make_window()

    async def scenario() -> Any:
        page: InstancesPage = await _open(window, real_agent, InstancesPage)
        await wait_until(lambda: page.select_name("hr-files"), 10)
        await wait_until(page.history_button.isEnabled, 5)
        assert page.history_button.isVisible()  # the agent lists the revisions endpoint
        dialog = page.open_history()
        assert dialog is not None
        loaded: list[int] = []
        dialog.sig_diff_loaded.connect(loaded.append)
        await wait_until(lambda: loaded, 10)
        newest = dialog.revisions.rows[0]["revision"]
        assert loaded == [newest]
        changes = {c["path"]: c for c in dialog.changes.rows}
        dialog.revisions_view.selectRow(dialog.revisions.rowCount() - 1)  # the creation
        await wait_until(lambda: loaded[-1] == 1, 10)
        created = {c["path"]: c for c in dialog.changes.rows}
        dialog.close()
        return changes, created

    changes, created = arun(scenario(), timeout=30)
    assert "configuration.streams" in changes
    assert created["name"]["change"] == "added"
    assert created["name"]["after"] == "hr-files"
    assert created["configuration.folder"]["after"] == instance["configuration"]["folder"]
