"""docs/guides/cicd.md: both pipeline steps run as written against a real agent process."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from server.vault import MasterKey
from tests.agents.agent_process import AgentProcess
from tests.support.record_source import Source, generic_rest_config, serve_source

DOC = Path(__file__).resolve().parents[2] / "docs" / "guides" / "cicd.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return next(b for b in blocks if b.startswith(f"# {marker}:"))


def test_pipeline_steps_from_the_guide(tmp_path: Path) -> None:
    agent = AgentProcess(f"sqlite:///{tmp_path / 'agent.db'}", tmp_path / "data",
                         master_key=MasterKey.generate().to_text())
    agent.launch()
    with serve_source(Source(40)) as url:
        try:
            agent.wait_ready()
            connector = next(c["id"] for c in agent.call("GET", "/connectors", params={
                "q": "generic"}).json()["items"] if c["key"] == "generic-rest")

            def instance(name: str) -> str:
                created = agent.call("POST", "/instances", json={
                    "name": name, "connector_id": connector,
                    "configuration": generic_rest_config(url),
                    "options": {"allow_loopback": True}}).json()
                agent.call("POST", f"/instances/{created['id']}/activate")
                return str(created["id"])

            target, ci = instance("Cloud"), instance("CI")
            env = {"PATH": "/usr/bin:/bin", "AGENT_URL": f"http://127.0.0.1:{agent.port}",
                   "ST_TOKEN": agent.token, "INSTANCE_ID": target, "POLL_SECONDS": "0.3",
                   "MAX_POLLS": "100"}
            run = subprocess.run(["bash", "-c", _block("ci-step")], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
            assert run.returncode == 0, run.stdout + run.stderr
            assert "verification completed" in run.stdout
            assert "'created': 40" in run.stdout

            hook = agent.call("PUT", f"/instances/{ci}/webhook", json={
                "scheme": "standard_webhooks", "generate_secret": True}).json()
            assert agent.call("POST", "/event-subscriptions", json={
                "instance_id": ci, "event_type": "webhook.pipeline.completed",
                "action_type": "sync", "action_config": {"instance_id": target},
                "filter_criteria": {"field": "data.data.branch", "op": "equals",
                                    "value": "main"}}).status_code == 201
            sent = time.monotonic()
            run = subprocess.run(["bash", "-c", _block("ci-webhook")], env={
                "PATH": "/usr/bin:/bin", "WEBHOOK_URL": hook["url"],
                "WEBHOOK_SECRET": hook["new_secret"], "BRANCH": "main"},
                capture_output=True, text=True, timeout=30, check=False)
            assert run.returncode == 0, run.stderr
            assert '"status":"received"' in run.stdout
            while True:
                runs = agent.call("GET", "/sync-executions", params={
                    "instance_id": target}).json()["items"]
                if len(runs) == 2:
                    break
                assert time.monotonic() - sent < 10, "the webhook started no sync"
                time.sleep(0.1)
            assert runs[0]["trigger_type"] == "event"
        finally:
            agent.stop()
