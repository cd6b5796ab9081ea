"""The agent's REST API under ``/api/integration`` (FastAPI)."""
