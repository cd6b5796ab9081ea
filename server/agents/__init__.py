"""Several agents on one database: registry and heartbeats, sync leases, SQLite's lock.

Import from the modules (``server.agents.service``, ``.claims``, ``.lock``): this package is
imported by the sync engine's event hooks, so it stays free of heavy imports.
"""
