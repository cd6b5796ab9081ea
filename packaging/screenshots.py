"""Render each main screen of the console offscreen against a demo agent (``make screenshots``).

1. Start the GitHub, Jira and Splunk simulators on loopback, and the agent in a child process
   on SQLite in a temporary data directory.
2. Seed it through its REST API, as an administrator would: credentials (one expiring
   soon), instances of the built-in connectors against the simulators and a File Import of
   a folder of CSV files, schedules, one instance with a missing folder (so alerts show),
   then two rounds of syncs so there is real data.
3. Open the console with ``QT_QPA_PLATFORM=offscreen``, visit each screen and save
   ``widget.grab()`` into ``docs/images/`` (home, connectors, instances, wizard steps,
   history, credentials, status, logs).

Usage: ``.venv/bin/python packaging/screenshots.py [--out docs/images] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from connectors.sandbox import GitHubSimulator, JiraSimulator, SplunkSimulator, start  # noqa: E402
from connectors.sandbox.github import DEFAULT_PAT  # noqa: E402
from connectors.sandbox.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL  # noqa: E402
from connectors.sandbox.splunk import DEFAULT_TOKEN  # noqa: E402

WIDTH, HEIGHT = 1360, 860
PEOPLE = """id,name,email,department,manager,active
1001,Ada Lovelace,ada@acme.example,Engineering,,true
1002,Grace Hopper,grace@acme.example,Engineering,1001,true
1003,Linus Berg,linus@acme.example,IT Operations,1001,true
1004,Mary Jackson,mary@acme.example,Finance,,true
1005,Alan Turing,alan@acme.example,Security,1001,false
1006,Katherine Johnson,katherine@acme.example,Finance,1004,true
"""
DEVICES = """serial,hostname,owner,os,encrypted
C02XL0A1,ada-mbp,ada@acme.example,macOS 15.1,true
C02XL0A2,grace-mbp,grace@acme.example,macOS 15.1,true
5CG1234XYZ,linus-tp,linus@acme.example,Windows 11,false
"""


# -- the demo agent ----------------------------------------------------------------------------


class DemoAgent:
    """The real agent in a child process (SQLite in a temporary data directory)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.output: list[str] = []
        env = {
            **os.environ,
            "SIMPLETRUST_DATABASE_URL": f"sqlite:///{data_dir / 'agent.db'}",
            "SIMPLETRUST_DATA_DIR": str(data_dir),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        env.pop("QT_QPA_PLATFORM", None)
        simpletrust = Path(sys.executable).parent / "simpletrust"
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI, a fixed argument list
            [str(simpletrust), "agent", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while not self.token and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the agent exited:\n" + "".join(self.output))
            self.output.append(line)
            match = re.fullmatch(r"\s+(st_\S+)\s*", line)
            if match:
                self.token = match.group(1)
        threading.Thread(target=self._drain, daemon=True).start()
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/integration/health", timeout=2).is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the agent did not answer /health")

    def _drain(self) -> None:
        for line in self.process.stdout or []:
            self.output.append(line)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/api/integration{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def wait_sync(self, execution_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/sync-executions/{execution_id}")
            if run["status"] in ("completed", "failed", "cancelled"):
                return dict(run)
            time.sleep(0.3)
        raise TimeoutError(f"sync {execution_id} did not finish")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def seed(agent: DemoAgent, sims: dict[str, str], files: Path) -> dict[str, str]:
    """Credentials, instances, schedules and two rounds of syncs; returns instance ids."""
    connectors = {c["key"]: c for c in agent.call("GET", "/connectors?limit=100")["items"]}
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).isoformat()
    creds = {
        "github": agent.call(
            "POST",
            "/auth-configs",
            {
                "name": "GitHub PAT (acme-corp)",
                "auth_type": "bearer",
                "credentials": {"token": DEFAULT_PAT},
                "expiration": soon,
            },
        ),
        "jira": agent.call(
            "POST",
            "/auth-configs",
            {
                "name": "Jira Cloud API token",
                "auth_type": "basic",
                "credentials": {"username": DEFAULT_EMAIL, "password": DEFAULT_API_TOKEN},
            },
        ),
        "splunk": agent.call(
            "POST",
            "/auth-configs",
            {
                "name": "Splunk service token",
                "auth_type": "bearer",
                "credentials": {"token": DEFAULT_TOKEN},
            },
        ),
    }
    agent.call(
        "POST",
        "/auth-configs",
        {
            "name": "Okta OAuth client (unused)",
            "auth_type": "oauth2_client_credentials",
            "credentials": {
                "token_url": "https://acme.okta.example/oauth2/v1/token",
                "client_id": "0oa1demo",
                "client_secret": "demo-client-secret-not-real",
                "scope": "okta.users.read",
            },
        },
    )
    loopback = {"allow_loopback": True}
    specs: list[tuple[str, str, dict[str, Any], str | None, dict[str, Any] | None]] = [
        (
            "GitHub acme-corp",
            "github",
            {"base_url": sims["github"], "organization": "acme-corp"},
            creds["github"]["id"],
            {"schedule_type": "interval", "interval_minutes": 60},
        ),
        (
            "Jira Cloud security",
            "jira",
            {"base_url": sims["jira"], "projects": ["SEC", "OPS"]},
            creds["jira"]["id"],
            {"schedule_type": "cron", "cron_expression": "0 */4 * * *", "timezone": "UTC"},
        ),
        (
            "Splunk SIEM",
            "splunk",
            {
                "base_url": sims["splunk"],
                "searches": [{"name": "failed_logins", "spl": "index=main action=failure"}],
            },
            creds["splunk"]["id"],
            {"schedule_type": "interval", "interval_minutes": 15},
        ),
        (
            "HR people export",
            "file-import",
            {
                "folder": str(files),
                "streams": [
                    {"name": "people", "pattern": "people.csv", "primary_key": ["id"]},
                    {"name": "devices", "pattern": "devices.csv", "primary_key": ["serial"]},
                ],
            },
            None,
            {"schedule_type": "cron", "cron_expression": "30 6 * * 1-5", "timezone": "UTC"},
        ),
        (
            "Legacy HR share",
            "file-import",
            {"folder": str(files.parent / "unmounted-share")},
            None,
            None,
        ),
    ]
    ids: dict[str, str] = {}
    for name, key, configuration, credential, schedule in specs:
        instance = agent.call(
            "POST",
            "/instances",
            {
                "name": name,
                "connector_id": connectors[key]["id"],
                "configuration": configuration,
                "options": loopback,
                "auth_config_id": credential,
            },
        )
        ids[name] = instance["id"]
        agent.call("POST", f"/instances/{instance['id']}/test")
        agent.call("POST", f"/instances/{instance['id']}/activate")
        if schedule:
            agent.call("POST", "/schedules", {"instance_id": instance["id"], **schedule})
    # a later edit, so the configuration history has a change to show
    agent.call(
        "PUT",
        f"/instances/{ids['GitHub acme-corp']}",
        {
            "configuration": {
                "base_url": sims["github"],
                "organization": "acme-corp",
                "include_archived": True,
                "page_size": 50,
            }
        },
    )
    for _round in range(2):
        runs = [agent.call("POST", f"/instances/{i}/sync", {}) for i in ids.values()]
        for run in runs:
            agent.wait_sync(run["id"])
    return ids


# -- the console -------------------------------------------------------------------------------


class Shooter:
    """Drives the console like a user and saves each screen (runs on the qasync loop)."""

    def __init__(self, agent: DemoAgent, sims: dict[str, str], out: Path, work: Path) -> None:
        from app.core.profiles import ProfileStore, TokenStore  # noqa: PLC0415
        from app.qt.aio import progress_hub  # noqa: PLC0415
        from app.shell.main_window import MainWindow  # noqa: PLC0415

        self.agent, self.sims, self.out = agent, sims, out
        self.saved: list[Path] = []
        self.failures: list[str] = []
        progress_hub().sig_failed.connect(
            lambda what, text: self.failures.append(f"{what}: {text}")
        )
        self.window = MainWindow(profiles=ProfileStore(work / "profiles"), tokens=TokenStore())
        self.window.resize(WIDTH, HEIGHT)

    def save(self, widget: Any, name: str) -> None:
        from PySide6.QtWidgets import QApplication  # noqa: PLC0415

        path = self.out / f"console-{name}.png"
        QApplication.processEvents()
        widget.grab().save(str(path))
        self.saved.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    async def until(self, predicate: Callable[[], object], seconds: float = 20) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not predicate():  # noqa: ASYNC110 - widget state has no event to await
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise RuntimeError(
                "a screen did not fill in time; the console reported:\n" + "\n".join(self.failures)
            ) from None

    @staticmethod
    async def settle(seconds: float = 0.6) -> None:
        await asyncio.sleep(seconds)  # charts and lazily sized columns finish painting

    async def page(self, kind: type, ready: Callable[[Any], object]) -> Any:
        target = self.window.page(kind)
        self.window.show_page(self.window.pages.index(target))
        await self.until(lambda: ready(target))
        await self.settle()
        return target

    async def main_screens(self) -> None:
        from app.credentials.view import CredentialsPage  # noqa: PLC0415
        from app.home.view import HomePage  # noqa: PLC0415
        from app.instances.view import InstancesPage  # noqa: PLC0415
        from app.library.view import ConnectorsPage  # noqa: PLC0415
        from app.logs.view import LogsPage  # noqa: PLC0415
        from app.status.view import StatusPage  # noqa: PLC0415

        window = self.window
        window.show()
        window.connect_to(self.agent.url, self.agent.token)
        await self.until(lambda: window.session.is_connected)
        await self.until(lambda: window.session.supports("GET", "/connectors"))
        await self.page(HomePage, lambda p: p.instances.rowCount() >= 5)
        self.save(window, "home")
        connectors = await self.page(ConnectorsPage, lambda p: p.library.model.rowCount() >= 5)
        connectors.library.select_key("github")
        await self.settle(0.3)
        self.save(window, "connectors")
        instances = await self.page(
            InstancesPage,
            lambda p: p.model.rowCount() >= 5 and all(r.get("last_sync") for r in p.model.rows),
        )
        instances.select_name("GitHub acme-corp")
        await self.settle(0.3)
        self.save(window, "instances")
        history = instances.open_history()
        history.resize(980, 560)
        await self.until(lambda: history.revisions.rowCount() >= 2)
        history.revisions_view.selectRow(0)  # the newest: the configuration edit
        await self.until(lambda: history.changes.rowCount() > 0)
        await self.settle(0.3)
        self.save(history, "history")
        history.close()
        credentials = await self.page(CredentialsPage, lambda p: p.model.rowCount() >= 4)
        credentials.select_name("GitHub PAT (acme-corp)")
        self.save(window, "credentials")
        status = await self.page(StatusPage, lambda p: p.indicators.rowCount() >= 5)
        status.check_now()
        await self.until(lambda: any(r.get("latency_ms") for r in status.indicators.rows))
        await self.settle(1.0)
        self.save(window, "status")
        logs = await self.page(LogsPage, lambda p: p.model.rowCount() > 20)
        logs.table.selectRow(0)
        await self.settle(0.3)
        self.save(window, "logs")
        window.show_page(window.pages.index(instances))

    async def sign_in_step(self, wizard: Any) -> None:
        """Show a new credential being typed (secret masked), then use the stored one."""
        from PySide6.QtCore import Qt  # noqa: PLC0415

        sign_in = wizard.credential_page
        sign_in.create_new.setChecked(True)
        sign_in.editor.name.setText("Jira Cloud (second site)")
        form = sign_in.editor.form
        assert form is not None
        form.set_text("username", DEFAULT_EMAIL)
        form.set_text("password", DEFAULT_API_TOKEN)
        await self.settle(0.3)
        self.save(wizard, "wizard-2-sign-in")
        sign_in.use_existing.setChecked(True)
        sign_in.existing.setCurrentIndex(
            sign_in.existing.findText("Jira Cloud API token", Qt.MatchFlag.MatchStartsWith)
        )

    async def wizard_steps(self) -> None:
        """The wizard for Jira against its simulator, step by step, then cancelled."""
        from app.wizard.wizard import Step, open_wizard  # noqa: PLC0415

        wizard = open_wizard(
            self.window.session, self.window, connector_key="jira", delete_on_close=False
        )
        wizard.resize(1100, 760)

        async def step(target: Step) -> None:
            await self.until(lambda: wizard.currentPage().isComplete())
            wizard.next()
            await self.until(lambda: wizard.currentId() == target)
            await self.settle()

        await self.until(lambda: wizard.choose_page.library.selected() is not None)
        await self.settle()
        self.save(wizard, "wizard-1-connector")
        await step(Step.CREDENTIALS)
        await self.sign_in_step(wizard)
        await step(Step.PARAMETERS)
        params = wizard.parameters_page
        assert params.form is not None
        params.name.setText("Jira Cloud platform team")
        params.form.set_text("base_url", self.sims["jira"])
        params.form.set_text("projects", "SEC, OPS")
        params.form.set_text("page_size", "500")  # shows live validation
        params.advanced.set_expanded(True)
        params.allow_loopback.setChecked(True)
        await self.settle(0.3)
        self.save(wizard, "wizard-3-parameters")
        params.form.set_text("page_size", "50")
        await step(Step.TEST)
        await self.until(lambda: wizard.test_page.result is not None)
        await self.settle()
        self.save(wizard, "wizard-4-test")
        await step(Step.PREVIEW)
        await self.until(lambda: wizard.preview_page.preview is not None)
        await self.settle()
        self.save(wizard, "wizard-5-preview")
        await step(Step.SCHEDULE)
        wizard.schedule_page.cron.setChecked(True)
        await self.settle(0.3)
        self.save(wizard, "wizard-6-schedule")
        await step(Step.REVIEW)
        self.save(wizard, "wizard-7-review")
        wizard.reject()  # deletes the draft instance
        await self.settle()

    async def run(self) -> list[Path]:
        await self.main_screens()
        await self.wizard_steps()
        await self.window.shutdown()
        self.window.close()
        return self.saved


def render(agent: DemoAgent, sims: dict[str, str], out: Path, work: Path) -> list[Path]:
    """Open the console offscreen against ``agent`` and save every screen into ``out``."""
    import qasync  # noqa: PLC0415
    from PySide6.QtCore import QSettings  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "qs"))
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")
    from app.qt.theme import apply_theme  # noqa: PLC0415

    app = QApplication.instance() or QApplication(["screenshots"])
    assert isinstance(app, QApplication)
    apply_theme(app, "light")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        saved: list[Path] = loop.run_until_complete(Shooter(agent, sims, out, work).run())
    return saved


def run(out: Path, keep: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="simpletrust-screens-"))
    running = [
        start(GitHubSimulator()),
        start(JiraSimulator()),
        start(SplunkSimulator()),
    ]
    sims = {"github": running[0].url, "jira": running[1].url, "splunk": running[2].url}
    files = work / "files"
    files.mkdir()
    (files / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (files / "devices.csv").write_text(DEVICES, encoding="utf-8")
    agent = DemoAgent(work / "agent")
    try:
        agent.wait_ready()
        print(f"demo agent {agent.url}; seeding…")
        seed(agent, sims, files)
        print("rendering:")
        return render(agent, sims, out, work)
    except Exception:
        errors = [line for line in agent.output if "ERROR" in line or "Error" in line]
        print("agent errors:\n" + "".join(errors[-20:]), file=sys.stderr)
        raise
    finally:
        agent.stop()
        for sim in running:
            sim.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--keep", action="store_true", help="keep the demo data directory")
    options = parser.parse_args(argv)
    started = time.monotonic()
    saved = run(options.out, options.keep)
    print(f"{len(saved)} screenshots in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
