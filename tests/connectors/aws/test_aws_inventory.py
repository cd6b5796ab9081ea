"""Inventory details on moto: full-admin grants (AWS managed, customer, inline, via a
group), access key age and use against a moved clock, SSE-S3 (AWS's default since 2023),
role assumption, and the default mappings."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from connectors.builtin.aws import MAPPINGS_DIR, AwsConnector
from connectors.builtin.aws.checks import Thresholds, bucket_checks
from connectors.builtin.aws.streams import (
    CHECK_SCHEMA,
    IAM_POLICY_SCHEMA,
    IAM_USER_SCHEMA,
    S3_BUCKET_SCHEMA,
    SECURITY_GROUP_SCHEMA,
    TRAIL_SCHEMA,
)
from connectors.sdk.redact import redact
from connectors.sdk.testing import loopback_context_value
from server.mapping import MappingSpec, validate_mapping
from tests.connectors.aws.conftest import config_for, credentials
from tests.connectors.aws.moto import ACCOUNT, MotoServer
from tests.connectors.conftest_peers import read_all

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                "Resource": "*"}]}
NARROW = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*",
                                                  "Resource": "*"}]}


def connector(moto: MotoServer, **kwargs: Any) -> AwsConnector:
    config = {**config_for(moto), **kwargs.pop("config", {})}
    return AwsConnector(config, credentials=kwargs.pop("creds", None) or credentials(),
                        context=loopback_context_value(), **kwargs)


@pytest.fixture
def managed(moto_with_managed_policies: MotoServer) -> MotoServer:
    moto_with_managed_policies.reset()
    return moto_with_managed_policies


async def test_full_admin_is_found_however_it_is_granted(managed: MotoServer) -> None:
    iam = managed.client("iam")
    for user in ("ann", "carl", "dora", "eve"):
        iam.create_user(UserName=user)
    iam.attach_user_policy(UserName="ann", PolicyArn=ADMIN_ARN)
    full = iam.create_policy(PolicyName="ops-full", PolicyDocument=json.dumps(FULL))
    narrow = iam.create_policy(PolicyName="s3-read", PolicyDocument=json.dumps(NARROW))
    iam.create_group(GroupName="ops")
    iam.attach_group_policy(GroupName="ops", PolicyArn=full["Policy"]["Arn"])
    iam.add_user_to_group(GroupName="ops", UserName="carl")
    iam.put_user_policy(UserName="dora", PolicyName="yolo", PolicyDocument=json.dumps(FULL))
    iam.attach_user_policy(UserName="eve", PolicyArn=narrow["Policy"]["Arn"])

    async with connector(managed) as c:
        users, _ = await read_all(c, "iam_users")
        policies, _ = await read_all(c, "iam_policies")
        checks, _ = await read_all(c, "configuration_checks")
    by_user = {u["user_name"]: u for u in users}
    assert by_user["ann"]["admin_via"] == ["policy:AdministratorAccess"]
    assert by_user["carl"]["admin_via"] == ["group:ops/policy:ops-full"]
    assert by_user["dora"]["admin_via"] == ["inline:yolo"]
    assert (by_user["eve"]["is_admin"], by_user["eve"]["admin_via"]) == (False, [])
    by_policy = {p["name"]: p for p in policies}
    assert set(by_policy) == {"AdministratorAccess", "ops-full", "s3-read"}
    assert by_policy["AdministratorAccess"]["aws_managed"] is True
    assert by_policy["AdministratorAccess"]["attached_users"] == ["ann"]
    assert by_policy["ops-full"]["attached_groups"] == ["ops"]
    assert {n: p["grants_full_admin"] for n, p in by_policy.items()} == {
        "AdministratorAccess": True, "ops-full": True, "s3-read": False}
    admin_checks = {r["resource_name"]: r["status"] for r in checks
                    if r["check_id"] == "aws.iam.admin_policy_attached"}
    assert admin_checks == {"AdministratorAccess": "fail", "ops-full": "fail", "s3-read": "pass"}


async def test_access_key_age_and_use_against_a_later_clock(moto: MotoServer) -> None:
    iam = moto.client("iam")
    iam.create_user(UserName="ci-bot")
    key = iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="pat")  # a console password nobody has used
    iam.create_login_profile(UserName="pat", Password="Corr3ct-Horse-Battery!")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=100)
    async with connector(moto, clock=lambda: later) as c:
        users, _ = await read_all(c, "iam_users")
        checks, _ = await read_all(c, "configuration_checks")
    user = next(u for u in users if u["user_name"] == "ci-bot")
    pat = {r["check_id"]: r for r in checks if r["resource_name"] == "pat"}
    assert pat["aws.iam.unused_credentials"]["status"] == "fail"
    assert "console password" in pat["aws.iam.unused_credentials"]["message"]
    [record] = user["access_keys"]
    assert (record["access_key_id"], record["status"]) == (key, "Active")
    assert record["created_at"]  # a time, not an age: the record does not change daily
    assert "age_days" not in record
    assert record["last_used_at"] is None
    assert user["password_enabled"] is False
    status = {r["check_id"]: r for r in checks if r["resource_name"] == "ci-bot"}
    assert status["aws.iam.access_key_rotation"]["status"] == "fail"
    assert key in status["aws.iam.access_key_rotation"]["message"]
    assert status["aws.iam.unused_credentials"]["status"] == "fail"
    assert status["aws.iam.user_mfa"]["status"] == "not_applicable"  # no console access

    async with connector(moto) as c:  # today the same key is fine
        checks, _ = await read_all(c, "configuration_checks")
    status = {(r["resource_name"], r["check_id"]): r["status"] for r in checks}
    assert status[("ci-bot", "aws.iam.access_key_rotation")] == "pass"
    assert status[("ci-bot", "aws.iam.unused_credentials")] == "pass"
    assert status[("pat", "aws.iam.unused_credentials")] == "pass"
    assert status[("pat", "aws.iam.access_key_rotation")] == "not_applicable"  # no keys


async def test_sse_s3_passes_unless_kms_is_required(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="default-encrypted")  # what every bucket on AWS looks like now
    s3.put_bucket_encryption(Bucket="default-encrypted", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    async with connector(moto) as c:
        [bucket], _ = await read_all(c, "s3_buckets")
    assert bucket["encryption"]["algorithms"] == ["AES256"]
    lenient = {r["check_id"]: r for r in bucket_checks(bucket, Thresholds())}
    strict = {r["check_id"]: r for r in bucket_checks(bucket, Thresholds(
        require_kms_encryption=True))}
    assert lenient["aws.s3.bucket_encryption"]["status"] == "pass"
    assert strict["aws.s3.bucket_encryption"]["status"] == "fail"
    assert "SSE-KMS is required" in strict["aws.s3.bucket_encryption"]["message"]


def test_the_account_block_covers_buckets_without_their_own() -> None:
    flags = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": True}
    bucket = {"arn": "arn:aws:s3:::b", "name": "b", "encryption": None, "versioning": None,
              "logging": None, "public": False, "access_errors": [],
              "public_access_block": {"bucket": dict.fromkeys(flags, False),
                                      "account": flags, "effective": flags}}
    [check] = [r for r in bucket_checks(bucket, Thresholds())
               if r["check_id"] == "aws.s3.public_access_block"]
    assert check["status"] == "pass"


async def test_assume_role(moto: MotoServer) -> None:
    iam = moto.client("iam")
    role = iam.create_role(RoleName="simpletrust-audit", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": ACCOUNT}}]}))["Role"]
    creds = credentials(role_arn=role["Arn"], external_id="ext-42",
                        role_session_name="sync")
    async with connector(moto, creds=creds) as c:
        result = await c.check()
        users, _ = await read_all(c, "iam_users")
        temporary = c.aws.client("iam")._request_signer._credentials.get_frozen_credentials()
    assert result.ok
    assert "iam 2010-05-08" in (result.server_api_version or "")
    arn = result.details["caller_identity"]["arn"]
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/simpletrust-audit/sync"
    assert users == []
    # The role's temporary secrets are masked wherever the redacting log filter runs.
    assert temporary.secret_key not in redact(f"secret={temporary.secret_key}")
    assert temporary.token not in redact(f"token={temporary.token}")


MAPPINGS = {
    "iam_users.identity.json": IAM_USER_SCHEMA,
    "iam_policies.cloud_resource.json": IAM_POLICY_SCHEMA,
    "s3_buckets.cloud_resource.json": S3_BUCKET_SCHEMA,
    "ec2_security_groups.cloud_resource.json": SECURITY_GROUP_SCHEMA,
    "cloudtrail_trails.cloud_resource.json": TRAIL_SCHEMA,
    "configuration_checks.configuration_check.json": CHECK_SCHEMA,
}


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_default_mappings_validate(name: str) -> None:
    spec = MappingSpec.model_validate_json((MAPPINGS_DIR / name).read_text())
    problems = validate_mapping(spec.model_copy(update={"source_schema": MAPPINGS[name]}))
    assert [p for p in problems if p.severity == "error"] == []
    assert [p.field for p in problems if p.code == "unknown_source"] == []
    assert spec.source == f"aws.{name.split('.', maxsplit=1)[0]}"


def test_every_shipped_mapping_is_tested() -> None:
    assert sorted(p.name for p in MAPPINGS_DIR.glob("*.json")) == sorted(MAPPINGS)
