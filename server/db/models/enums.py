"""The spec's enumerations. Values are the lower-case words the API speaks."""

from __future__ import annotations

import enum


class StrEnum(enum.StrEnum):
    def __str__(self) -> str:
        return str(self.value)


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


class Role(StrEnum):
    """What a principal may do. Ordered from most to least privileged."""

    ADMIN = "admin"  # everything, including principals and tokens
    OPERATOR = "operator"  # configure and run integrations
    AUDITOR = "auditor"  # read-only, including logs


class SystemType(StrEnum):
    ITSM = "ITSM"
    CLOUD = "Cloud"
    SECURITY = "Security"
    DIRECTORY = "Directory"
    SIEM = "SIEM"
    DEVOPS = "DevOps"
    FILE = "File"
    GENERIC = "Generic"


class ConnectorOrigin(StrEnum):
    BUILT_IN = "built_in"
    PLUGIN = "plugin"  # a third-party package's entry point
    DECLARATIVE = "declarative"  # a no-code spec registered through the API


class InstanceStatus(StrEnum):
    CONFIGURING = "configuring"
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"


class AuthType(StrEnum):
    API_KEY = "api_key"
    BASIC = "basic"
    BEARER = "bearer"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    OAUTH2_AUTHORIZATION_CODE = "oauth2_authorization_code"
    JWT_BEARER = "jwt_bearer"  # service account, RFC 7523
    CERTIFICATE = "certificate"  # mutual TLS
    AWS = "aws"  # access keys, optional session token and assume-role
    LDAP_BIND = "ldap_bind"  # directory bind DN + password


class ScheduleType(StrEnum):
    INTERVAL = "interval"
    CRON = "cron"
    EVENT = "event"


class LogType(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    SUCCESS = "success"


class TriggerType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    EVENT = "event"


class SyncStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ActionType(StrEnum):
    NOTIFICATION = "notification"
    SYNC = "sync"
    WEBHOOK = "webhook"
    WRITE_ACTION = "write_action"
