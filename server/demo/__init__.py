"""The demo sandbox ``make run`` starts: simulated vendors on loopback and demo instances.

Built-in connectors get demo instances against peers on this machine — the GitHub, Jira and
Splunk simulators, moto for AWS (installed with the dev extras), and a folder of CSV files —
with a one-minute schedule, so a new user sees real-looking data arrive within a minute.
LDAP has no demo instance: its peer is a real ``slapd``, which needs a system package.
Nothing leaves the machine: every peer listens on 127.0.0.1. The instances are created
through the agent's own API, exactly as a user would.
"""

from server.demo.sandbox import Demo, start_demo

__all__ = ["Demo", "start_demo"]
