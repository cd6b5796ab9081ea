"""The simulators' shared machinery, driven over HTTP as the console's testing tools do:
control API, fault injection (before and after the work), throttling, latency, activity,
and the command-line runner."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from connectors.builtin.github import GitHubAppAuth
from connectors.sandbox import JiraSimulator, SplunkSimulator
from connectors.sandbox.github import DEFAULT_PAT, GitHubSimulator
from connectors.sandbox.server import RunningSimulator, serve

AUTH = {"Authorization": f"Bearer {DEFAULT_PAT}"}


def test_control_api_injects_faults_in_the_vendors_error_shape(
    github_server: RunningSimulator, sim: GitHubSimulator
) -> None:
    with httpx.Client(base_url=github_server.url, headers=AUTH) as client:
        added = client.post("/_sim/faults", json={"status": 503, "times": 2, "path": "/orgs/"})
        assert added.status_code == 201
        assert client.get("/_sim/state").json()["faults"][0]["times"] == 2
        first = client.get("/orgs/acme-corp")
        second = client.get("/orgs/acme-corp")
        third = client.get("/orgs/acme-corp")
        assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
        assert first.json()["message"] == "Service Unavailable"
        assert client.get("/_sim/state").json()["faults"] == []


def test_after_commit_faults_do_the_work_and_lose_the_answer(
    github_server: RunningSimulator, sim: GitHubSimulator
) -> None:
    with httpx.Client(base_url=github_server.url) as client:
        client.post("/_sim/faults", json={"status": 502, "path": "/access_tokens",
                                          "after_commit": True})
        token_url = f"/app/installations/{sim.installation_id}/access_tokens"
        auth = GitHubAppAuth(str(sim.app_id), sim.app_private_key_pem,
                             github_server.url + token_url)
        answer = client.post(token_url, headers={"Authorization": f"Bearer {auth.app_jwt()}"})
    assert answer.status_code == 502
    assert sim.tokens_issued == 1  # issued, but the caller never saw it


def test_throttle_latency_reset_and_activity_over_http(
    github_server: RunningSimulator, sim: GitHubSimulator
) -> None:
    with httpx.Client(base_url=github_server.url, headers=AUTH) as client:
        client.post("/_sim/throttle", json={"retry_after": 7, "status": 429})
        throttled = client.get("/orgs/acme-corp")
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "7"
        client.post("/_sim/faults", json={"latency_s": 0.3})
        started = time.monotonic()
        client.get("/orgs/acme-corp")
        assert time.monotonic() - started >= 0.3
        runs_before = client.get("/_sim/state").json()["objects"]["workflow_runs"]
        assert client.post("/_sim/activity", json={"steps": 2}).json()["runs_started"] == 2
        assert client.get("/_sim/state").json()["objects"]["workflow_runs"] == runs_before + 2
        assert client.post("/_sim/reset").status_code == 200
        state = client.get("/_sim/state").json()
        assert state["objects"]["workflow_runs"] == runs_before
        assert state["latency_s"] == 0
        seen = client.get("/_sim/requests").json()
        assert seen[-1]["headers"]["authorization-scheme"] == "Bearer"
        assert all(DEFAULT_PAT not in str(r) for r in seen)


@pytest.mark.parametrize("simulator", [JiraSimulator(deployment="server"), SplunkSimulator()],
                         ids=["jira", "splunk"])
def test_every_simulator_throttles_in_its_vendors_way(
    simulator: JiraSimulator | SplunkSimulator,
) -> None:
    simulator.faults.throttle(retry_after=2)
    with serve(simulator) as running, httpx.Client(base_url=running.url) as client:
        path = ("/rest/api/2/serverInfo" if isinstance(simulator, JiraSimulator)
                else "/services/server/info")
        answer = client.get(path)
    assert answer.headers["retry-after"] == "2"
    if isinstance(simulator, JiraSimulator):
        assert answer.status_code == 429
        assert answer.json()["errorMessages"] == ["Rate limit exceeded."]
    else:
        assert answer.status_code == 503
        assert answer.json()["messages"][0]["type"] == "FATAL"


def test_the_command_line_runner_serves_and_stops() -> None:
    with serve(GitHubSimulator()) as probe:
        port = probe.port  # a port that was free a moment ago
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox.server", f"splunk:{port}"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"splunk simulator on http://127.0.0.1:{port}"
        answer = httpx.get(f"http://127.0.0.1:{port}/services/collector/health")
        assert answer.json() == {"text": "HEC is healthy", "code": 17}
    finally:
        process.terminate()
        process.wait(timeout=10)
