"""Write actions: create_issue is idempotent by dedupe_key (twice, concurrently, after a lost
answer, against a racing agent, with lagging search), on Cloud v3 and Server v2."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from connectors.builtin.jira import JiraConnector, dedupe_label
from connectors.sandbox.jira import JiraSimulator, adf_text
from connectors.sdk import ConnectorContext, InvalidInputError, RemoteServerError

from .helpers import loopback_context


def finding(**changes: Any) -> dict[str, Any]:
    return {
        "project_key": "SEC",
        "summary": "S3 bucket backups-eu is public",
        "description": "Check: s3_bucket_public_access_block\n\nFound by SimpleTrust.",
        "issue_type": "Bug",
        "priority": "High",
        "labels": ["compliance"],
        "dedupe_key": f"finding-{uuid.uuid4()}",
        **changes,
    }


async def test_same_dedupe_key_twice_opens_exactly_one_issue(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    payload = finding()
    first = await connector.write("create_issue", payload)
    second = await connector.write("create_issue", payload)
    assert first.output["created"] is True
    assert second.output["created"] is False
    assert second.output["key"] == first.output["key"]
    assert sim.issues_labelled(dedupe_label(payload["dedupe_key"])) == [first.output["key"]]
    issue = sim.issues[first.output["key"]]
    assert issue["properties"]["simpletrust"] == {"dedupe_key": payload["dedupe_key"]}
    assert issue["description"] == payload["description"]  # ADF on v3, text on v2
    assert {"compliance", dedupe_label(payload["dedupe_key"])} == set(issue["labels"])


async def test_concurrent_calls_open_one_issue(
    jira_config: dict[str, Any], jira_auth: httpx.Auth, sim: JiraSimulator
) -> None:
    payload = finding()
    async with JiraConnector(jira_config, credentials=jira_auth,
                             context=loopback_context()) as one, \
            JiraConnector(jira_config, credentials=jira_auth,
                          context=loopback_context()) as other:
        results = await asyncio.gather(
            *(c.write("create_issue", payload) for c in (one, other, one, other, one))
        )
    keys = {r.output["key"] for r in results}
    assert len(keys) == 1
    assert sum(r.output["created"] for r in results) == 1
    assert sim.issues_labelled(dedupe_label(payload["dedupe_key"])) == list(keys)


async def test_after_a_lost_answer_the_retry_finds_the_issue_instead_of_opening_another(
    connector: JiraConnector, sim: JiraSimulator, context: ConnectorContext
) -> None:
    payload = finding()
    sim.faults.fail(502, path=r"/rest/api/\d/issue$", method="POST", after_commit=True)
    with pytest.raises(RemoteServerError):
        await connector.write("create_issue", payload)  # created, but the answer was lost
    again = await connector.write("create_issue", payload)  # the engine retries the action
    assert again.output["created"] is False
    assert sim.issues_labelled(dedupe_label(payload["dedupe_key"])) == [again.output["key"]]


async def test_a_racing_agent_wins_and_our_duplicate_is_withdrawn(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    payload = finding()
    sim.race_next_create = True  # another agent's identical create lands just before ours
    result = await connector.write("create_issue", payload)
    labelled = sim.issues_labelled(dedupe_label(payload["dedupe_key"]))
    assert labelled == [result.output["key"]]
    assert result.output["created"] is False


async def test_lagging_cloud_search_does_not_cause_a_duplicate(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    sim.search_lag_s = 30  # new issues stay invisible to search for a while
    payload = finding()
    first = await connector.write("create_issue", payload)
    second = await connector.write("create_issue", payload)
    assert second.output == {**first.output, "created": False}
    assert len(sim.issues_labelled(dedupe_label(payload["dedupe_key"]))) == 1


async def test_without_dedupe_key_each_call_opens_an_issue(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    before = len(sim.issues)
    payload = {k: v for k, v in finding().items() if k != "dedupe_key"}
    await connector.write("create_issue", payload)
    await connector.write("create_issue", payload)
    assert len(sim.issues) == before + 2


async def test_jira_field_errors_name_the_field(connector: JiraConnector) -> None:
    with pytest.raises(InvalidInputError) as raised:
        await connector.write("create_issue", finding(priority="Urgent!"))
    assert [e["field"] for e in raised.value.errors] == ["priority"]
    assert "priority" in raised.value.message


def test_bad_action_input_names_the_field() -> None:
    connector = JiraConnector({"base_url": "https://acme.atlassian.net"})
    with pytest.raises(InvalidInputError) as raised:
        asyncio.run(connector.write("create_issue", finding(project_key="not a key")))
    assert [e["field"] for e in raised.value.errors] == ["project_key"]


async def test_transition_moves_once_and_then_is_a_no_op(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    key = (await connector.write("create_issue", finding())).output["key"]
    moved = await connector.write("transition_issue", {
        "issue_key": key, "to": "In Progress", "comment": "Picked up by the owner."})
    assert moved.output == {"key": key, "status": "In Progress", "changed": True}
    again = await connector.write("transition_issue", {"issue_key": key, "to": "in progress"})
    assert again.output["changed"] is False
    assert sim.issues[key]["status"] == "In Progress"
    assert sim.issues[key]["comments"][-1]["text"] == "Picked up by the owner."
    by_id = await connector.write("transition_issue", {"issue_key": key, "to": "31"})
    assert by_id.output["status"] == "Done"


async def test_unknown_transition_lists_the_available_ones(connector: JiraConnector) -> None:
    key = (await connector.write("create_issue", finding())).output["key"]
    with pytest.raises(InvalidInputError, match="available: In Progress"):
        await connector.write("transition_issue", {"issue_key": key, "to": "Archived"})
    with pytest.raises(InvalidInputError, match="no issue SEC-999"):
        await connector.write("transition_issue", {"issue_key": "SEC-999", "to": "Done"})


async def test_comment_with_dedupe_key_is_added_once(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    key = (await connector.write("create_issue", finding())).output["key"]
    body = "Still failing on 2026-11-25.\nSee the evidence."
    first = await connector.write("add_comment", {"issue_key": key, "body": body,
                                                  "dedupe_key": "run-42"})
    second = await connector.write("add_comment", {"issue_key": key, "body": body,
                                                   "dedupe_key": "run-42"})
    assert first.output["created"] is True
    assert second.output == {**first.output, "created": False}
    assert [c["text"] for c in sim.issues[key]["comments"]] == [body]


async def test_v3_sends_atlassian_document_format_and_v2_plain_text(
    connector: JiraConnector, sim: JiraSimulator, jira_server: Any
) -> None:
    key = (await connector.write("create_issue", finding(description="a\nb\n\nc"))).output["key"]
    version = "3" if sim.cloud else "2"
    # 30 s, not httpx's 5: on a loaded machine the simulator once took longer to accept.
    async with httpx.AsyncClient(auth=connector.credentials, timeout=30) as client:
        answer = await client.get(f"{jira_server.url}/rest/api/{version}/issue/{key}")
    description = answer.json()["fields"]["description"]
    if sim.cloud:
        assert description["type"] == "doc"
        assert adf_text(description) == "a\nb\n\nc"
    else:
        assert description == "a\nb\n\nc"
