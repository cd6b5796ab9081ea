"""The built-in Generic REST API connector (the declarative engine, configured per instance)."""

from connectors.builtin.generic_rest.connector import GenericRestConnector

__all__ = ["GenericRestConnector"]
