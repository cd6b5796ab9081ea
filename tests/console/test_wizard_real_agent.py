"""The configuration wizard driven end to end against the real agent (child process, SQLite):
File Import without a credential, and GitHub (its simulator on loopback) with a credential
created in the wizard; each created instance then syncs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLineEdit

from app.shell.main_window import MainWindow
from app.wizard.wizard import ConfigWizard, Step, open_wizard
from connectors.sandbox import GitHubSimulator, RunningSimulator, start
from connectors.sandbox.github import DEFAULT_PAT

from .conftest import wait_until
from .real_agent import RealAgent


@pytest.fixture(scope="module")
def github_sim() -> Iterator[RunningSimulator]:
    running = start(GitHubSimulator())
    try:
        yield running
    finally:
        running.stop()


async def _wizard(window: MainWindow, agent: RealAgent) -> ConfigWizard:
    window.connect_to(agent.url, agent.token)
    await wait_until(lambda: window.session.is_connected, 10)
    await wait_until(lambda: window.session.supports("POST", "/instances/{instance_id}/test"), 10)
    wizard = open_wizard(window.session, window, delete_on_close=False)
    ready: list[bool] = []
    wizard.sig_ready.connect(lambda: ready.append(True))
    await wait_until(lambda: ready, 10)
    return wizard


async def _next(wizard: ConfigWizard, step: Step, seconds: float = 15) -> None:
    await wait_until(lambda: wizard.currentPage().isComplete(), seconds)
    wizard.next()
    await wait_until(lambda: wizard.currentId() == step, seconds)


def _wait_execution(agent: RealAgent, instance_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = agent.call("GET", f"/sync-executions?instance_id={instance_id}")["items"]
        if runs and runs[0]["status"] in ("completed", "failed", "cancelled"):
            return dict(runs[0])
        time.sleep(0.2)
    raise TimeoutError("no finished sync")


def test_wizard_creates_a_file_import_that_syncs(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    arun: Callable[..., Any],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "people"
    folder.mkdir()
    (folder / "people.csv").write_text(
        "id,name,email\n1,Ada,ada@example.org\n2,Grace,grace@example.org\n3,Linus,l@example.org\n",
        encoding="utf-8",
    )
    window = make_window()

    async def scenario() -> ConfigWizard:
        wizard = await _wizard(window, real_agent)
        library = wizard.choose_page.library
        assert library.model.rowCount() >= 5
        # categorised and searchable
        library.select_category("File")
        assert library.proxy.rowCount() == 1
        library.select_category(None)
        library.search.setText("csv")
        assert {library.proxy.index(r, 0).data() for r in range(library.proxy.rowCount())} == {
            "File Import"
        }
        assert library.select_key("file-import")
        # File Import needs no credential: the sign-in step is skipped
        await _next(wizard, Step.PARAMETERS)
        params = wizard.parameters_page
        assert params.form is not None
        folder_editor = params.form.editor("folder")
        assert params.form.fields[0].label == "Folder *"  # required fields are marked
        wizard.next()  # refused: the folder is required, and the form says so
        assert wizard.currentId() == Step.PARAMETERS
        assert folder_editor.error.text() == "Folder: is required"
        assert not folder_editor.error.isHidden()
        # live validation of a nested list item, naming the field
        params.form.editor("streams").add_item()  # type: ignore[attr-defined]
        stream_name = params.form.editor("streams[0].name")
        stream_name.input.setText("9bad")  # type: ignore[attr-defined]
        assert stream_name.error.text().startswith("Streams > #1 > Name: must match")
        stream_name.input.setText("people")  # type: ignore[attr-defined]
        assert stream_name.error.isHidden()
        pattern = params.form.editor("streams[0].pattern")
        assert pattern.error.text() == "Streams > #1 > Pattern: is required"
        pattern.input.setText("people.csv")  # type: ignore[attr-defined]
        params.form.editor("streams[0].primary_key").input.setText("id")  # type: ignore[attr-defined]
        # a second, empty item can be removed again
        streams = params.form.editor("streams")
        streams.add_item()  # type: ignore[attr-defined]
        streams.remove_item(streams.items[1][0])  # type: ignore[attr-defined]
        assert len(streams.items) == 1  # type: ignore[attr-defined]
        folder_editor.input.setText(str(folder))  # type: ignore[attr-defined]
        assert folder_editor.error.isHidden()
        params.name.setText("wizard-people")
        assert not params.advanced.expanded
        params.advanced.toggle.click()
        assert params.advanced.expanded
        assert params.timeout.isVisible()
        params.timeout.setValue(20)

        await _next(wizard, Step.TEST)
        test = wizard.test_page
        await wait_until(lambda: test.result is not None, 15)
        assert test.passed
        statuses = {r["name"]: r["status"] for r in test.model.rows}
        assert statuses["reachable"] == "passed"
        assert "All checks passed" in test.summary.text()

        await _next(wizard, Step.PREVIEW)
        preview = wizard.preview_page
        await wait_until(lambda: preview.preview is not None, 15)
        assert preview.stream.currentText() == "people"
        names = {r["name"] for r in preview.records.rows}
        assert names == {"Ada", "Grace", "Linus"}
        assert [c.key for c in preview.records.columns] == ["id", "name", "email"]

        await _next(wizard, Step.SCHEDULE)
        schedule = wizard.schedule_page
        schedule.cron.setChecked(True)
        schedule.cron_text.setText("0 2 * *")
        assert not schedule.isComplete()
        assert "needs five fields" in schedule.errors["cron_expression"].text()
        schedule.interval.setChecked(True)
        schedule.minutes.setValue(45)
        assert schedule.isComplete()

        await _next(wizard, Step.REVIEW)
        text = wizard.review_page.summary.toPlainText()
        assert "wizard-people" in text
        assert "every 45 min" in text
        assert str(folder) in text
        created: list[Any] = []
        wizard.sig_created.connect(created.append)
        wizard.button(wizard.WizardButton.FinishButton).click()
        await wait_until(lambda: created, 20)
        await wait_until(lambda: not wizard.isVisible(), 5)
        return wizard

    wizard = arun(scenario(), timeout=90)
    assert wizard.created is not None
    instance = wizard.created.instance
    assert instance["status"] == "active"
    assert instance["options"]["http_timeout"] == 20
    assert wizard.created.schedule is not None
    assert wizard.created.schedule["interval_minutes"] == 45
    run = _wait_execution(real_agent, instance["id"])
    assert run["status"] == "completed"
    assert run["records_processed"] == 3
    records = real_agent.call("GET", f"/records?instance_id={instance['id']}")["items"]
    assert len(records) == 3
    assert instance["configuration"]["streams"] == [
        {
            "name": "people",
            "pattern": "people.csv",
            "format": "auto",
            "primary_key": ["id"],
            "typed": True,
        }
    ]


def test_wizard_with_a_new_credential_against_the_github_simulator(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    github_sim: RunningSimulator,
    arun: Callable[..., Any],
) -> None:
    window = make_window()

    async def scenario() -> ConfigWizard:
        wizard = await _wizard(window, real_agent)
        assert wizard.choose_page.library.select_key("github")
        await _next(wizard, Step.CREDENTIALS)
        page = wizard.credential_page
        assert page.create_new.isChecked()  # nothing stored for bearer yet
        editor = page.editor
        methods = [editor.method.itemData(i) for i in range(editor.method.count())]
        assert methods == ["bearer", "oauth2_authorization_code", "jwt_bearer"]
        assert editor.form is not None
        token = editor.form.editor("token")
        assert token.input.echoMode() == QLineEdit.EchoMode.Password  # type: ignore[attr-defined]
        editor.name.setText("wizard GitHub PAT")
        token.input.setText(DEFAULT_PAT)  # type: ignore[attr-defined]
        await _next(wizard, Step.PARAMETERS)
        # stored now: chosen as an existing credential; nothing typed is kept in the form
        assert page.use_existing.isChecked()
        assert page.existing.currentData()["name"] == "wizard GitHub PAT"
        assert editor.form is not None
        assert editor.form.editor("token").input.text() == ""  # type: ignore[attr-defined]
        params = wizard.parameters_page
        assert params.form is not None
        params.form.editor("organization").input.setText("acme-corp")  # type: ignore[attr-defined]
        params.form.editor("base_url").input.setText(github_sim.url)  # type: ignore[attr-defined]
        params.form.editor("page_size").input.setText("500")  # type: ignore[attr-defined]
        assert params.form.editor("page_size").error.text() == "Page Size: must be at most 100"
        params.form.editor("page_size").input.setText("")  # type: ignore[attr-defined]
        params.name.setText("wizard-github")
        params.advanced.set_expanded(True)
        params.allow_loopback.setChecked(True)  # the simulator runs on this machine
        await _next(wizard, Step.TEST)
        await wait_until(lambda: wizard.test_page.result is not None, 20)
        assert wizard.test_page.passed, wizard.test_page.result
        assert "2022-11-28" in wizard.test_page.summary.text()
        await _next(wizard, Step.PREVIEW)
        preview = wizard.preview_page
        await wait_until(lambda: preview.preview is not None, 20)
        assert preview.records.rowCount() > 0
        assert preview.mapped.rowCount() == preview.records.rowCount()
        assert "configuration_check" in preview.mapped_caption.text()  # type: ignore[union-attr]
        await _next(wizard, Step.SCHEDULE)
        wizard.schedule_page.manual.setChecked(True)
        await _next(wizard, Step.REVIEW)
        assert "wizard GitHub PAT" in wizard.review_page.summary.toPlainText()
        assert DEFAULT_PAT not in wizard.review_page.summary.toPlainText()
        created: list[Any] = []
        wizard.sig_created.connect(created.append)
        wizard.button(wizard.WizardButton.FinishButton).click()
        await wait_until(lambda: created, 20)
        return wizard

    wizard = arun(scenario(), timeout=90)
    assert wizard.created is not None
    assert wizard.created.schedule is None
    instance = wizard.created.instance
    credentials = real_agent.call("GET", "/auth-configs")["items"]
    pat = next(c for c in credentials if c["name"] == "wizard GitHub PAT")
    assert DEFAULT_PAT not in str(pat)
    assert instance["auth_config_id"] == pat["id"]
    run = _wait_execution(real_agent, instance["id"])
    assert run["status"] == "completed", run
    assert run["records_processed"] > 20
