"""Failures against moto with request authentication on (bad keys, missing permissions), an
unreachable endpoint, the address guard, and the translation table for what moto cannot
produce (throttling, AWS-side errors, clock skew, timeouts)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from connectors.builtin.aws import AwsConnector
from connectors.builtin.aws.checks import Thresholds, bucket_checks
from connectors.builtin.aws.errors import iam_action, translate
from connectors.sandbox.slapd import free_port
from connectors.sdk import (
    AuthenticationError,
    BlockedAddressError,
    CheckName,
    CheckStatus,
    ConfigError,
    ConnectorContext,
    ErrorAction,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    RemoteError,
    RemoteServerError,
    RequestTimeoutError,
)
from connectors.sdk.auth import AwsCredentials, build_auth
from connectors.sdk.testing import loopback_context_value
from tests.connectors.aws import scenario
from tests.connectors.aws.conftest import config_for, credentials
from tests.connectors.aws.moto import ACCOUNT, MotoServer
from tests.connectors.conftest_peers import read_all


def connector(config: dict[str, Any], creds: Any,
              context: ConnectorContext | None = None) -> AwsConnector:
    return AwsConnector(config, credentials=creds, context=context or loopback_context_value())


def restricted_user(moto: MotoServer, name: str, actions: list[str]) -> AwsCredentials:
    iam = moto.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return credentials(key["AccessKeyId"], key["SecretAccessKey"])


async def test_unknown_keys_fail_authentication(moto: MotoServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad_secret = "NotTheRealSecretKeyForThisAccount12345678"
    bad = credentials("AKIAZZZZZZZZZZZZZZZZ", bad_secret)
    moto.enforce_auth()
    async with connector(config_for(moto), bad) as c:
        result = await c.check()
        with pytest.raises(AuthenticationError) as caught:
            await read_all(c, "iam_users")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.PASSED
    assert result.item(CheckName.AUTHENTICATED).status is CheckStatus.FAILED
    assert result.error_action is ErrorAction.REFRESH
    assert "InvalidClientTokenId" in caught.value.message
    shown = json.dumps(result.to_dict()) + caught.value.message + (caught.value.hint or "")
    assert bad_secret not in shown + caplog.text


async def test_missing_permissions_are_named(moto: MotoServer) -> None:
    auditor = restricted_user(moto, "auditor", ["iam:ListUsers", "iam:GetAccountSummary"])
    moto.enforce_auth()
    async with connector(config_for(moto), auditor) as c:
        result = await c.check()
        with pytest.raises(PermissionDeniedError) as caught:
            await read_all(c, "s3_buckets")
    step = result.item(CheckName.PERMISSIONS)
    assert step.status is CheckStatus.FAILED
    missing = ["iam:ListPolicies", "s3:ListAllMyBuckets", "ec2:DescribeSecurityGroups",
               "cloudtrail:DescribeTrails"]
    assert result.details["missing_permissions"] == missing
    assert all(action in (step.cause or "") for action in missing)
    assert result.details["caller_identity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/auditor"
    assert "s3:ListAllMyBuckets" in caught.value.message
    assert caught.value.action is ErrorAction.FAIL


async def test_a_denied_detail_is_an_error_result_not_a_failed_sync(moto: MotoServer) -> None:
    moto.client("s3").create_bucket(Bucket="secretive")
    reader = restricted_user(moto, "bucket-reader", [
        "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock",
        "s3:GetEncryptionConfiguration", "s3:GetBucketLogging", "s3:GetBucketAcl",
        "s3:GetBucketPolicyStatus",
        # moto 5.2 authorizes GetPublicAccessBlock and GetBucketEncryption as s3:ListBucket
        # (its action table misses their query keys); AWS checks the two actions above.
        "s3:ListBucket",
    ])  # not s3:GetBucketVersioning
    moto.enforce_auth()
    async with connector(config_for(moto), reader) as c:
        [bucket], _ = await read_all(c, "s3_buckets")
    assert bucket["access_errors"] == ["s3:GetBucketVersioning"]
    assert bucket["versioning"] is None
    assert bucket["encryption"]["enabled"] is False
    results = {r["check_id"]: r for r in bucket_checks(bucket, Thresholds())}
    assert results["aws.s3.bucket_versioning"]["status"] == "error"
    assert "s3:GetBucketVersioning" in results["aws.s3.bucket_versioning"]["message"]
    assert results["aws.s3.bucket_encryption"]["status"] == "fail"


async def test_an_unreachable_endpoint_is_transient() -> None:
    config = {"endpoint_url": f"http://127.0.0.1:{free_port()}",
              "account_public_access_block": False}
    async with connector(config, credentials()) as c:
        result = await c.check()
        with pytest.raises(NetworkError) as caught:
            await read_all(c, "s3_buckets")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.FAILED
    assert result.error_action is ErrorAction.RETRY
    assert "EndpointConnectionError" in caught.value.message


async def test_a_loopback_endpoint_needs_the_instance_to_allow_it(moto: MotoServer) -> None:
    async with connector(config_for(moto), credentials(), ConnectorContext()) as c:
        result = await c.check()
        with pytest.raises(BlockedAddressError):
            await read_all(c, "iam_users")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.FAILED


async def test_without_credentials_the_check_says_so() -> None:
    async with connector({}, None) as c:
        result = await c.check()
    assert result.item(CheckName.REACHABLE).status is CheckStatus.FAILED
    assert "needs AWS credentials" in (result.item(CheckName.REACHABLE).cause or "")


def test_other_credentials_are_refused() -> None:
    ldap = build_auth("ldap_bind", {"bind_dn": "cn=x,dc=y", "password": "secret-pw"})
    with pytest.raises(ConfigError, match="AWS access keys"):
        AwsConnector({}, credentials=ldap)


@pytest.mark.parametrize(("config", "field"), [
    ({"regions": []}, "regions"),
    ({"regions": ["mars-north-1x"]}, "regions"),
    ({"endpoint_url": "ftp://moto"}, "endpoint_url"),
    ({"access_key_max_age_days": 0}, "access_key_max_age_days"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AwsConnector(config)
    assert field in [issue["field"] for issue in caught.value.issues]


def client_error(code: str, status: int, operation: str = "ListUsers") -> ClientError:
    """The exception botocore raises for an AWS error response of this shape."""
    return ClientError({"Error": {"Code": code, "Message": "AWS says no"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


@pytest.mark.parametrize(("exc", "kind", "action"), [
    (client_error("Throttling", 400), RateLimitError, ErrorAction.WAIT),
    (client_error("RequestLimitExceeded", 503), RateLimitError, ErrorAction.WAIT),
    (client_error("SlowDown", 503), RateLimitError, ErrorAction.WAIT),
    (client_error("InternalError", 500), RemoteServerError, ErrorAction.RETRY),
    (client_error("ServiceUnavailable", 503), RemoteServerError, ErrorAction.RETRY),
    (client_error("ExpiredToken", 400), AuthenticationError, ErrorAction.REFRESH),
    (client_error("RequestTimeTooSkewed", 403), AuthenticationError, ErrorAction.REFRESH),
    (client_error("UnauthorizedOperation", 403), PermissionDeniedError, ErrorAction.FAIL),
    (client_error("ValidationError", 400), RemoteError, ErrorAction.FAIL),
    (ReadTimeoutError(endpoint_url="https://iam.amazonaws.com/"), RequestTimeoutError,
     ErrorAction.RETRY),
])
def test_translation(exc: Exception, kind: type, action: ErrorAction) -> None:
    error = translate(exc, "iam", "ListUsers", "us-east-1")
    assert type(error) is kind
    assert error.action is action
    assert "AWS says no" not in error.message  # no response bodies in messages


def test_clock_skew_hint_and_iam_action_names() -> None:
    assert "clock" in (translate(client_error("RequestTimeTooSkewed", 403), "s3", "ListBuckets",
                                 None).hint or "")
    assert iam_action("s3", "ListBuckets") == "s3:ListAllMyBuckets"
    assert iam_action("s3", "GetBucketEncryption") == "s3:GetEncryptionConfiguration"
    assert iam_action("s3control", "GetPublicAccessBlock") == "s3:GetAccountPublicAccessBlock"
    assert iam_action("ec2", "DescribeSecurityGroups") == "ec2:DescribeSecurityGroups"


def test_scenario_names_are_stable() -> None:
    # The acceptance test reads these; renaming one must be deliberate.
    assert (scenario.PUBLIC_BUCKET, scenario.USER_WITHOUT_MFA) == ("acme-public-assets", "bob")
