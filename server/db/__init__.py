"""The shared data layer: one SQLAlchemy model used by the agent (and by migrations).

Importable without FastAPI or Qt, so the CLI, the agent and the tests all share it.
"""
