"""Entry point of the desktop console (``simpletrust console``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True  # the user chose a platform plugin (offscreen, vnc, wayland …)
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="simpletrust console", add_help=True)
    parser.add_argument("--agent-url", help="agent to connect to, e.g. http://127.0.0.1:8765")
    parser.add_argument("--theme", choices=["light", "dark"], help="colour theme")
    return parser.parse_known_args(argv[1:])


def run_console(argv: list[str] | None = None, *, agent_url: str | None = None) -> int:
    """Open the console window and run until it is closed; returns the exit status.

    ``agent_url`` (or ``--agent-url``) connects at once with the token from the keyring (the
    agent stores its admin token there on first start); otherwise the last used profile is
    reopened, or the connect dialog is shown. On a machine without a display it explains
    how to connect from elsewhere and returns 2 instead of letting Qt abort.
    """
    argv = list(sys.argv if argv is None else argv) or ["simpletrust-console"]
    options, qt_args = _parse(argv)
    agent_url = agent_url or options.agent_url
    if not _has_display():
        print(
            "simpletrust console: no display here (DISPLAY/WAYLAND_DISPLAY unset).\n"
            "Run the console on a workstation and connect to this agent, e.g.\n"
            "  simpletrust console --agent-url http://<this-host>:8765\n"
            "(or set QT_QPA_PLATFORM=offscreen to run it without a screen).",
            file=sys.stderr,
        )
        return 2

    import qasync  # noqa: PLC0415 - Qt loads only when the console really starts
    from PySide6.QtCore import QTimer  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.qt import layout  # noqa: PLC0415
    from app.qt.theme import apply_theme  # noqa: PLC0415
    from app.shell.main_window import MainWindow  # noqa: PLC0415

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([argv[0], *qt_args])
    app.setOrganizationName(layout.ORGANIZATION)
    app.setApplicationName(layout.APPLICATION)
    app.setQuitOnLastWindowClosed(False)  # we stop the loop ourselves after cleaning up
    theme = options.theme or layout.preference("theme", "light")
    apply_theme(app, theme if theme in ("light", "dark") else "light")

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    closed = asyncio.Event()
    window.sig_closed.connect(closed.set)

    # Ctrl+C in the terminal: Python handlers only run when Python code runs, so a timer
    # gives the interpreter a slice twice a second.
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.start(500)
    heartbeat.timeout.connect(lambda: None)

    async def main() -> int:
        window.show()
        window.start(agent_url)
        await closed.wait()
        await window.shutdown()
        # Finish what is still running (a late refresh, a live-tail poll) while the loop runs.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        return 0

    try:
        with loop:
            return int(loop.run_until_complete(main()))
    finally:
        heartbeat.stop()
        signal.signal(signal.SIGINT, previous)
        asyncio.set_event_loop(None)


if __name__ == "__main__":
    sys.exit(run_console())
