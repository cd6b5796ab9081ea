"""The connector SDK: what a connector author imports.

See docs/sdk/concepts.md. Everything public is re-exported here::

    from connectors.sdk import Connector, ConnectorMetadata, Stream, SystemType, secret_field
"""

from connectors.sdk.actions import ActionResult, ActionSpec, action
from connectors.sdk.check import CheckItem, CheckName, CheckResult, CheckStatus
from connectors.sdk.config import config_schema, parse_config, public_config, secret_values
from connectors.sdk.connector import Connector
from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import (
    AuthenticationError,
    AuthError,
    BlockedAddressError,
    ConfigError,
    ConnectorError,
    DataError,
    ErrorAction,
    ErrorCategory,
    InvalidInputError,
    NetworkError,
    NotSupportedError,
    PaginationLoopError,
    PermissionDeniedError,
    RateLimitError,
    RemoteError,
    RemoteServerError,
    RequestTimeoutError,
    TransientError,
    UnsupportedApiVersionError,
    WebhookVerificationError,
    map_exceptions,
)
from connectors.sdk.fields import secret_field, secret_field_names
from connectors.sdk.http import (
    CursorPaginator,
    HttpClient,
    HttpMetrics,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    RecordSelector,
    RetryPolicy,
    SinglePagePaginator,
    TokenBucket,
)
from connectors.sdk.messages import ReadMessage, RecordMessage, SkippedRecordMessage, StateMessage
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.schema import infer_schema, record_errors
from connectors.sdk.streams import Stream, StreamDescriptor, SyncMode
from connectors.sdk.versioning import negotiate_version
from connectors.sdk.webhooks import WebhookEvent, WebhookRequest, verify_hmac_signature

__all__ = [
    "ActionResult",
    "ActionSpec",
    "AuthError",
    "AuthMethod",
    "AuthenticationError",
    "BlockedAddressError",
    "CheckItem",
    "CheckName",
    "CheckResult",
    "CheckStatus",
    "ConfigError",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "ConnectorMetadata",
    "CursorPaginator",
    "DataError",
    "ErrorAction",
    "ErrorCategory",
    "HttpClient",
    "HttpMetrics",
    "InvalidInputError",
    "LinkHeaderPaginator",
    "NetworkError",
    "NextLinkPaginator",
    "NotSupportedError",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PaginationLoopError",
    "Paginator",
    "PermissionDeniedError",
    "RateLimitError",
    "ReadMessage",
    "RecordMessage",
    "RecordSelector",
    "RemoteError",
    "RemoteServerError",
    "RequestTimeoutError",
    "RetryPolicy",
    "SinglePagePaginator",
    "SkippedRecordMessage",
    "StateMessage",
    "Stream",
    "StreamDescriptor",
    "SyncMode",
    "SystemType",
    "TokenBucket",
    "TransientError",
    "UnsupportedApiVersionError",
    "WebhookEvent",
    "WebhookRequest",
    "WebhookVerificationError",
    "action",
    "config_schema",
    "infer_schema",
    "map_exceptions",
    "negotiate_version",
    "parse_config",
    "public_config",
    "record_errors",
    "secret_field",
    "secret_field_names",
    "secret_values",
    "verify_hmac_signature",
]
