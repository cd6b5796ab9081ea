"""The connection status dashboard."""
