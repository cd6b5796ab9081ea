"""What a connector says about itself: the registry stores it, the console shows it."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "AuthMethod",
    "ConnectorKey",
    "ConnectorMetadata",
    "HttpUrlText",
    "SemVer",
    "SystemType",
    "validate_http_url",
    "validate_key",
    "validate_semver",
]

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
KEY = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def validate_key(value: str) -> str:
    if not KEY.match(value):
        raise ValueError(
            "must be 2-64 characters: a lowercase letter, then lowercase letters, digits, "
            "'_', '.' or '-'"
        )
    return value


def validate_semver(value: str) -> str:
    if not SEMVER.match(value):
        raise ValueError("must be a semantic version like 1.2.0")
    return value


def validate_http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://\S+$", value):
        raise ValueError("must be an http(s) URL")
    return value


ConnectorKey = Annotated[str, AfterValidator(validate_key)]
SemVer = Annotated[str, AfterValidator(validate_semver)]
HttpUrlText = Annotated[str, AfterValidator(validate_http_url)]


class SystemType(enum.StrEnum):
    """The kind of system a connector talks to (``IntegrationConnector.system_type``)."""

    ITSM = "ITSM"
    CLOUD = "Cloud"
    SECURITY = "Security"
    DIRECTORY = "Directory"
    SIEM = "SIEM"
    DEVOPS = "DevOps"
    FILE = "File"
    GENERIC = "Generic"


class AuthMethod(enum.StrEnum):
    """Authentication methods the auth layer implements; a connector lists those it accepts."""

    NONE = "none"
    API_KEY = "api_key"
    BASIC = "basic"
    BEARER = "bearer"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    OAUTH2_AUTHORIZATION_CODE = "oauth2_authorization_code"
    JWT_BEARER = "jwt_bearer"
    CERTIFICATE = "certificate"
    AWS = "aws"
    LDAP_BIND = "ldap_bind"


class ConnectorMetadata(BaseModel):
    """Identity and description of a connector type.

    ``key`` is the stable identifier (``acme-tickets``); the database row's UUID is the
    agent's business. ``version`` is the connector's own semantic version; ``api_versions``
    lists the remote API versions it has adapters for (``["v1", "v2"]`` or ``["3", "4"]``:
    a detected ``"4.2.1"`` matches ``"4"``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    key: ConnectorKey = Field(description="Stable id: lowercase letters, digits, '_', '.', '-'.")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    version: SemVer = Field(description="Semantic version of the connector, e.g. 1.2.0.")
    system_type: SystemType
    vendor: str | None = None
    author: str | None = None
    documentation_url: HttpUrlText | None = None
    icon: str | None = Field(default=None, description="Icon URL, data: URI or resource name.")
    auth_methods: tuple[AuthMethod, ...] = ()
    api_versions: tuple[str, ...] = ()


    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the registry and the API."""
        return self.model_dump(mode="json")
