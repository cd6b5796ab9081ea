"""``simpletrust agent`` processes forked from a server that has imported the agent's code.

A test that restarts its agent many times (the crash test: 21 starts) pays, at each start,
about 1.7 s of CPU for imports alone: most of a start. A forkserver that imported
``server.cli.main`` once forks each agent with those imports done; the agent then runs
exactly as ``python -m server.cli.main agent`` does, from ``main()``, in a process of its own
(SIGKILL kills it and only it), with the environment the test gives it. Nothing is shared
between two agents but modules as they are right after import: the agent's code keeps no
state from import time (its settings are read at start, and cleared here to be sure).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.process import BaseProcess

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["server.cli.main"])


def _agent_main(env: dict[str, str], argv: list[str]) -> None:
    """The child: the agent's command line, its output discarded."""
    os.environ.clear()
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    from server.cli.main import main  # noqa: PLC0415 - preloaded by the forkserver
    from server.config import get_settings  # noqa: PLC0415

    get_settings.cache_clear()
    sys.argv = ["simpletrust", *argv]
    main()


def start_agent(env: dict[str, str], *argv: str) -> BaseProcess:
    """Start ``simpletrust *argv`` (say ``agent --port N``) with exactly ``env``."""
    process = _CONTEXT.Process(target=_agent_main, args=(env, list(argv)), daemon=False)
    process.start()
    return process
