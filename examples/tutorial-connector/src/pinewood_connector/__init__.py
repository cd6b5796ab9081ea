"""Pinewood issue tracker connector for SimpleTrust Integrations (the SDK tutorial's)."""

from pinewood_connector.connector import PinewoodConnector

__all__ = ["PinewoodConnector"]
