"""Run a simulator with uvicorn on 127.0.0.1 in a background thread (tests, the demo).

In code::

    from connectors.sandbox import GitHubSimulator
    from connectors.sandbox.server import serve

    with serve(GitHubSimulator()) as running:       # a free port on 127.0.0.1
        print(running.url)                          # http://127.0.0.1:54321

    running = start(GitHubSimulator(), port=8701)   # until running.stop()

From a shell (each on its port, with new activity every 30 s)::

    python -m connectors.sandbox.server github:8701 jira:8702 jira-server:8703 splunk:8704 \\
        snipeit:8705 --activity-every 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import uvicorn

from connectors.sandbox.common import Simulator

__all__ = ["RunningSimulator", "main", "serve", "start"]

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0


@dataclass
class RunningSimulator:
    """A simulator listening on ``url`` until :meth:`stop`."""

    simulator: Simulator
    url: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _ticker: threading.Thread | None = field(default=None, repr=False)
    _stop_ticks: threading.Event = field(default_factory=threading.Event, repr=False)

    def stop(self) -> None:
        self._stop_ticks.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(
    simulator: Simulator, *, port: int = 0, activity_every_s: float | None = None
) -> RunningSimulator:
    """Start ``simulator`` on 127.0.0.1:``port`` (0: a free port) and wait until it listens.

    ``activity_every_s`` makes the simulator produce new activity periodically (the demo's
    syncs then find new records), as ``POST /_sim/activity`` does on demand.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        simulator.app,
        host=HOST,
        port=bound,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sim-{simulator.name}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the {simulator.name} simulator did not start on port {bound}")
        time.sleep(0.01)
    running = RunningSimulator(simulator, f"http://{HOST}:{bound}", bound, server, thread)
    if activity_every_s:
        running._ticker = threading.Thread(
            target=_tick,
            args=(simulator, activity_every_s, running._stop_ticks),
            name=f"sim-{simulator.name}-activity",
            daemon=True,
        )
        running._ticker.start()
    return running


def _tick(simulator: Simulator, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        simulator.advance(1)


@contextlib.contextmanager
def serve(
    simulator: Simulator, *, port: int = 0, activity_every_s: float | None = None
) -> Iterator[RunningSimulator]:
    """Context manager around :func:`start` / :meth:`RunningSimulator.stop`."""
    running = start(simulator, port=port, activity_every_s=activity_every_s)
    try:
        yield running
    finally:
        running.stop()


def _factories() -> dict[str, Callable[[], Simulator]]:
    from connectors.sandbox.github import GitHubSimulator  # noqa: PLC0415 - keep imports lazy
    from connectors.sandbox.jira import JiraSimulator  # noqa: PLC0415
    from connectors.sandbox.snipeit import SnipeItSimulator  # noqa: PLC0415
    from connectors.sandbox.splunk import SplunkSimulator  # noqa: PLC0415

    return {
        "github": GitHubSimulator,
        "jira": lambda: JiraSimulator(deployment="cloud"),
        "jira-server": lambda: JiraSimulator(deployment="server"),
        "splunk": SplunkSimulator,
        "snipeit": SnipeItSimulator,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connectors.sandbox.server NAME:PORT ...``; Ctrl+C stops them."""
    factories = _factories()
    parser = argparse.ArgumentParser(description="Run SimpleTrust vendor simulators.")
    parser.add_argument("targets", nargs="+", help=f"NAME:PORT, NAME one of {sorted(factories)}")
    parser.add_argument("--activity-every", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    running: list[RunningSimulator] = []
    try:
        for target in args.targets:
            name, _, port = target.partition(":")
            if name not in factories or not port.isdigit():
                parser.error(f"{target!r}: expected NAME:PORT with NAME in {sorted(factories)}")
            sim = start(factories[name](), port=int(port), activity_every_s=args.activity_every)
            running.append(sim)
            print(f"{name} simulator on {sim.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_forever())
    finally:
        for sim in running:
            sim.stop()
    return 0


async def _forever() -> None:
    await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
