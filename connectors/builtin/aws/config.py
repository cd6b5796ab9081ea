"""Configuration of the AWS connector. Credentials (keys, session token, role) come from the
auth layer as :class:`~connectors.sdk.auth.AwsCredentials`, never from here."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AwsConfig"]

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class AwsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    regions: list[str] = Field(
        default_factory=lambda: ["us-east-1"],
        min_length=1,
        description="Regions to read EC2 security groups and CloudTrail trails from; the first "
        "one also serves the global services (IAM, S3 listing, STS).",
    )
    endpoint_url: str | None = Field(
        None,
        description="One endpoint for every service (a local emulator such as moto, or a "
        "proxy). Leave empty for AWS's own endpoints.",
    )
    access_key_max_age_days: int = Field(
        90, ge=1, le=3650, description="Active access keys older than this fail rotation."
    )
    unused_credentials_days: int = Field(
        45, ge=1, le=3650, description="Passwords/keys unused this long fail the check."
    )
    require_kms_encryption: bool = Field(
        False,
        description="Fail buckets encrypted only with S3-managed keys (SSE-S3, the AWS default "
        "since 2023); pass only SSE-KMS / DSSE-KMS.",
    )
    account_public_access_block: bool = Field(
        True,
        description="Also read the account-level S3 Block Public Access (s3control). Turn off "
        "for emulators without it.",
    )

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _REGION.match(r)]
        if bad:
            raise ValueError(f"not AWS region names: {', '.join(bad)} (e.g. 'eu-west-1')")
        return list(dict.fromkeys(value))

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not contain user information or a query")
        return value.rstrip("/")

    @property
    def home_region(self) -> str:
        return self.regions[0]
