"""Integration health (issue 7): metrics, health scores, alerts, error recovery and tasks.

* :mod:`.samples` records raw measurements while syncs run; :mod:`.rollup` summarises them
  into ``ConnectorMetrics`` per hour and per day;
* :mod:`.health` scores each instance and connector 0-100;
* :mod:`.alerts` raises, refreshes and resolves alerts (each one an event);
* :mod:`.recovery` decides what the engine does with each failure class, and runs the circuit
  breaker and the tasks left for people (:mod:`.tasks`);
* :mod:`.service` runs rollups, alert evaluation and pruning in the agent's background.
"""

from server.monitoring.config import MonitoringConfig

__all__ = ["MonitoringConfig"]
