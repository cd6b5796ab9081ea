"""ApiClient against the loopback stub: auth, problem+json, pagination, transport errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.api import ApiClient, normalize_agent_url
from app.core.errors import AgentUnreachableError, ApiError, ProtocolError

from .stub_agent import StubAgent


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("http://Agent.Example:8765/api/integration/", "http://agent.example:8765"),
        ("https://h/prefix/api/integration", "https://h/prefix"),
    ],
)
def test_normalize_agent_url(typed: str, expected: str) -> None:
    assert normalize_agent_url(typed) == expected


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("", "must not be empty"),
        ("ftp://h", "scheme"),
        ("http://h:99999", "port"),
        ("http://", "host"),
    ],
)
def test_normalize_agent_url_rejects_with_field_name(typed: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        normalize_agent_url(typed)
    assert str(info.value).startswith("Agent URL:")


def test_me_and_health(stub_agent: StubAgent, arun: Callable[..., Any]) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = ApiClient(stub_agent.url, stub_agent.token)
        try:
            return await client.health(), await client.me()
        finally:
            await client.aclose()

    health, me = arun(scenario())
    assert health["status"] == "ok"
    assert me["role"] == "admin"


def test_bad_token_is_an_auth_api_error_and_notifies(
    stub_agent: StubAgent, arun: Callable[..., Any]
) -> None:
    heard: list[ApiError] = []

    async def scenario() -> ApiError:
        client = ApiClient(stub_agent.url, "wrong")
        client.on_unauthorized(heard.append)
        try:
            await client.me()
        except ApiError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no error")

    error = arun(scenario())
    assert error.status == 401
    assert error.is_auth_error
    assert "invalid bearer token" in error.user_message()
    assert heard == [error]
    assert "wrong" not in error.user_message()


def test_problem_json_field_errors(stub_agent: StubAgent, arun: Callable[..., Any]) -> None:
    async def scenario() -> ApiError:
        client = ApiClient(stub_agent.url, stub_agent.token)
        try:
            await client.post("/instances", {"name": "  "})
        except ApiError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no error")

    error = arun(scenario())
    assert error.status == 422
    assert error.field_message("name") == "must not be empty"
    assert error.field_message("connector_id") == "is required"
    text = error.user_message()
    assert "Unprocessable" in text
    assert "name: must not be empty" in text


def test_pagination_follows_cursor(stub_agent: StubAgent, arun: Callable[..., Any]) -> None:
    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        client = ApiClient(stub_agent.url, stub_agent.token)
        try:
            before = stub_agent.requests
            rows = await client.list_all("/logs", {"log_type": "error"}, page_size=7)
            return stub_agent.requests - before, rows
        finally:
            await client.aclose()

    calls, rows = arun(scenario())
    assert len(rows) == 30  # 120 logs, every fourth is an error
    assert {r["log_type"] for r in rows} == {"error"}
    assert calls == 5  # ceil(30 / 7)
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_pagination_loop_is_detected(arun: Callable[..., Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [{"id": 1}], "next_cursor": "same"})

    async def scenario() -> None:
        client = ApiClient("http://agent.test", "t", transport=httpx.MockTransport(handler))
        try:
            await client.list_all("/logs")
        finally:
            await client.aclose()

    with pytest.raises(ProtocolError, match="loop detected"):
        arun(scenario())


def test_unreachable_agent(arun: Callable[..., Any]) -> None:
    stub = StubAgent().start()
    url = stub.url
    stub.stop()
    heard: list[AgentUnreachableError] = []

    async def scenario() -> None:
        client = ApiClient(url, "t", timeout=2)
        client.on_unreachable(heard.append)
        try:
            await client.me()
        finally:
            await client.aclose()

    with pytest.raises(AgentUnreachableError, match="Cannot reach the agent"):
        arun(scenario())
    assert len(heard) == 1


def test_repr_hides_token() -> None:
    client = ApiClient("http://127.0.0.1:1", "s3cr3t-token")
    assert "s3cr3t" not in repr(client)
