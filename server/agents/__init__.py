"""Several agents on one database: registry and heartbeats, sync leases, SQLite's lock."""

from server.agents.claims import claim_orphans, gate_for, renew_leases
from server.agents.lock import AgentLockError, SingleAgentLock
from server.agents.service import AgentService

__all__ = ["AgentLockError", "AgentService", "SingleAgentLock", "claim_orphans", "gate_for",
           "renew_leases"]
