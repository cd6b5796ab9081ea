"""Faithful loopback simulators of vendor APIs: the connectors' test peers and the demo sandbox.

Each simulator is an ASGI app (``sim.app``) serving the vendor's real paths, field names,
pagination, error bodies, rate-limit headers and auth checks, with seeded demo data and a
control API under ``/_sim/`` for fault injection, throttling, new activity and simulated
events (see :mod:`connectors.sandbox.common`). Run one on loopback with
:func:`connectors.sandbox.server.start` or ``python -m connectors.sandbox.server``.
"""

from connectors.sandbox.common import FaultRule, Faults, Simulator
from connectors.sandbox.github import GitHubSimulator
from connectors.sandbox.jira import JiraSimulator
from connectors.sandbox.server import RunningSimulator, serve, start
from connectors.sandbox.snipeit import SnipeItSimulator
from connectors.sandbox.splunk import SplunkSimulator

__all__ = [
    "FaultRule",
    "Faults",
    "GitHubSimulator",
    "JiraSimulator",
    "RunningSimulator",
    "Simulator",
    "SnipeItSimulator",
    "SplunkSimulator",
    "serve",
    "start",
]
