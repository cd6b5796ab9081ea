"""The AWS streams. All are full-refresh snapshots (AWS has no change feed for these
resources short of Config/CloudTrail), so a full read also tells the engine what was deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from connectors.builtin.aws import inventory
from connectors.builtin.aws.checks import Thresholds, evaluate
from connectors.builtin.aws.config import AwsConfig
from connectors.builtin.aws.session import AwsSession
from connectors.sdk.errors import PermissionDeniedError
from connectors.sdk.streams import Stream

__all__ = ["AwsContext", "aws_streams"]

_S = {"type": "string"}
_S_NULL = {"type": ["string", "null"]}
_T_NULL = {"type": ["string", "null"], "format": "date-time"}
_B = {"type": "boolean"}
_B_NULL = {"type": ["boolean", "null"]}
_I_NULL = {"type": ["integer", "null"]}
_LIST = {"type": "array"}
_OBJ_NULL = {"type": ["object", "null"]}


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"id": {**_S, "description": "The resource's ARN."},
                       "account_id": _S_NULL, **properties},
        "required": ["id", *required],
    }


IAM_USER_SCHEMA = _schema({
    "arn": _S, "user_name": _S, "user_id": _S_NULL, "path": _S_NULL, "created_at": _T_NULL,
    "password_enabled": {**_B_NULL, "description": "Console access (a login profile)."},
    "password_created_at": _T_NULL, "password_last_used": _T_NULL,
    "mfa_enabled": _B_NULL, "mfa_devices": _LIST, "access_keys": _LIST,
    "attached_policies": _LIST, "inline_policies": _LIST, "groups": _LIST,
    "is_admin": {**_B, "description": "Full admin through a user, group or inline policy."},
    "admin_via": _LIST, "access_errors": {**_LIST, "description": "IAM actions denied."},
}, ["arn", "user_name", "is_admin"])

IAM_POLICY_SCHEMA = _schema({
    "arn": _S, "name": _S_NULL, "aws_managed": _B, "default_version": _S_NULL,
    "attachment_count": _I_NULL, "grants_full_admin": _B, "attached_users": _LIST,
    "attached_groups": _LIST, "attached_roles": _LIST, "created_at": _T_NULL,
    "updated_at": _T_NULL,
}, ["arn", "grants_full_admin"])

S3_BUCKET_SCHEMA = _schema({
    "arn": _S, "name": _S, "region": _S_NULL, "created_at": _T_NULL,
    "encryption": _OBJ_NULL, "public_access_block": _OBJ_NULL,
    "public_acl_grants": {"type": ["array", "null"]}, "policy_is_public": _B_NULL,
    "public": _B_NULL, "versioning": _S_NULL, "mfa_delete": _B_NULL, "logging": _OBJ_NULL,
    "access_errors": _LIST,
}, ["arn", "name"])

SECURITY_GROUP_SCHEMA = _schema({
    "arn": _S, "group_id": _S, "name": _S_NULL, "description": _S_NULL, "vpc_id": _S_NULL,
    "region": _S, "ingress": _LIST,
    "open_ingress": {**_LIST, "description": "Ingress rules open to 0.0.0.0/0 or ::/0."},
    "open_ports": _LIST, "tags": {"type": "object"},
}, ["arn", "group_id", "region", "open_ingress"])

TRAIL_SCHEMA = _schema({
    "arn": _S, "name": _S_NULL, "home_region": _S_NULL, "is_multi_region": _B,
    "is_organization_trail": _B, "is_logging": _B, "latest_delivery_at": _T_NULL,
    "log_file_validation": _B, "include_global_service_events": _B,
    "s3_bucket_name": _S_NULL, "kms_key_id": _S_NULL, "seen_in_regions": _LIST,
}, ["arn", "is_multi_region", "is_logging"])

CHECK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "id": {**_S, "description": "check_id:resource_id"},
        "check_id": _S, "title": _S,
        "status": {"type": "string", "enum": ["pass", "fail", "error", "not_applicable"]},
        "severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]},
        "resource_type": _S, "resource_id": _S, "resource_name": _S_NULL,
        "account_id": _S_NULL, "region": _S_NULL, "framework": _S_NULL,
        "control_ids": {"type": "array", "items": _S}, "message": _S,
        "remediation": _S_NULL, "evidence": {"type": "object"},
    },
    "required": ["id", "check_id", "status", "severity", "resource_type", "resource_id"],
}


class AwsContext:
    """What the streams share: the session, the config, and the clock."""

    def __init__(self, aws: AwsSession, config: AwsConfig,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.aws = aws
        self.config = config
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            access_key_max_age_days=self.config.access_key_max_age_days,
            unused_credentials_days=self.config.unused_credentials_days,
            require_kms_encryption=self.config.require_kms_encryption,
        )

    async def account_block(self) -> dict[str, bool] | None:
        if not self.config.account_public_access_block:
            return None
        try:
            return await inventory.account_public_access_block(self.aws)
        except PermissionDeniedError:
            return None  # bucket-level settings still decide; the docs list the permission


class _AwsStream(Stream):
    primary_key = ("id",)
    detects_deletions = True

    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx


class IamUsers(_AwsStream):
    name = "iam_users"
    description = "IAM users: console access, MFA devices, access keys (age, last use), admin."
    json_schema = IAM_USER_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for record in inventory.iam_users(self.ctx.aws):
            yield record


class IamPolicies(_AwsStream):
    name = "iam_policies"
    description = "Attached managed policies, whether they grant '*:*', and to whom."
    json_schema = IAM_POLICY_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for record in inventory.iam_policies(self.ctx.aws):
            yield record


class S3Buckets(_AwsStream):
    name = "s3_buckets"
    description = "Buckets: default encryption, Block Public Access, exposure, versioning, logs."
    json_schema = S3_BUCKET_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        block = await self.ctx.account_block()
        async for record in inventory.s3_buckets(self.ctx.aws, block):
            yield record


class SecurityGroups(_AwsStream):
    name = "ec2_security_groups"
    description = "EC2 security groups of every configured region, with internet-open rules."
    json_schema = SECURITY_GROUP_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for record in inventory.security_groups(self.ctx.aws, self.ctx.config.regions):
            yield record


class Trails(_AwsStream):
    name = "cloudtrail_trails"
    description = "CloudTrail trails (multi-region once) with logging and validation state."
    json_schema = TRAIL_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for record in inventory.cloudtrail_trails(self.ctx.aws, self.ctx.config.regions):
            yield record


class ConfigurationChecks(_AwsStream):
    name = "configuration_checks"
    description = "Pass/fail results of CIS-style checks over everything above."
    json_schema = CHECK_SCHEMA

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        aws, config, now = self.ctx.aws, self.ctx.config, self.ctx.clock()
        policies = inventory.PolicyCache(aws)
        account = (await aws.identity())["account"]
        summary = await inventory.account_summary(aws)
        users = [u async for u in inventory.iam_users(aws, policies)]
        attached = [p async for p in inventory.iam_policies(aws, policies)]
        block = await self.ctx.account_block()
        buckets = [b async for b in inventory.s3_buckets(aws, block)]
        groups = [g async for g in inventory.security_groups(aws, config.regions)]
        trails = [t async for t in inventory.cloudtrail_trails(aws, config.regions)]
        for record in evaluate(account_id=account, summary=summary, users=users,
                               policies=attached, buckets=buckets, groups=groups,
                               trails=trails, limits=self.ctx.thresholds, now=now):
            yield record


def aws_streams(ctx: AwsContext) -> list[Stream]:
    return [IamUsers(ctx), IamPolicies(ctx), S3Buckets(ctx), SecurityGroups(ctx), Trails(ctx),
            ConfigurationChecks(ctx)]
