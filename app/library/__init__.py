"""The connector library (the Connectors page and the wizard's first step)."""
