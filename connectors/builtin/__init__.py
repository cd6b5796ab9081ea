"""Built-in connectors shipped with SimpleTrust Integrations."""
