"""Reading the AWS account: one async generator per resource kind, records as plain JSON.

Each record carries what the checks need and what an auditor asks for, with AWS's own names
kept where they exist. A detail the identity may not read (one bucket's encryption denied by
a bucket policy, say) does not fail the stream: the value is ``None`` and the refused IAM
action is listed in the record's ``access_errors``; the checks then report ``error``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from urllib.parse import unquote

from connectors.builtin.aws.session import AwsSession
from connectors.sdk.errors import PermissionDeniedError

__all__ = [
    "ADMIN_POLICY_ARN_SUFFIX",
    "account_summary",
    "cloudtrail_trails",
    "grants_full_admin",
    "iam_policies",
    "iam_users",
    "s3_buckets",
    "security_groups",
]

ADMIN_POLICY_ARN_SUFFIX = ":policy/AdministratorAccess"
PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
ADMIN_PORTS = (22, 3389)
T = TypeVar("T")


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat()
    if isinstance(value, str) and value:
        return value
    return None


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _document(value: Any) -> dict[str, Any]:
    """A policy document: boto3 decodes most, but some paths hand back URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(unquote(value))
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def grants_full_admin(document: Any) -> bool:
    """``Effect: Allow`` with ``Action: "*"`` on ``Resource: "*"`` (CIS 1.16's definition)."""
    for statement in _listify(_document(document).get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = {str(a) for a in _listify(statement.get("Action"))}
        resources = {str(r) for r in _listify(statement.get("Resource"))}
        if actions & {"*", "*:*"} and "*" in resources:
            return True
    return False


async def _guarded(errors: list[str], action: str, call: Awaitable[T]) -> T | None:
    """Await ``call``; on a permission error note ``action`` and return None."""
    try:
        return await call
    except PermissionDeniedError:
        errors.append(action)
        return None


class PolicyCache:
    """Managed policy documents and group policies, fetched once per read."""

    def __init__(self, aws: AwsSession) -> None:
        self.aws = aws
        self._managed: dict[str, bool] = {}
        self._groups: dict[str, list[str]] = {}

    async def managed_is_admin(self, arn: str, version: str | None = None) -> bool:
        if arn not in self._managed:
            if arn.endswith(ADMIN_POLICY_ARN_SUFFIX) and ":aws:policy/" in arn:
                self._managed[arn] = True
            else:
                if version is None:
                    policy = await self.aws.require("iam", "GetPolicy", PolicyArn=arn)
                    version = policy.get("Policy", {}).get("DefaultVersionId")
                answer = await self.aws.require(
                    "iam", "GetPolicyVersion", PolicyArn=arn, VersionId=version
                )
                document = answer.get("PolicyVersion", {}).get("Document")
                self._managed[arn] = grants_full_admin(document)
        return self._managed[arn]

    async def group_admin_sources(self, group: str) -> list[str]:
        """How membership of ``group`` grants full admin (empty if it does not)."""
        if group not in self._groups:
            found: list[str] = []
            for policy in await self.aws.collect(
                "iam", "ListAttachedGroupPolicies", "AttachedPolicies", GroupName=group
            ):
                if await self.managed_is_admin(policy["PolicyArn"]):
                    found.append(f"group:{group}/policy:{policy['PolicyName']}")
            for name in await self.aws.collect(
                "iam", "ListGroupPolicies", "PolicyNames", GroupName=group
            ):
                answer = await self.aws.require(
                    "iam", "GetGroupPolicy", GroupName=group, PolicyName=name
                )
                if grants_full_admin(answer.get("PolicyDocument")):
                    found.append(f"group:{group}/inline:{name}")
            self._groups[group] = found
        return self._groups[group]


async def account_summary(aws: AwsSession) -> dict[str, Any]:
    answer = await aws.require("iam", "GetAccountSummary")
    summary: dict[str, Any] = answer.get("SummaryMap", {})
    return summary


async def iam_users(
    aws: AwsSession, policies: PolicyCache | None = None
) -> AsyncIterator[dict[str, Any]]:
    """IAM users with console access, MFA, access keys (creation, last use) and admin grants.

    Records hold times, not ages: an age would change the record every day. The checks
    compute ages against the read's clock.
    """
    policies = policies or PolicyCache(aws)
    account = (await aws.identity())["account"]
    async for user in aws.paginate("iam", "ListUsers", "Users"):
        name = user["UserName"]
        errors: list[str] = []
        login = await _guarded(errors, "iam:GetLoginProfile", aws.call(
            "iam", "GetLoginProfile", absent=("NoSuchEntity",), UserName=name))
        mfa = await _guarded(errors, "iam:ListMFADevices", aws.collect(
            "iam", "ListMFADevices", "MFADevices", UserName=name)) or []
        keys = await _guarded(errors, "iam:ListAccessKeys", aws.collect(
            "iam", "ListAccessKeys", "AccessKeyMetadata", UserName=name)) or []
        access_keys = []
        for key in keys:
            used = await _guarded(errors, "iam:GetAccessKeyLastUsed", aws.require(
                "iam", "GetAccessKeyLastUsed", AccessKeyId=key["AccessKeyId"]))
            last = (used or {}).get("AccessKeyLastUsed", {})
            access_keys.append({
                "access_key_id": key["AccessKeyId"],
                "status": key.get("Status"),
                "created_at": _iso(key.get("CreateDate")),
                "last_used_at": _iso(last.get("LastUsedDate")),
                "last_used_service": None if last.get("ServiceName") in (None, "N/A")
                else last.get("ServiceName"),
                "last_used_region": None if last.get("Region") in (None, "N/A")
                else last.get("Region"),
            })
        attached = await _guarded(errors, "iam:ListAttachedUserPolicies", aws.collect(
            "iam", "ListAttachedUserPolicies", "AttachedPolicies", UserName=name)) or []
        inline = await _guarded(errors, "iam:ListUserPolicies", aws.collect(
            "iam", "ListUserPolicies", "PolicyNames", UserName=name)) or []
        groups = await _guarded(errors, "iam:ListGroupsForUser", aws.collect(
            "iam", "ListGroupsForUser", "Groups", UserName=name)) or []
        admin_via: list[str] = []
        for policy in attached:
            if await _guarded(errors, "iam:GetPolicyVersion",
                              policies.managed_is_admin(policy["PolicyArn"])):
                admin_via.append(f"policy:{policy['PolicyName']}")
        for policy_name in inline:
            answer = await _guarded(errors, "iam:GetUserPolicy", aws.require(
                "iam", "GetUserPolicy", UserName=name, PolicyName=policy_name))
            if answer and grants_full_admin(answer.get("PolicyDocument")):
                admin_via.append(f"inline:{policy_name}")
        for group in groups:
            admin_via += await _guarded(errors, "iam:ListAttachedGroupPolicies",
                                        policies.group_admin_sources(group["GroupName"])) or []
        profile = (login or {}).get("LoginProfile", {})
        yield {
            "id": user["Arn"],
            "arn": user["Arn"],
            "user_name": name,
            "user_id": user.get("UserId"),
            "account_id": account,
            "path": user.get("Path"),
            "created_at": _iso(user.get("CreateDate")),
            "password_enabled": None if "iam:GetLoginProfile" in errors else login is not None,
            "password_created_at": _iso(profile.get("CreateDate")),
            "password_last_used": _iso(user.get("PasswordLastUsed")),
            "mfa_enabled": None if "iam:ListMFADevices" in errors else bool(mfa),
            "mfa_devices": [
                {"serial_number": d.get("SerialNumber"), "enabled_at": _iso(d.get("EnableDate")),
                 "type": "virtual" if ":mfa/" in str(d.get("SerialNumber")) else "hardware"}
                for d in mfa
            ],
            "access_keys": access_keys,
            "attached_policies": [
                {"name": p.get("PolicyName"), "arn": p.get("PolicyArn")} for p in attached
            ],
            "inline_policies": list(inline),
            "groups": [g.get("GroupName") for g in groups],
            "is_admin": bool(admin_via),
            "admin_via": admin_via,
            "access_errors": sorted(set(errors)),
        }


async def iam_policies(aws: AwsSession, policies: PolicyCache | None = None
                       ) -> AsyncIterator[dict[str, Any]]:
    """Attached managed policies (AWS and customer), whether they grant ``*:*``, and to whom."""
    policies = policies or PolicyCache(aws)
    account = (await aws.identity())["account"]
    async for policy in aws.paginate("iam", "ListPolicies", "Policies",
                                     Scope="All", OnlyAttached=True):
        arn = policy["Arn"]
        users: list[str] = []
        groups: list[str] = []
        roles: list[str] = []
        async for page in aws.pages("iam", "ListEntitiesForPolicy", PolicyArn=arn):
            users += [u["UserName"] for u in page.get("PolicyUsers", [])]
            groups += [g["GroupName"] for g in page.get("PolicyGroups", [])]
            roles += [r["RoleName"] for r in page.get("PolicyRoles", [])]
        yield {
            "id": arn,
            "arn": arn,
            "name": policy.get("PolicyName"),
            "account_id": account,
            "aws_managed": ":aws:policy/" in arn,
            "default_version": policy.get("DefaultVersionId"),
            "attachment_count": policy.get("AttachmentCount"),
            "grants_full_admin": await policies.managed_is_admin(
                arn, policy.get("DefaultVersionId")),
            "attached_users": sorted(users),
            "attached_groups": sorted(groups),
            "attached_roles": sorted(roles),
            "created_at": _iso(policy.get("CreateDate")),
            "updated_at": _iso(policy.get("UpdateDate")),
        }


_PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


async def account_public_access_block(aws: AwsSession) -> dict[str, bool] | None:
    """The account-level S3 Block Public Access flags (all False when none is set)."""
    account = (await aws.identity())["account"]
    answer = await aws.call("s3control", "GetPublicAccessBlock",
                            absent=("NoSuchPublicAccessBlockConfiguration",), AccountId=account)
    config = (answer or {}).get("PublicAccessBlockConfiguration", {})
    return {flag: bool(config.get(flag)) for flag in _PAB_FLAGS}


async def s3_buckets(aws: AwsSession, account_block: dict[str, bool] | None
                     ) -> AsyncIterator[dict[str, Any]]:
    """Buckets with default encryption, Block Public Access, ACL/policy exposure, versioning
    and access logging. ``account_block`` is the account-level setting, if it was read."""
    account = (await aws.identity())["account"]
    async for bucket in aws.paginate("s3", "ListBuckets", "Buckets"):
        name = bucket["Name"]
        errors: list[str] = []
        location = await _guarded(errors, "s3:GetBucketLocation", aws.require(
            "s3", "GetBucketLocation", Bucket=name))
        constraint = (location or {}).get("LocationConstraint")
        region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(
            constraint, constraint)
        where = region if isinstance(region, str) else None
        encryption = await _guarded(errors, "s3:GetEncryptionConfiguration", aws.call(
            "s3", "GetBucketEncryption", where,
            absent=("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name))
        block = await _guarded(errors, "s3:GetBucketPublicAccessBlock", aws.call(
            "s3", "GetPublicAccessBlock", where,
            absent=("NoSuchPublicAccessBlockConfiguration",), Bucket=name))
        versioning = await _guarded(errors, "s3:GetBucketVersioning", aws.require(
            "s3", "GetBucketVersioning", where, Bucket=name))
        logging = await _guarded(errors, "s3:GetBucketLogging", aws.require(
            "s3", "GetBucketLogging", where, Bucket=name))
        acl = await _guarded(errors, "s3:GetBucketAcl", aws.require(
            "s3", "GetBucketAcl", where, Bucket=name))
        policy_status = await _guarded(errors, "s3:GetBucketPolicyStatus", aws.call(
            "s3", "GetBucketPolicyStatus", where, absent=("NoSuchBucketPolicy",), Bucket=name))

        rules = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get(
            "Rules", [])
        defaults = [r.get("ApplyServerSideEncryptionByDefault") or {} for r in rules]
        algorithms = sorted({str(d["SSEAlgorithm"]) for d in defaults if d.get("SSEAlgorithm")})
        denied_encryption = "s3:GetEncryptionConfiguration" in errors
        bucket_flags = ((block or {}).get("PublicAccessBlockConfiguration") or {})
        bucket_block = {flag: bool(bucket_flags.get(flag)) for flag in _PAB_FLAGS}
        effective = {
            flag: bucket_block[flag] or bool((account_block or {}).get(flag))
            for flag in _PAB_FLAGS
        }
        public_grants = sorted({
            f"{g.get('Grantee', {}).get('URI', '').rsplit('/', 1)[-1]}:{g.get('Permission')}"
            for g in (acl or {}).get("Grants", [])
            if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES
        })
        policy_public = bool(((policy_status or {}).get("PolicyStatus") or {}).get("IsPublic"))
        acl_known = "s3:GetBucketAcl" not in errors
        policy_known = "s3:GetBucketPolicyStatus" not in errors
        public = (bool(public_grants) and not effective["IgnorePublicAcls"]) or (
            policy_public and not effective["RestrictPublicBuckets"])
        logging_enabled = (logging or {}).get("LoggingEnabled")
        yield {
            "id": f"arn:aws:s3:::{name}",
            "arn": f"arn:aws:s3:::{name}",
            "name": name,
            "account_id": account,
            "region": where,
            "created_at": _iso(bucket.get("CreationDate")),
            "encryption": None if denied_encryption else {
                "enabled": bool(algorithms),
                "algorithms": algorithms,
                "kms_key_ids": sorted({d["KMSMasterKeyID"] for d in defaults
                                       if d.get("KMSMasterKeyID")}),
                "bucket_key_enabled": any(r.get("BucketKeyEnabled") for r in rules),
            },
            "public_access_block": None if "s3:GetBucketPublicAccessBlock" in errors else {
                "bucket": bucket_block,
                "account": account_block,
                "effective": effective,
            },
            "public_acl_grants": public_grants if acl_known else None,
            "policy_is_public": policy_public if policy_known else None,
            "public": public if acl_known and policy_known else None,
            "versioning": None if versioning is None else (versioning.get("Status") or "Disabled"),
            "mfa_delete": None if versioning is None else versioning.get("MFADelete") == "Enabled",
            "logging": None if logging is None else {
                "enabled": bool(logging_enabled),
                "target_bucket": (logging_enabled or {}).get("TargetBucket"),
                "target_prefix": (logging_enabled or {}).get("TargetPrefix"),
            },
            "access_errors": sorted(set(errors)),
        }


def _port_label(protocol: str, low: Any, high: Any) -> str:
    if protocol in ("-1", "all"):
        return "all"
    name = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}.get(protocol, protocol)
    if name.startswith("icmp"):
        return name
    if low in (None, -1) or (low == 0 and high == 65535):
        return f"{name}/all"
    return f"{name}/{low}" if low == high else f"{name}/{low}-{high}"


def _exposes(protocol: str, low: Any, high: Any, port: int) -> bool:
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6", "udp", "17"):
        return False
    return isinstance(low, int) and isinstance(high, int) and low <= port <= high


async def security_groups(aws: AwsSession, regions: list[str]
                          ) -> AsyncIterator[dict[str, Any]]:
    """Security groups of every region, with the ingress rules open to the internet."""
    account = (await aws.identity())["account"]
    for region in regions:
        async for group in aws.paginate("ec2", "DescribeSecurityGroups", "SecurityGroups",
                                        region):
            rules: list[dict[str, Any]] = []
            open_rules: list[dict[str, Any]] = []
            for permission in group.get("IpPermissions", []):
                protocol = str(permission.get("IpProtocol", "-1"))
                low, high = permission.get("FromPort"), permission.get("ToPort")
                sources = (
                    [r["CidrIp"] for r in permission.get("IpRanges", []) if r.get("CidrIp")]
                    + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])
                       if r.get("CidrIpv6")]
                    + [p["GroupId"] for p in permission.get("UserIdGroupPairs", [])
                       if p.get("GroupId")]
                    + [p["PrefixListId"] for p in permission.get("PrefixListIds", [])
                       if p.get("PrefixListId")]
                )
                rule = {"protocol": protocol, "from_port": low, "to_port": high,
                        "ports": _port_label(protocol, low, high), "sources": sources}
                rules.append(rule)
                world = sorted(OPEN_CIDRS.intersection(sources))
                if world:
                    open_rules.append({
                        **rule, "sources": world,
                        "admin_ports": [p for p in ADMIN_PORTS
                                        if _exposes(protocol, low, high, p)],
                    })
            arn = group.get("SecurityGroupArn") or (
                f"arn:aws:ec2:{region}:{group.get('OwnerId', account)}:security-group/"
                f"{group['GroupId']}")
            yield {
                "id": arn,
                "arn": arn,
                "group_id": group["GroupId"],
                "name": group.get("GroupName"),
                "description": group.get("Description"),
                "vpc_id": group.get("VpcId"),
                "account_id": group.get("OwnerId", account),
                "region": region,
                "ingress": rules,
                "open_ingress": open_rules,
                "open_ports": sorted({r["ports"] for r in open_rules}),
                "tags": {t["Key"]: t.get("Value") for t in group.get("Tags", []) if "Key" in t},
            }


async def cloudtrail_trails(aws: AwsSession, regions: list[str]
                            ) -> AsyncIterator[dict[str, Any]]:
    """Trails seen from every region (multi-region trails once), with their logging state."""
    account = (await aws.identity())["account"]
    seen: dict[str, dict[str, Any]] = {}
    for region in regions:
        answer = await aws.require("cloudtrail", "DescribeTrails", region,
                                   includeShadowTrails=True)
        for trail in answer.get("trailList", []):
            arn = trail["TrailARN"]
            if arn in seen:
                seen[arn]["seen_in_regions"].append(region)
                continue
            status = await aws.call("cloudtrail", "GetTrailStatus", region,
                                    absent=("TrailNotFoundException",), Name=arn)
            seen[arn] = {
                "id": arn,
                "arn": arn,
                "name": trail.get("Name"),
                "account_id": account,
                "home_region": trail.get("HomeRegion"),
                "is_multi_region": bool(trail.get("IsMultiRegionTrail")),
                "is_organization_trail": bool(trail.get("IsOrganizationTrail")),
                "is_logging": bool((status or {}).get("IsLogging")),
                "latest_delivery_at": _iso((status or {}).get("LatestDeliveryTime")),
                "log_file_validation": bool(trail.get("LogFileValidationEnabled")),
                "include_global_service_events": bool(
                    trail.get("IncludeGlobalServiceEvents")),
                "s3_bucket_name": trail.get("S3BucketName"),
                "kms_key_id": trail.get("KmsKeyId"),
                "seen_in_regions": [region],
            }
    for record in seen.values():
        yield record
