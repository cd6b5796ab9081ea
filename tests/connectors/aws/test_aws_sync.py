"""End to end through the agent, on SQLite and PostgreSQL: an AWS instance on moto with a
vaulted credential syncs, and the evidence store holds configuration checks that fail exactly
the bad resources of the acceptance account (issue 8)."""

from __future__ import annotations

import pytest

from tests.connectors.aws import scenario as s
from tests.connectors.aws.conftest import config_for
from tests.connectors.aws.moto import KEY_ID, SECRET, MotoServer
from tests.connectors.conftest_peers import register_built_ins
from tests.support.api import Api


@pytest.fixture
def built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    register_built_ins(monkeypatch)


def test_a_sync_stores_the_checks(built_ins: None, moto: MotoServer, api: Api) -> None:
    s.build(moto)
    credential = api.post("/auth-configs", {
        "name": "AWS audit keys", "auth_type": "aws",
        "credentials": {"access_key_id": KEY_ID, "secret_access_key": SECRET}})
    assert credential.status_code == 201, credential.text
    instance = api.create_instance("AWS production", "aws", config_for(moto),
                                   auth_config_id=credential.json()["id"])
    execution = api.sync(instance["id"], timeout=120)
    assert execution["status"] == "completed", execution["error_details"]
    assert execution["error_count"] == 0

    checks = api.all("/records", instance_id=instance["id"], entity_type="configuration_check",
                     deleted=False)
    failing = {(r["data"]["check_id"], r["data"]["resource_name"]) for r in checks
               if r["data"]["status"] == "fail"}
    assert {name for check, name in failing if check.startswith("aws.s3.")} == {
        s.PUBLIC_BUCKET}
    assert ("aws.iam.user_mfa", s.USER_WITHOUT_MFA) in failing
    assert ("aws.iam.user_mfa", s.USER_WITH_MFA) not in failing
    assert [name for check, name in failing if check == "aws.ec2.sg_open_ingress"] == [
        next(r["data"]["resource_name"] for r in checks
             if r["data"]["resource_name"].startswith(f"{s.OPEN_SG} ("))]
    record = next(r for r in checks if r["data"]["check_id"] == "aws.s3.bucket_public"
                  and r["data"]["resource_name"] == s.PUBLIC_BUCKET)
    assert record["provenance"]["connector"] == "aws"
    assert record["provenance"]["stream"] == "configuration_checks"

    identities = api.all("/records", instance_id=instance["id"], entity_type="identity",
                         deleted=False)
    assert {r["data"]["username"]: r["data"]["mfa_enabled"] for r in identities} == {
        s.USER_WITH_MFA: True, s.USER_WITHOUT_MFA: False}

    # Make the public bucket private: the next sync updates exactly that bucket and check.
    bucket = moto.client("s3")
    bucket.put_bucket_acl(Bucket=s.PUBLIC_BUCKET, ACL="private")
    second = api.sync(instance["id"], timeout=120)
    assert second["status"] == "completed", second["error_details"]
    streams = second["stats"]["streams"]
    assert (streams["s3_buckets"]["updated"], streams["configuration_checks"]["updated"]) == (
        1, 1)  # evidence holds no volatile values (delivery times, ages) that churn versions
    assert second["stats"]["updated"] == 2
    checks = api.all("/records", instance_id=instance["id"], entity_type="configuration_check",
                     deleted=False)
    status = {(r["data"]["check_id"], r["data"]["resource_name"]): r["data"]["status"]
              for r in checks}
    assert status[("aws.s3.bucket_public", s.PUBLIC_BUCKET)] == "pass"
    assert status[("aws.s3.bucket_encryption", s.PUBLIC_BUCKET)] == "fail"
