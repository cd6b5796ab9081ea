"""Business operations shared by the API, the CLI and the engine (no HTTP here)."""
