"""The Credentials page against the real agent: create with masked secrets, agent-side field
errors under the field, expiry warnings, users of each credential, test against a probe URL,
and OAuth sign-in through a (test-driven) browser and a loopback redirect with a real
authlib authorization server, the refresh token stored in the agent's vault."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PySide6.QtWidgets import QLineEdit

from app.credentials.view import CredentialsPage
from app.shell.main_window import MainWindow
from connectors.sandbox import GitHubSimulator, RunningSimulator, start
from connectors.sandbox.github import DEFAULT_PAT
from tests.auth.oauth_server import Client, OAuthServer, running_oauth_server

from .conftest import wait_until
from .real_agent import RealAgent


@pytest.fixture(scope="module")
def github_sim() -> Iterator[RunningSimulator]:
    running = start(GitHubSimulator())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    with running_oauth_server() as server:
        yield server


class Browser:
    """Stands in for the system browser: follows the authorize redirect to the loopback."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.tasks: list[asyncio.Task[httpx.Response]] = []

    def open(self, url: str) -> bool:
        self.opened.append(url)

        async def visit() -> httpx.Response:
            async with httpx.AsyncClient(follow_redirects=True) as browser:
                return await browser.get(url)

        self.tasks.append(asyncio.get_running_loop().create_task(visit()))
        return True


async def _page(window: MainWindow, agent: RealAgent) -> CredentialsPage:
    window.connect_to(agent.url, agent.token)
    await wait_until(lambda: window.session.is_connected, 10)
    page = window.page(CredentialsPage)
    assert isinstance(page, CredentialsPage)
    window.show_page(window.pages.index(page))
    return page


def _visible_text(page: CredentialsPage) -> str:
    model = page.model
    return " ".join(
        str(model.index(r, c).data())
        for r in range(model.rowCount())
        for c in range(model.columnCount())
    )


def test_create_test_and_warn_about_expiry(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    github_sim: RunningSimulator,
    arun: Callable[..., Any],
) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    real_agent.call(
        "POST",
        "/auth-configs",
        {
            "name": "old service token",
            "auth_type": "bearer",
            "credentials": {"token": "expiring-token-value-1234"},
            "expiration": soon,
        },
    )
    window = make_window()

    async def scenario() -> CredentialsPage:
        page = await _page(window, real_agent)
        await wait_until(lambda: page.model.rowCount() >= 1, 10)
        # expiry warning banner names the credential
        assert page.warnings.isVisible()
        assert "old service token: expires" in page.warnings.text
        row = next(r for r in page.model.rows if r["name"] == "old service token")
        assert row["expiry_state"] == "expires soon"

        # new credential: the dialog masks the secret; agent-side problems land on the field
        dialog = page.open_new_dialog()
        editor = dialog.editor
        editor.method.setCurrentIndex(editor.method.findData("api_key"))
        assert editor.form is not None
        key = editor.form.editor("api_key")
        assert key.input.echoMode() == QLineEdit.EchoMode.Password  # type: ignore[attr-defined]
        dialog.submit()  # nothing typed: refused locally, naming the fields
        assert editor.name_error.text() == "Name: is required"
        assert key.error.text() == "Api Key: is required"
        editor.method.setCurrentIndex(editor.method.findData("bearer"))
        editor.name.setText("old service token")  # taken: the agent says so
        editor.form.editor("token").input.setText(DEFAULT_PAT)  # type: ignore[attr-defined]
        dialog.submit()
        await wait_until(lambda: not editor.general_error.isHidden(), 10)
        assert dialog.isVisible()
        editor.name.setText("GitHub PAT (console)")
        created: list[Any] = []
        dialog.sig_created.connect(created.append)
        dialog.submit()
        await wait_until(lambda: created, 10)
        await wait_until(lambda: any(r["name"] == "GitHub PAT (console)" for r in page.model.rows))
        assert DEFAULT_PAT not in _visible_text(page)
        assert "token ••••0000" in _visible_text(page)  # the masked hint, never the secret

        # test against a probe URL of the system it is for
        assert page.select_name("GitHub PAT (console)")
        page.probe.setText(f"{github_sim.url}/user")
        results: list[tuple[bool, str]] = []
        page.sig_tested.connect(lambda ok, text: results.append((ok, text)))
        page.test_button.click()
        await wait_until(lambda: results, 15)
        return page

    page = arun(scenario(), timeout=60)
    assert page.result.text().startswith("Test of GitHub PAT (console): ok")
    stored = next(
        c
        for c in real_agent.call("GET", "/auth-configs?limit=200")["items"]
        if c["name"] == "GitHub PAT (console)"
    )
    assert DEFAULT_PAT not in str(stored)


def test_used_by_lists_the_instances(
    make_window: Callable[[], MainWindow], real_agent: RealAgent, arun: Callable[..., Any]
) -> None:
    cred = real_agent.call(
        "POST",
        "/auth-configs",
        {"name": "shared token", "auth_type": "bearer", "credentials": {"token": "t" * 20}},
    )
    connectors = real_agent.call("GET", "/connectors?limit=100")["items"]
    github = next(c for c in connectors if c["key"] == "github")
    for name in ("gh one", "gh two"):
        real_agent.call(
            "POST",
            "/instances",
            {
                "name": name,
                "connector_id": github["id"],
                "configuration": {"organization": "x"},
                "auth_config_id": cred["id"],
            },
        )
    window = make_window()

    async def scenario() -> dict[str, Any]:
        page = await _page(window, real_agent)
        await wait_until(lambda: any(r["name"] == "shared token" for r in page.model.rows), 10)
        return next(r for r in page.model.rows if r["name"] == "shared token")

    row = arun(scenario())
    assert row["used_by_text"] == "gh one, gh two"
    assert row["fields_text"] == "token ••••tttt"


def test_oauth_sign_in_stores_the_refresh_token(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    oauth_server: OAuthServer,
    arun: Callable[..., Any],
) -> None:
    oauth_server.add_client(Client("desktop", None, ("authorization_code", "refresh_token")))
    real_agent.call(
        "POST",
        "/auth-configs",
        {
            "name": "desktop sign-in",
            "auth_type": "oauth2_authorization_code",
            "credentials": {
                "authorize_url": oauth_server.authorize_url,
                "token_url": oauth_server.token_url,
                "client_id": "desktop",
                "scope": "read write",
            },
        },
    )
    window = make_window()
    browser = Browser()

    async def scenario() -> CredentialsPage:
        page = await _page(window, real_agent)
        page.open_browser = browser.open
        page.sign_in_wait_seconds = 15
        await wait_until(lambda: page.select_name("desktop sign-in"), 10)
        assert page.sign_in_button.isEnabled()
        signed: list[Any] = []
        page.sig_signed_in.connect(signed.append)
        page.sign_in_button.click()
        await wait_until(lambda: signed, 20)
        pages = await asyncio.gather(*browser.tasks)
        assert pages[0].status_code == 200
        assert "Signed in" in pages[0].text
        await wait_until(
            lambda: any("refresh_token" in (r.get("secret_hints") or {}) for r in page.model.rows),
            10,
        )
        return page

    page = arun(scenario(), timeout=60)
    url = httpx.URL(browser.opened[0])
    assert url.params["code_challenge_method"] == "S256"
    assert url.params["redirect_uri"].startswith("http://127.0.0.1:")
    assert oauth_server.token_requests["authorization_code"] == 1
    issued = oauth_server.tokens[-1].refresh_token
    assert issued
    assert issued not in _visible_text(page)
    assert page.result.text().startswith("Signed in: desktop sign-in")
    stored = next(
        c
        for c in real_agent.call("GET", "/auth-configs?limit=200")["items"]
        if c["name"] == "desktop sign-in"
    )
    assert stored["secret_hints"]["refresh_token"].endswith(issued[-4:])
    assert issued not in str(stored)


def test_oauth_sign_in_declined_is_reported(
    make_window: Callable[[], MainWindow],
    real_agent: RealAgent,
    oauth_server: OAuthServer,
    arun: Callable[..., Any],
) -> None:
    oauth_server.add_client(Client("desktop2", None, ("authorization_code", "refresh_token")))
    oauth_server.deny_consent = True
    real_agent.call(
        "POST",
        "/auth-configs",
        {
            "name": "declined sign-in",
            "auth_type": "oauth2_authorization_code",
            "credentials": {
                "authorize_url": oauth_server.authorize_url,
                "token_url": oauth_server.token_url,
                "client_id": "desktop2",
            },
        },
    )
    window = make_window()
    browser = Browser()

    async def scenario() -> CredentialsPage:
        page = await _page(window, real_agent)
        page.open_browser = browser.open
        page.sign_in_wait_seconds = 15
        await wait_until(lambda: page.select_name("declined sign-in"), 10)
        page.sign_in_button.click()
        await wait_until(lambda: page.result.text().startswith("Sign-in failed"), 20)
        await asyncio.gather(*browser.tasks)
        return page

    page = arun(scenario(), timeout=60)
    assert "denied" in page.result.text().lower() or "declined" in page.result.text().lower()
    stored = next(
        c
        for c in real_agent.call("GET", "/auth-configs?limit=200")["items"]
        if c["name"] == "declined sign-in"
    )
    assert "refresh_token" not in stored["secret_hints"]
