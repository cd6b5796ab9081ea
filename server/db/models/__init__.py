"""Every table of the agent's database. Import models from here."""

from server.db.base import Base
from server.db.models.auth import AuthenticationConfig
from server.db.models.connectors import IntegrationConnector, IntegrationInstance
from server.db.models.enums import (
    ActionType,
    AuthType,
    ConnectorOrigin,
    InstanceStatus,
    LogType,
    PrincipalKind,
    Role,
    ScheduleType,
    SyncStatus,
    SystemType,
    TriggerType,
)
from server.db.models.events import EventSubscription
from server.db.models.mappings import DataMapping, DataMappingVersion
from server.db.models.monitoring import ConnectorMetrics, IntegrationLog
from server.db.models.principals import ApiToken, Principal
from server.db.models.records import (
    DeadLetter,
    EvidenceRecord,
    EvidenceRecordVersion,
    StreamState,
    SyncSeenKey,
)
from server.db.models.sync import SyncExecution, SyncSchedule

__all__ = [
    "ActionType",
    "ApiToken",
    "AuthType",
    "AuthenticationConfig",
    "Base",
    "ConnectorMetrics",
    "ConnectorOrigin",
    "DataMapping",
    "DataMappingVersion",
    "DeadLetter",
    "EventSubscription",
    "EvidenceRecord",
    "EvidenceRecordVersion",
    "InstanceStatus",
    "IntegrationConnector",
    "IntegrationInstance",
    "IntegrationLog",
    "LogType",
    "Principal",
    "PrincipalKind",
    "Role",
    "ScheduleType",
    "StreamState",
    "SyncExecution",
    "SyncSchedule",
    "SyncSeenKey",
    "SyncStatus",
    "SystemType",
    "TriggerType",
]
