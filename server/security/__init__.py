"""Who may call the agent: API tokens, roles and the first admin."""
