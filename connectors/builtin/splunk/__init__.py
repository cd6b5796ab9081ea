"""The built-in Splunk connector (SIEM, bi-directional)."""

from connectors.builtin.splunk.connector import (
    SearchConfig,
    SendEvent,
    SplunkConfig,
    SplunkConnector,
    default_mappings,
)

__all__ = ["SearchConfig", "SendEvent", "SplunkConfig", "SplunkConnector", "default_mappings"]
