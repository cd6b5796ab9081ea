"""The examples in docs/guides/authentication.md run, and the guide names every field."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from connectors.sdk.auth import FIELD_MODELS

from .oauth_server import Client, OAuthServer

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "authentication.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)


@pytest.mark.usefixtures("fail_keyring")
def test_guide_examples_run(oauth_server: OAuthServer) -> None:
    oauth_server.add_client(Client("svc", "canary-client-secret-7d1e4b", ("client_credentials",)))
    oauth_server.add_client(Client("desktop", None, ("authorization_code", "refresh_token")))

    async def open_browser(url: str) -> None:
        async def visit() -> None:
            async with httpx.AsyncClient(follow_redirects=True) as browser:
                await browser.get(url)

        tasks.append(asyncio.get_running_loop().create_task(visit()))

    tasks: list[asyncio.Task[None]] = []
    namespace = {
        "TOKEN_URL": oauth_server.token_url,
        "AUTHORIZE_URL": oauth_server.authorize_url,
        "API_URL": f"{oauth_server.base_url}/api/me",
        "open_browser": open_browser,
        "__file__": str(GUIDE),
    }
    blocks = _python_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)


def test_guide_names_every_field_of_every_method() -> None:
    text = GUIDE.read_text()
    for method, model in FIELD_MODELS.items():
        heading = f" — `{method.value}`\n"
        assert heading in text, f"no section for {method.value}"
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        missing = [name for name in model.model_fields if f"`{name}`" not in section]
        assert not missing, f"{method.value}: {missing}"
