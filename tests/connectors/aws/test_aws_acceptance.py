"""The AWS connector against moto's server: the conformance kit, and the acceptance account.

Acceptance (issue 8): with a public unencrypted bucket, an encrypted private bucket, an IAM
user without MFA and one with MFA, and an open security group, a read yields
configuration_check records that fail exactly the bad ones and pass the good ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.builtin.aws import MAPPINGS_DIR, AwsConnector
from connectors.sdk.auth import AwsCredentials
from connectors.sdk.testing import conformance_tests, loopback_context_value
from tests.connectors.aws import scenario as s
from tests.connectors.aws.conftest import config_for
from tests.connectors.aws.moto import SECRET, MotoServer
from tests.connectors.conftest_peers import map_records, read_all


@pytest.fixture
def aws_config(moto: MotoServer) -> dict[str, Any]:
    s.build(moto)
    return config_for(moto)


TestAwsConformance = conformance_tests(
    AwsConnector, config="aws_config", credentials="aws_credentials", secrets=[SECRET]
)

BUCKET_CHECKS = ("aws.s3.bucket_encryption", "aws.s3.public_access_block",
                 "aws.s3.bucket_public", "aws.s3.bucket_versioning", "aws.s3.bucket_logging")
GOOD_BUCKETS = (s.PRIVATE_BUCKET, s.LOG_BUCKET, "acme-cloudtrail")


async def test_checks_fail_exactly_the_bad_ones(aws_config: dict[str, Any],
                                                aws_credentials: AwsCredentials) -> None:
    async with AwsConnector(aws_config, credentials=aws_credentials,
                            context=loopback_context_value()) as c:
        records, _ = await read_all(c, "configuration_checks")
    checks = map_records(MAPPINGS_DIR, "configuration_checks", "configuration_check", records)
    status = {(r["check_id"], r["resource_name"]): r["status"] for r in checks}
    assert len(status) == len(checks)  # one result per check and resource

    def sg(name: str) -> str:  # security groups are named "<name> (<group id>)"
        return next(n for (_, n) in status if n and n.startswith(f"{name} ("))

    bad = {(check, s.PUBLIC_BUCKET) for check in BUCKET_CHECKS} | {
        ("aws.iam.user_mfa", s.USER_WITHOUT_MFA),
        ("aws.ec2.sg_open_ingress", sg(s.OPEN_SG)),
        ("aws.iam.root_mfa", "root"),  # moto's root user has no MFA: a true finding
    }
    good = {(check, bucket) for check in BUCKET_CHECKS for bucket in GOOD_BUCKETS} | {
        ("aws.iam.user_mfa", s.USER_WITH_MFA),
        ("aws.ec2.sg_open_ingress", sg(s.CLOSED_SG)),
        ("aws.iam.root_access_keys", "root"),
        ("aws.iam.admin_policy_attached", s.READONLY_POLICY),
        ("aws.cloudtrail.multi_region", "123456789012"),
        ("aws.cloudtrail.trail_logging", s.TRAIL),
        ("aws.cloudtrail.log_file_validation", s.TRAIL),
    }
    assert {key for key, value in status.items() if value == "fail"} == bad
    assert all(status[key] == "pass" for key in good), {k: status[k] for k in good}
    assert {key for key, value in status.items() if value == "error"} == set()

    by_key = {(r["check_id"], r["resource_name"]): r for r in checks}
    open_sg = by_key[next(k for k in bad if k[0] == "aws.ec2.sg_open_ingress")]
    assert open_sg["severity"] == "high"  # SSH is open
    assert "tcp/22" in open_sg["message"]
    assert "tcp/443" in open_sg["message"]
    assert {r["sources"][0] for r in open_sg["evidence"]["open_ingress"]} == {"0.0.0.0/0", "::/0"}
    assert open_sg["attributes"]["region"] == "eu-west-1"  # found in the second region
    public = by_key[("aws.s3.bucket_public", s.PUBLIC_BUCKET)]
    assert public["evidence"]["public_acl_grants"] == ["AllUsers:READ"]
    assert public["remediation"]
    assert by_key[("aws.iam.user_mfa", s.USER_WITHOUT_MFA)]["control_ids"] == ["1.10"]


async def test_inventory_streams_map_to_canonical_records(
    aws_config: dict[str, Any], aws_credentials: AwsCredentials
) -> None:
    async with AwsConnector(aws_config, credentials=aws_credentials,
                            context=loopback_context_value()) as c:
        users, _ = await read_all(c, "iam_users")
        buckets, _ = await read_all(c, "s3_buckets")
        groups, _ = await read_all(c, "ec2_security_groups")
        trails, _ = await read_all(c, "cloudtrail_trails")
    identities = {r["username"]: r for r in map_records(MAPPINGS_DIR, "iam_users", "identity",
                                                        users)}
    assert identities[s.USER_WITH_MFA]["mfa_enabled"] is True
    assert identities[s.USER_WITH_MFA]["mfa_methods"] == ["virtual"]
    assert identities[s.USER_WITHOUT_MFA]["mfa_enabled"] is False
    assert identities[s.USER_WITHOUT_MFA]["user_type"] == "human"
    resources = {r["name"]: r for r in map_records(MAPPINGS_DIR, "s3_buckets", "cloud_resource",
                                                   buckets)}
    assert (resources[s.PUBLIC_BUCKET]["public"], resources[s.PUBLIC_BUCKET]["encrypted"]) == (
        True, False)
    assert (resources[s.PRIVATE_BUCKET]["public"], resources[s.PRIVATE_BUCKET]["encrypted"]) == (
        False, True)
    sgs = {r["name"]: r for r in map_records(MAPPINGS_DIR, "ec2_security_groups",
                                             "cloud_resource", groups)}
    assert sgs[s.OPEN_SG]["public"] is True
    assert sgs[s.CLOSED_SG]["public"] is False
    assert {r["region"] for r in groups if r["name"] == "default"} == {"us-east-1", "eu-west-1"}
    [trail] = map_records(MAPPINGS_DIR, "cloudtrail_trails", "cloud_resource", trails)
    assert trail["logging_enabled"] is True
    assert trail["attributes"]["multi_region"] is True
