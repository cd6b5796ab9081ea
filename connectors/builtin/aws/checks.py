"""Configuration checks derived from the inventory, in the spirit of the CIS AWS Foundations
Benchmark. Pure functions: records in, ``configuration_checks`` records out.

Each check has a stable id (``aws.iam.user_mfa``), a title, a severity, a resource, the
evidence it looked at, and a status: ``pass``, ``fail``, ``not_applicable`` (the rule does not
apply, e.g. MFA for a user without console access) or ``error`` (the identity may not read
what the rule needs; the missing IAM action is in the message). Control numbers refer to
CIS AWS Foundations Benchmark v3.0 and are a pointer for auditors, not a certification.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CHECKS", "CheckDefinition", "Thresholds", "evaluate"]

FRAMEWORK = "CIS AWS Foundations Benchmark v3.0"


@dataclass(frozen=True)
class CheckDefinition:
    title: str
    severity: str
    resource_type: str
    controls: tuple[str, ...]
    remediation: str


CHECKS: dict[str, CheckDefinition] = {
    "aws.iam.root_mfa": CheckDefinition(
        "The root user has MFA enabled", "critical", "aws_account", ("1.5",),
        "Sign in as the root user and enable MFA (preferably a hardware key)."),
    "aws.iam.root_access_keys": CheckDefinition(
        "The root user has no access keys", "critical", "aws_account", ("1.4",),
        "Delete the root user's access keys; use IAM roles or users instead."),
    "aws.iam.user_mfa": CheckDefinition(
        "IAM users with console access have MFA", "high", "iam_user", ("1.10",),
        "Enable an MFA device for the user, or remove the console password."),
    "aws.iam.access_key_rotation": CheckDefinition(
        "Active access keys are rotated", "medium", "iam_user", ("1.14",),
        "Create a new access key, switch the workload to it, deactivate and delete the old."),
    "aws.iam.unused_credentials": CheckDefinition(
        "Unused credentials are disabled", "medium", "iam_user", ("1.12",),
        "Deactivate unused access keys and remove unused console passwords."),
    "aws.iam.admin_policy_attached": CheckDefinition(
        "No attached policy grants full administrative privileges ('*:*')", "high",
        "iam_policy", ("1.16",),
        "Detach the policy, or replace it with one granting only the actions needed."),
    "aws.s3.bucket_encryption": CheckDefinition(
        "S3 bucket default encryption is on", "medium", "s3_bucket", (),
        "Set default encryption on the bucket (SSE-KMS where keys must be controlled)."),
    "aws.s3.public_access_block": CheckDefinition(
        "S3 Block Public Access is on (bucket or account)", "high", "s3_bucket", ("2.1.4",),
        "Turn on all four Block Public Access settings for the bucket or the account."),
    "aws.s3.bucket_public": CheckDefinition(
        "S3 bucket is not publicly accessible", "critical", "s3_bucket", (),
        "Remove public ACL grants and public bucket policy statements; turn on Block Public "
        "Access."),
    "aws.s3.bucket_versioning": CheckDefinition(
        "S3 bucket versioning is enabled", "low", "s3_bucket", (),
        "Enable versioning to recover from overwrites and deletions."),
    "aws.s3.bucket_logging": CheckDefinition(
        "S3 server access logging is enabled", "low", "s3_bucket", (),
        "Enable server access logging to a dedicated log bucket."),
    "aws.ec2.sg_open_ingress": CheckDefinition(
        "Security group allows no ingress from 0.0.0.0/0 or ::/0", "high",
        "ec2_security_group", ("5.2", "5.3"),
        "Restrict the rule's source to known networks, or remove it."),
    "aws.cloudtrail.multi_region": CheckDefinition(
        "A multi-region CloudTrail trail is logging", "high", "aws_account", ("3.1",),
        "Create a multi-region trail (or turn one on) and start logging."),
    "aws.cloudtrail.trail_logging": CheckDefinition(
        "CloudTrail trail is logging", "high", "cloudtrail_trail", (),
        "Start logging on the trail, or delete it if it is not needed."),
    "aws.cloudtrail.log_file_validation": CheckDefinition(
        "CloudTrail log file validation is enabled", "medium", "cloudtrail_trail", ("3.2",),
        "Enable log file integrity validation on the trail."),
}


def days_since(value: Any, now: dt.datetime) -> int | None:
    """Whole days from an ISO time in a record to ``now`` (None if there is no time)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return max(0, (now - stamp).days)


@dataclass(frozen=True)
class Thresholds:
    access_key_max_age_days: int = 90
    unused_credentials_days: int = 45
    require_kms_encryption: bool = False


def _result(
    check_id: str,
    status: str,
    *,
    resource_id: str,
    resource_name: str | None,
    account_id: str | None,
    region: str | None,
    message: str,
    evidence: Mapping[str, Any],
    severity: str | None = None,
) -> dict[str, Any]:
    definition = CHECKS[check_id]
    return {
        "id": f"{check_id}:{resource_id}",
        "check_id": check_id,
        "title": definition.title,
        "status": status,
        "severity": severity or definition.severity,
        "resource_type": definition.resource_type,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "account_id": account_id,
        "region": region,
        "framework": FRAMEWORK if definition.controls else None,
        "control_ids": list(definition.controls),
        "message": message,
        "remediation": definition.remediation if status == "fail" else None,
        "evidence": dict(evidence),
    }


def _denied(record: Mapping[str, Any], *actions: str) -> str | None:
    missing = [a for a in actions if a in (record.get("access_errors") or [])]
    return f"Could not evaluate: permission denied for {', '.join(missing)}." if missing else None


def account_checks(account_id: str, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    root = f"arn:aws:iam::{account_id}:root"
    common: dict[str, Any] = {"resource_id": root, "resource_name": "root",
                              "account_id": account_id, "region": None}
    mfa = int(summary.get("AccountMFAEnabled", 0) or 0)
    keys = int(summary.get("AccountAccessKeysPresent", 0) or 0)
    return [
        _result("aws.iam.root_mfa", "pass" if mfa else "fail", **common,
                message="The root user has MFA." if mfa else "The root user has no MFA.",
                evidence={"AccountMFAEnabled": mfa}),
        _result("aws.iam.root_access_keys", "fail" if keys else "pass", **common,
                message="The root user has access keys." if keys
                else "The root user has no access keys.",
                evidence={"AccountAccessKeysPresent": keys}),
    ]


def user_checks(user: Mapping[str, Any], limits: Thresholds, now: dt.datetime
                ) -> list[dict[str, Any]]:
    common: dict[str, Any] = {"resource_id": user["arn"], "resource_name": user["user_name"],
              "account_id": user.get("account_id"), "region": None}
    out: list[dict[str, Any]] = []
    console = user.get("password_enabled")

    denied = _denied(user, "iam:GetLoginProfile", "iam:ListMFADevices")
    evidence = {"console_access": console, "mfa_devices": [
        d.get("serial_number") for d in user.get("mfa_devices", [])]}
    if denied:
        out.append(_result("aws.iam.user_mfa", "error", **common, message=denied,
                           evidence=evidence))
    elif not console:
        out.append(_result("aws.iam.user_mfa", "not_applicable", **common,
                           message="The user has no console password.", evidence=evidence))
    elif user.get("mfa_enabled"):
        out.append(_result("aws.iam.user_mfa", "pass", **common,
                           message="The console user has MFA.", evidence=evidence))
    else:
        out.append(_result("aws.iam.user_mfa", "fail", **common,
                           message="The user can sign in to the console without MFA.",
                           evidence=evidence))

    active = [k for k in user.get("access_keys", []) if k.get("status") == "Active"]
    denied = _denied(user, "iam:ListAccessKeys")
    old = [k for k in active
           if (days_since(k.get("created_at"), now) or 0) > limits.access_key_max_age_days]
    # Evidence holds creation times, not ages, so it changes only when the keys do.
    evidence = {"max_age_days": limits.access_key_max_age_days, "active_keys": [
        {"access_key_id": k["access_key_id"], "created_at": k.get("created_at")}
        for k in active]}
    if denied:
        out.append(_result("aws.iam.access_key_rotation", "error", **common, message=denied,
                           evidence=evidence))
    elif not active:
        out.append(_result("aws.iam.access_key_rotation", "not_applicable", **common,
                           message="The user has no active access keys.", evidence=evidence))
    else:
        ids = ", ".join(k["access_key_id"] for k in old)
        out.append(_result(
            "aws.iam.access_key_rotation", "fail" if old else "pass", **common,
            message=f"Active keys older than {limits.access_key_max_age_days} days: {ids}."
            if old else f"All active keys are younger than {limits.access_key_max_age_days} "
            "days.", evidence=evidence))

    out.append(_unused_check(user, active, limits, common, now))
    return out


def _unused(last_used: Any, created: Any, limit: int, now: dt.datetime) -> bool:
    """Unused for more than ``limit`` days; never used counts from creation."""
    last = days_since(last_used, now)
    if last is not None:
        return last > limit
    return (days_since(created, now) or 0) > limit


def _unused_check(user: Mapping[str, Any], active: list[dict[str, Any]], limits: Thresholds,
                  common: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    days = limits.unused_credentials_days
    stale: list[str] = []
    if user.get("password_enabled") and _unused(
        user.get("password_last_used"), user.get("password_created_at"), days, now
    ):
        stale.append("console password")
    for key in active:
        if _unused(key.get("last_used_at"), key.get("created_at"), days, now):
            stale.append(f"access key {key['access_key_id']}")
    evidence = {"unused_days": days, "password_last_used": user.get("password_last_used"),
                "access_keys": [{"access_key_id": k["access_key_id"],
                                 "last_used_at": k.get("last_used_at")} for k in active]}
    denied = _denied(user, "iam:GetLoginProfile", "iam:ListAccessKeys",
                     "iam:GetAccessKeyLastUsed")
    if denied:
        return _result("aws.iam.unused_credentials", "error", **common, message=denied,
                       evidence=evidence)
    if not user.get("password_enabled") and not active:
        return _result("aws.iam.unused_credentials", "not_applicable", **common,
                       message="The user has no password and no active access keys.",
                       evidence=evidence)
    if stale:
        return _result("aws.iam.unused_credentials", "fail", **common,
                       message=f"Unused for more than {days} days: {', '.join(stale)}.",
                       evidence=evidence)
    return _result("aws.iam.unused_credentials", "pass", **common,
                   message=f"Every credential was used within {days} days (or is newer).",
                   evidence=evidence)


def policy_checks(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    admin = bool(policy.get("grants_full_admin"))
    attached = {"users": policy.get("attached_users", []),
                "groups": policy.get("attached_groups", []),
                "roles": policy.get("attached_roles", [])}
    return [_result(
        "aws.iam.admin_policy_attached", "fail" if admin else "pass",
        resource_id=policy["arn"], resource_name=policy.get("name"),
        account_id=policy.get("account_id"), region=None,
        message="The policy allows '*' on '*' and is attached." if admin
        else "The policy does not grant full administrative privileges.",
        evidence={"grants_full_admin": admin, "aws_managed": policy.get("aws_managed"),
                  "attached_to": attached})]


def bucket_checks(bucket: Mapping[str, Any], limits: Thresholds) -> list[dict[str, Any]]:
    common: dict[str, Any] = {"resource_id": bucket["arn"], "resource_name": bucket["name"],
              "account_id": bucket.get("account_id"), "region": bucket.get("region")}
    out: list[dict[str, Any]] = []

    encryption = bucket.get("encryption")
    if encryption is None:
        out.append(_result("aws.s3.bucket_encryption", "error", **common,
                           message=_denied(bucket, "s3:GetEncryptionConfiguration") or
                           "Encryption could not be read.", evidence={}))
    else:
        algorithms = encryption.get("algorithms") or []
        kms = any("kms" in a for a in algorithms)
        ok = bool(algorithms) and (kms or not limits.require_kms_encryption)
        if not algorithms:
            message = "The bucket has no default encryption."
        elif ok:
            message = f"Default encryption: {', '.join(algorithms)}."
        else:
            message = "Default encryption is SSE-S3 only; SSE-KMS is required."
        out.append(_result("aws.s3.bucket_encryption", "pass" if ok else "fail", **common,
                           message=message, evidence={**encryption,
                           "require_kms": limits.require_kms_encryption}))

    block = bucket.get("public_access_block")
    if block is None:
        out.append(_result("aws.s3.public_access_block", "error", **common,
                           message=_denied(bucket, "s3:GetBucketPublicAccessBlock") or
                           "Block Public Access could not be read.", evidence={}))
    else:
        effective = block.get("effective") or {}
        off = sorted(flag for flag, on in effective.items() if not on)
        out.append(_result(
            "aws.s3.public_access_block", "fail" if off else "pass", **common,
            message=f"Not blocked: {', '.join(off)}." if off
            else "All four Block Public Access settings are on.", evidence=block))

    public = bucket.get("public")
    evidence = {"public_acl_grants": bucket.get("public_acl_grants"),
                "policy_is_public": bucket.get("policy_is_public")}
    if public is None:
        out.append(_result("aws.s3.bucket_public", "error", **common,
                           message=_denied(bucket, "s3:GetBucketAcl",
                                           "s3:GetBucketPolicyStatus")
                           or "Exposure could not be read.", evidence=evidence))
    else:
        out.append(_result(
            "aws.s3.bucket_public", "fail" if public else "pass", **common,
            message="The bucket is readable or writable by anyone." if public
            else "The bucket is not public.", evidence=evidence))

    versioning = bucket.get("versioning")
    if versioning is None:
        out.append(_result("aws.s3.bucket_versioning", "error", **common,
                           message=_denied(bucket, "s3:GetBucketVersioning") or
                           "Versioning could not be read.", evidence={}))
    else:
        out.append(_result(
            "aws.s3.bucket_versioning", "pass" if versioning == "Enabled" else "fail", **common,
            message=f"Versioning: {versioning}.",
            evidence={"status": versioning, "mfa_delete": bucket.get("mfa_delete")}))

    logging = bucket.get("logging")
    if logging is None:
        out.append(_result("aws.s3.bucket_logging", "error", **common,
                           message=_denied(bucket, "s3:GetBucketLogging") or
                           "Logging could not be read.", evidence={}))
    else:
        out.append(_result(
            "aws.s3.bucket_logging", "pass" if logging.get("enabled") else "fail", **common,
            message=f"Access logs go to {logging.get('target_bucket')}."
            if logging.get("enabled") else "Server access logging is off.", evidence=logging))
    return out


def security_group_checks(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    open_rules = group.get("open_ingress") or []
    admin = sorted({p for r in open_rules for p in r.get("admin_ports", [])})
    severity = "high" if admin else "medium"
    ports = ", ".join(group.get("open_ports") or [])
    return [_result(
        "aws.ec2.sg_open_ingress", "fail" if open_rules else "pass",
        resource_id=group["arn"], resource_name=f"{group.get('name')} ({group.get('group_id')})",
        account_id=group.get("account_id"), region=group.get("region"),
        severity=severity if open_rules else None,
        message=f"Open to the internet: {ports}"
        + (f" (administration ports {', '.join(map(str, admin))})." if admin else ".")
        if open_rules else "No ingress rule is open to 0.0.0.0/0 or ::/0.",
        evidence={"open_ingress": open_rules, "vpc_id": group.get("vpc_id")})]


def trail_checks(trails: Iterable[Mapping[str, Any]], account_id: str
                 ) -> list[dict[str, Any]]:
    trails = list(trails)
    out: list[dict[str, Any]] = []
    good = [t for t in trails if t.get("is_multi_region") and t.get("is_logging")]
    out.append(_result(
        "aws.cloudtrail.multi_region", "pass" if good else "fail",
        resource_id=f"arn:aws:iam::{account_id}:root", resource_name=account_id,
        account_id=account_id, region=None,
        message=f"Multi-region trail(s) logging: {', '.join(t['name'] for t in good)}."
        if good else "No multi-region trail is logging.",
        evidence={"trails": [{"name": t.get("name"), "multi_region": t.get("is_multi_region"),
                              "logging": t.get("is_logging")} for t in trails]}))
    for trail in trails:
        common: dict[str, Any] = {"resource_id": trail["arn"], "resource_name": trail.get("name"),
                  "account_id": trail.get("account_id"), "region": trail.get("home_region")}
        logging = bool(trail.get("is_logging"))
        out.append(_result("aws.cloudtrail.trail_logging", "pass" if logging else "fail",
                           **common, message="The trail is logging." if logging
                           else "The trail is not logging.",
                           evidence={"is_logging": logging}))
        validation = bool(trail.get("log_file_validation"))
        out.append(_result("aws.cloudtrail.log_file_validation",
                           "pass" if validation else "fail", **common,
                           message="Log file validation is on." if validation
                           else "Log file validation is off.",
                           evidence={"log_file_validation": validation}))
    return out


def evaluate(
    *,
    account_id: str,
    summary: Mapping[str, Any] | None,
    users: Iterable[Mapping[str, Any]],
    policies: Iterable[Mapping[str, Any]],
    buckets: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]],
    trails: Iterable[Mapping[str, Any]],
    limits: Thresholds,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Every check result for one read of the account."""
    out = account_checks(account_id, summary) if summary is not None else []
    for user in users:
        out += user_checks(user, limits, now)
    for policy in policies:
        out += policy_checks(policy)
    for bucket in buckets:
        out += bucket_checks(bucket, limits)
    for group in groups:
        out += security_group_checks(group)
    out += trail_checks(trails, account_id)
    return out
