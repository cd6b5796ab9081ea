"""Forms generated from JSON Schema (connector configuration, credentials)."""
