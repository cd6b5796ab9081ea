"""docs/connectors/aws.md: its Python example runs, its configuration table is complete, and
its least-privilege policy lists exactly the IAM actions a full sync (and check) calls."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.builtin.aws import AwsConfig, AwsConnector
from connectors.builtin.aws.errors import iam_action
from connectors.builtin.aws.session import AwsSession
from connectors.sdk.testing import loopback_context_value
from tests.connectors.aws import scenario
from tests.connectors.aws.conftest import config_for, credentials
from tests.connectors.aws.moto import MotoServer
from tests.connectors.conftest_peers import read_all

DOC = Path(__file__).resolve().parents[3] / "docs" / "connectors" / "aws.md"
BLOCK = re.compile(r"^```([\w-]+)(?: ([\w-]+))?\n(.*?)^```", re.S | re.M)
# Documented but not reachable on moto: s3control needs account-id host names.
NOT_ON_MOTO = {"s3:GetAccountPublicAccessBlock"}


def blocks(language: str, label: str = "") -> list[str]:
    return [body for lang, tag, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))
            if lang == language and tag == label]


def test_python_example_runs() -> None:
    [example] = blocks("python")
    exec(compile(example, str(DOC), "exec", dont_inherit=True), {"__name__": "docs_aws"})


def documented_actions() -> set[str]:
    [text] = blocks("json", "iam-policy")
    policy = json.loads(text)
    return {action for statement in policy["Statement"] for action in statement["Action"]}


async def test_the_policy_lists_exactly_what_a_sync_calls(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario.build(moto)
    iam = moto.client("iam")  # exercise the group and inline-policy paths too
    iam.create_group(GroupName="auditors")
    iam.put_group_policy(GroupName="auditors", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*",
                                                 "Resource": "*"}]}))
    iam.attach_group_policy(GroupName="auditors",
                            PolicyArn=f"arn:aws:iam::{scenario.ACCOUNT}:policy/"
                            f"{scenario.READONLY_POLICY}")
    iam.add_user_to_group(GroupName="auditors", UserName=scenario.USER_WITHOUT_MFA)
    iam.put_user_policy(UserName=scenario.USER_WITH_MFA, PolicyName="own",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}))
    iam.create_access_key(UserName=scenario.USER_WITH_MFA)

    used: set[str] = set()
    call, pages = AwsSession.call, AwsSession.pages

    async def recording_call(self: AwsSession, service: str, operation: str,
                             *args: Any, **kwargs: Any) -> Any:
        used.add(iam_action(service, operation))
        return await call(self, service, operation, *args, **kwargs)

    async def recording_pages(self: AwsSession, service: str, operation: str,
                              *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        used.add(iam_action(service, operation))
        async for page in pages(self, service, operation, *args, **kwargs):
            yield page

    monkeypatch.setattr(AwsSession, "call", recording_call)
    monkeypatch.setattr(AwsSession, "pages", recording_pages)
    async with AwsConnector(config_for(moto), credentials=credentials(),
                            context=loopback_context_value()) as c:
        assert (await c.check()).ok
        for stream in await c.discover():
            await read_all(c, stream.name)
    used.discard("sts:GetCallerIdentity")  # needs no permission
    assert used <= documented_actions(), used - documented_actions()
    assert documented_actions() - used == NOT_ON_MOTO


def test_every_config_field_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in AwsConfig.model_fields if f"`{name}`" not in text]
    assert missing == []
