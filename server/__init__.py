"""The headless sync agent of SimpleTrust Integrations."""

__version__ = "0.1.0"
