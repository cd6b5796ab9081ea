"""Evidence-driven remediation: a failed control check opens exactly one ITSM ticket, also
when its event is delivered twice (issue 8's Jira acceptance, end to end through the agent)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from connectors.sandbox import jira as jira_sim
from connectors.sandbox.server import serve
from server.db.engine import make_session_factory
from server.demo.peers import aws
from server.events.emit import emit
from tests.support.api import Api


def _issues_for(sim: Any, marker: str) -> list[dict[str, Any]]:
    return [i for i in sim.issues.values() if marker in str(i)]


def test_failed_check_opens_one_jira_issue(api: Api) -> None:
    peer = aws()
    assert peer is not None, "moto is a dev dependency"
    sim = jira_sim.JiraSimulator(deployment="cloud")
    try:
        with serve(sim) as running:
            jira_cred = api.post("/auth-configs", {
                "name": "jira", "auth_type": "basic", "credentials": {
                    "username": jira_sim.DEFAULT_EMAIL,
                    "password": jira_sim.DEFAULT_API_TOKEN}}).json()
            jira = api.create_instance("Jira", "jira", {"base_url": running.url},
                                       auth_config_id=jira_cred["id"])
            assert peer.credential is not None
            aws_cred = api.post("/auth-configs", {"name": "aws", **peer.credential}).json()
            account = api.create_instance("AWS", "aws", peer.configuration,
                                          auth_config_id=aws_cred["id"])
            sub = api.post("/event-subscriptions", {
                "instance_id": account["id"], "event_type": "check.failed",
                "filter_criteria": {"field": "data.check_id", "op": "equals",
                                    "value": "aws.s3.bucket_encryption"},
                "action_type": "write_action",
                "action_config": {"instance_id": jira["id"], "action": "create_issue",
                                  "payload": {"project_key": "SEC",
                                              "summary": "Unencrypted bucket {data.resource}",
                                              "description": "{data.title}",
                                              "dedupe_key": "{data.external_id}"}}})
            assert sub.status_code == 201, sub.text
            before = len(sim.issues)
            execution = api.sync(account["id"])
            assert execution["status"] == "completed", execution["error_details"]

            deadline = time.monotonic() + 60
            while len(sim.issues) == before:
                assert time.monotonic() < deadline, "no issue was opened"
                time.sleep(0.2)
            opened = [i for k, i in sim.issues.items()]
            assert len(sim.issues) == before + 1  # one failing bucket: one issue

            # The same finding delivered again (another event for it): still one issue.
            check = api.all("/records", entity_type="configuration_check",
                            instance_id=account["id"])
            failing = next(c for c in check if c["data"]["check_id"] ==
                           "aws.s3.bucket_encryption" and c["data"]["status"] == "fail")
            with make_session_factory(api.engine)() as session:
                emit(session, "check.failed", {
                    "record_id": failing["id"], "external_id": failing["external_id"],
                    "instance_id": account["id"], "check_id": "aws.s3.bucket_encryption",
                    "status": "fail", "resource": failing["data"].get("resource_name"),
                    "title": failing["data"].get("title"), "content_hash": "redelivery"},
                     dedupe_key=f"redelivery-{uuid.uuid4()}",
                     instance_id=uuid.UUID(account["id"]))
                session.commit()
            deadline = time.monotonic() + 60
            while True:  # until the agent has handled both deliveries
                events = api.get("/events", params={"type": "check.failed",
                                                    "instance_id": account["id"]}).json()
                redelivered = [e for e in events["items"]
                               if e["data"].get("content_hash") == "redelivery"]
                if redelivered and redelivered[0]["status"] not in ("pending", "processing"):
                    break
                assert time.monotonic() < deadline, events
                time.sleep(0.3)
            deliveries = api.all(f"/event-subscriptions/{sub.json()['id']}/deliveries")
            assert len(deliveries) >= 2, deliveries  # the action really ran twice
            assert len(sim.issues) == before + 1, opened
    finally:
        peer.stop()
