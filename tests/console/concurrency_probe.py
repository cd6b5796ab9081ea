"""Run by test_regression_concurrency.py in a child process: many concurrent requests through
the qasync loop. PySide6 6.12.0 aborts Python 3.11 here (``Fatal Python error: bool_dealloc``,
one reference to True lost per Signal.disconnect; qasync disconnects a socket notifier per
finished request). Prints ``OK <n>`` and exits 0 when the process survives.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402
from stub_agent import StubAgent  # type: ignore[import-not-found]  # noqa: E402

from app.core.api import ApiClient  # noqa: E402
from app.qt.aio import BackgroundOp  # noqa: E402

CONCURRENT = int(os.environ.get("PROBE_CONCURRENT", "200"))
ROUNDS = int(os.environ.get("PROBE_ROUNDS", "3"))


async def main(stub: StubAgent) -> int:
    client = ApiClient(stub.url, stub.token, timeout=60)
    done = 0
    try:
        for _ in range(ROUNDS):
            pages = await asyncio.gather(
                *(client.page("/instances", limit=2) for _ in range(CONCURRENT))
            )
            done += sum(1 for p in pages if len(p.items) == 2)
        # The console's own path: BackgroundOps with a parent widget (each one connects and
        # later disconnects the widget's `destroyed` signal).
        owner = QWidget()
        results: list[object] = []
        tasks = [BackgroundOp(owner, client.me, results.append).run() for _ in range(CONCURRENT)]
        await asyncio.gather(*tasks)
        done += len(results)
        owner.deleteLater()
    finally:
        await client.aclose()
    return done


if __name__ == "__main__":
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    stub = StubAgent().start()
    try:
        with loop:
            count = loop.run_until_complete(main(stub))
    finally:
        stub.stop()
    print(f"OK {count}", flush=True)
