"""Every table of the agent's database. Import models from here."""

from server.db.base import Base
from server.db.models.actions import ActionInvocation
from server.db.models.agents import Agent, AgentState, ScheduleSlot, SlotOutcome
from server.db.models.alerts import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    BreakerState,
    CircuitBreaker,
    MetricSample,
    SampleKind,
    Task,
    TaskStatus,
)
from server.db.models.audit import AuditChainHead, AuditCheckpoint, AuditEntry
from server.db.models.auth import AuthenticationConfig, OAuthSignIn
from server.db.models.connectors import IntegrationConnector, IntegrationInstance
from server.db.models.deliveries import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookScheme,
)
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
from server.db.models.outbox import (
    EventAction,
    EventActionAttempt,
    EventActionStatus,
    OutboxEvent,
    OutboxStatus,
    SubscriptionSecret,
)
from server.db.models.principals import ApiToken, Principal
from server.db.models.records import (
    DeadLetter,
    EvidenceRecord,
    EvidenceRecordVersion,
    StreamState,
    SyncSeenKey,
)
from server.db.models.revisions import ConfigRevision
from server.db.models.sync import SyncExecution, SyncSchedule

__all__ = [
    "ActionInvocation",
    "ActionType",
    "Agent",
    "AgentState",
    "Alert",
    "AlertKind",
    "AlertSeverity",
    "AlertStatus",
    "ApiToken",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEntry",
    "AuthType",
    "AuthenticationConfig",
    "Base",
    "BreakerState",
    "CircuitBreaker",
    "ConfigRevision",
    "ConnectorMetrics",
    "ConnectorOrigin",
    "DataMapping",
    "DataMappingVersion",
    "DeadLetter",
    "DeliveryStatus",
    "EventAction",
    "EventActionAttempt",
    "EventActionStatus",
    "EventSubscription",
    "EvidenceRecord",
    "EvidenceRecordVersion",
    "InstanceStatus",
    "IntegrationConnector",
    "IntegrationInstance",
    "IntegrationLog",
    "LogType",
    "MetricSample",
    "OAuthSignIn",
    "OutboxEvent",
    "OutboxStatus",
    "Principal",
    "PrincipalKind",
    "Role",
    "SampleKind",
    "ScheduleSlot",
    "ScheduleType",
    "SlotOutcome",
    "StreamState",
    "SubscriptionSecret",
    "SyncExecution",
    "SyncSchedule",
    "SyncSeenKey",
    "SyncStatus",
    "SystemType",
    "Task",
    "TaskStatus",
    "TriggerType",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookScheme",
]
