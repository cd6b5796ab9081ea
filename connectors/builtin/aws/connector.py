"""The built-in AWS connector (Cloud).

Reads IAM users and attached policies, S3 buckets, EC2 security groups and CloudTrail trails
from one account over several regions, and derives CIS-style ``configuration_checks``.
Authenticates with access keys (optionally a session token, optionally a role to assume)
from the auth layer's :class:`~connectors.sdk.auth.AwsCredentials`. Read-only: every API
call it makes is listed in docs/connectors/aws.md as a least-privilege IAM policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.builtin.aws.config import AwsConfig
from connectors.builtin.aws.errors import iam_action
from connectors.builtin.aws.session import AwsSession
from connectors.builtin.aws.streams import AwsContext, aws_streams
from connectors.sdk.auth.credentials import AwsCredentials
from connectors.sdk.check import CheckResult
from connectors.sdk.connector import Connector
from connectors.sdk.errors import ConfigError, PermissionDeniedError
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.streams import Stream

__all__ = ["MAPPINGS_DIR", "PERMISSION_PROBES", "AwsConnector"]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
SERVICES = ("iam", "s3", "ec2", "cloudtrail")

# (service, operation, parameters, per region): cheap read-only calls that prove a permission.
PERMISSION_PROBES: tuple[tuple[str, str, dict[str, Any], bool], ...] = (
    ("iam", "ListUsers", {"MaxItems": 1}, False),
    ("iam", "GetAccountSummary", {}, False),
    ("iam", "ListPolicies", {"Scope": "All", "OnlyAttached": True, "MaxItems": 1}, False),
    ("s3", "ListBuckets", {}, False),
    ("ec2", "DescribeSecurityGroups", {"MaxResults": 5}, True),
    ("cloudtrail", "DescribeTrails", {"includeShadowTrails": False}, True),
)


class AwsConnector(Connector[AwsConfig]):
    """Amazon Web Services: IAM, S3, EC2 security groups, CloudTrail, and CIS-style checks."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="aws",
        name="Amazon Web Services",
        description="IAM users (console access, MFA, access keys), attached admin policies, "
        "S3 buckets, EC2 security groups and CloudTrail trails across regions, with "
        "CIS-style configuration checks.",
        version="1.0.0",
        system_type=SystemType.CLOUD,
        vendor="Amazon Web Services",
        author="SimpleTrust",
        auth_methods=(AuthMethod.AWS,),
    )
    config_model: ClassVar[type[BaseModel]] = AwsConfig

    def __init__(self, config: AwsConfig | Any, *,
                 clock: Callable[[], dt.datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.credentials is not None and not isinstance(self.credentials, AwsCredentials):
            raise ConfigError(
                "The AWS connector authenticates with AWS access keys (auth type 'aws'), "
                f"not {type(self.credentials).__name__}.",
                hint="Choose the 'aws' authentication method for this integration.",
            )
        self.aws = AwsSession(self.config, self.credentials, self.context)
        self.aws_context = AwsContext(self.aws, self.config, clock)
        self.missing_permissions: list[str] = []

    async def check_connection(self) -> None:
        await self.aws.identity()

    async def check_permissions(self) -> None:
        """Probe one read per service (per region where regional); name every denied action."""
        missing: list[str] = []
        for service, operation, params, regional in PERMISSION_PROBES:
            for region in self.config.regions if regional else [self.config.home_region]:
                try:
                    await self.aws.call(service, operation, region, **params)
                except PermissionDeniedError:
                    action = iam_action(service, operation)
                    if action not in missing:
                        missing.append(action)
        self.missing_permissions = missing
        if missing:
            raise PermissionDeniedError(
                f"The AWS identity lacks {len(missing)} permission(s): {', '.join(missing)}.",
                hint="Attach the connector's read-only policy (docs/connectors/aws.md) to the "
                "identity, or the AWS managed policy SecurityAudit.",
            )

    async def check(self) -> CheckResult:
        """The SDK's step-by-step check, plus who we are and which permissions are missing."""
        self.missing_permissions = []
        result = await super().check()
        details = dict(result.details)
        identity = self.aws.cached_identity
        if identity is not None:
            details["caller_identity"] = dict(identity)
        details["missing_permissions"] = list(self.missing_permissions)
        return dataclasses.replace(result, details=details)

    async def detect_api_version(self) -> str | None:
        """The AWS API versions spoken, per service (``iam 2010-05-08, s3 2006-03-01, …``).

        AWS versions each service's API by date and keeps old versions working; boto3 pins
        them, so this reports what the records were read with (for provenance).
        """
        versions = []
        for service in SERVICES:
            client = await asyncio.to_thread(self.aws.client, service)
            versions.append(f"{service} {client.meta.service_model.api_version}")
        return ", ".join(versions)

    async def streams(self) -> Sequence[Stream]:
        return aws_streams(self.aws_context)
