"""Connection state machine against a stub agent that dies and comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from app.core.api import ApiClient
from app.core.connection import Backoff, Connection, ConnectionState
from app.core.errors import AgentUnreachableError

from .stub_agent import StubAgent


def _connection(url: str, token: str) -> Connection:
    client = ApiClient(url, token, timeout=2)
    return Connection(client, poll_interval=0.2, backoff=Backoff(initial=0.1, maximum=0.4))


def test_connects_loses_agent_and_recovers(arun: Callable[..., Any]) -> None:
    stub = StubAgent().start()
    seen: list[ConnectionState] = []

    async def scenario() -> None:
        conn = _connection(stub.url, stub.token)
        conn.add_listener(lambda s: seen.append(s.state))
        conn.start()
        try:
            async with asyncio.timeout(5):
                status = await conn.wait_for(ConnectionState.CONNECTED)
            assert status.role == "admin"
            stub.stop()
            async with asyncio.timeout(5):
                status = await conn.wait_for(ConnectionState.DISCONNECTED)
            assert "Cannot reach the agent" in status.message
            await asyncio.sleep(0.5)  # several failed retries
            stub.start()  # same port
            async with asyncio.timeout(5):
                await conn.wait_for(ConnectionState.CONNECTED)
        finally:
            await conn.close()
            stub.stop()

    arun(scenario())
    first_drop = seen.index(ConnectionState.DISCONNECTED)
    assert seen[0] is ConnectionState.CONNECTED
    assert ConnectionState.CONNECTED in seen[first_drop:]
    assert ConnectionState.CONNECTING in seen[first_drop:]  # it retried


def test_bad_token_waits_for_a_new_one(arun: Callable[..., Any], stub_agent: StubAgent) -> None:
    async def scenario() -> None:
        conn = _connection(stub_agent.url, "bad")
        conn.start()
        try:
            async with asyncio.timeout(5):
                status = await conn.wait_for(ConnectionState.UNAUTHORIZED)
            assert "refused the token" in status.message
            before = stub_agent.requests
            await asyncio.sleep(0.6)  # no hammering with a known-bad token
            assert stub_agent.requests - before == 0
            conn.set_token(stub_agent.token)
            async with asyncio.timeout(5):
                await conn.wait_for(ConnectionState.CONNECTED)
        finally:
            await conn.close()

    arun(scenario())


def test_request_failure_flips_state_at_once(arun: Callable[..., Any]) -> None:
    stub = StubAgent().start()

    async def scenario() -> None:
        client = ApiClient(stub.url, stub.token, timeout=2)
        conn = Connection(client, poll_interval=60, backoff=Backoff(initial=30))
        conn.start()
        try:
            async with asyncio.timeout(5):
                await conn.wait_for(ConnectionState.CONNECTED)
            stub.stop()
            with contextlib.suppress(AgentUnreachableError):
                await client.get("/instances")
            assert conn.state is ConnectionState.DISCONNECTED  # no 60 s poll needed
        finally:
            await conn.close()

    arun(scenario())
