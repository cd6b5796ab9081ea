"""On PostgreSQL a child process of the agent parses deliveries and dispatches events.

Checked with a real ``simpletrust agent``: deliveries become events and a subscription still
fires (its action runs in the agent); the child killed is restarted and loses nothing; the
agent killed takes its child with it; the agent stopped stops it. A child that cannot start
hands the parsing back to the agent's process. On SQLite there is no child.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server import children
from server.config import Settings
from server.db.engine import make_engine
from server.db.models import OutboxEvent, WebhookDelivery
from server.events.parser_process import ParserProcess
from server.vault import MasterKey
from tests.agents.agent_process import AgentProcess
from tests.support.procfs import alive, live_children
from tests.webhooks.helpers import signed, wait_for


def _count(db_url: str, model: Any) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


def _send(agent: AgentProcess, path: str, secret: str, n: int) -> None:
    for i in range(n):
        body, headers = signed(secret, {"type": "test.ping", "seq": i})
        resp = httpx.post(f"http://127.0.0.1:{agent.port}/api/integration{path}",
                          content=body, headers=headers, timeout=10)
        assert resp.status_code == 202, resp.text


def test_child_parses_restarts_and_stops_with_the_agent(db_url: str, backend: str,
                                                        tmp_path: Path) -> None:
    agent = AgentProcess(db_url, tmp_path / "data", master_key=MasterKey.generate().to_text())
    agent.launch()
    assert agent.proc is not None
    try:
        agent.wait_ready()
        connector = next(c["id"] for c in agent.call("GET", "/connectors", params={
            "q": "generic"}).json()["items"] if c["key"] == "generic-rest")
        instance = agent.call("POST", "/instances", json={
            "name": "hooks", "connector_id": connector,
            "configuration": {"base_url": "http://127.0.0.1:9", "streams": []}}).json()
        hook = agent.call("PUT", f"/instances/{instance['id']}/webhook", json={
            "scheme": "standard_webhooks", "generate_secret": True}).json()
        path = hook["url"].split("/api/integration", 1)[1]
        sub = agent.call("POST", "/event-subscriptions", json={
            "instance_id": instance["id"], "event_type": "webhook.test.*",
            "action_type": "notification", "action_config": {"message": "got ${type}"},
            "filter_criteria": {}}).json()

        _send(agent, path, hook["new_secret"], 5)
        wait_for(lambda: _count(db_url, OutboxEvent) >= 5, timeout=30)
        done = wait_for(lambda: [a for a in agent.call(
            "GET", f"/event-subscriptions/{sub['id']}/deliveries").json()["items"]
            if a["status"] == "succeeded"][4:], timeout=30)
        assert done  # the actions ran (in the agent) for the events the child dispatched

        children = live_children(agent.proc.pid)
        if backend == "sqlite":
            assert children == []  # parsed in the agent's own process
            return
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)
        first = agent.proc
        restarted = wait_for(lambda: [p for p in live_children(first.pid) if p != children[0]],
                             timeout=30)
        _send(agent, path, hook["new_secret"], 5)
        wait_for(lambda: _count(db_url, OutboxEvent) >= 10, timeout=30)
        assert _count(db_url, WebhookDelivery) == 10

        first.send_signal(signal.SIGKILL)  # the child sees its stdin close
        first.wait(timeout=10)
        wait_for(lambda: not alive(restarted[0]), timeout=30)

        agent.launch()  # stopped cleanly, the agent stops its child and exits with 0
        agent.wait_ready(agent.token)
        second = agent.proc
        assert second is not None
        child = wait_for(lambda: live_children(second.pid), timeout=30)
        second.terminate()
        assert second.wait(timeout=30) == 0
        assert not alive(child[0])
    finally:
        agent.stop()


class _Worker:
    def __init__(self) -> None:
        self.handed_off = False
        self.taken_back = False

    def hand_off(self, wake: Any) -> None:
        self.handed_off = True

    def take_back(self) -> None:
        self.taken_back = True

    def notify(self) -> None:
        pass


def test_a_child_that_cannot_start_hands_parsing_back(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(children, "RESTART_DELAY", 0.01)
    monkeypatch.setenv("SIMPLETRUST_MASTER_KEY", MasterKey.generate().to_text())
    nowhere = f"postgresql+psycopg://nobody@127.0.0.1:1/{uuid.uuid4().hex}"
    worker = _Worker()
    supervisor = ParserProcess(Settings(database_url=nowhere, data_dir=tmp_path), worker)
    started = time.monotonic()
    supervisor.start()
    try:
        wait_for(lambda: worker.taken_back, timeout=60)
    finally:
        supervisor.stop()
    assert worker.handed_off
    assert time.monotonic() - started < dt.timedelta(minutes=1).total_seconds()
