"""REGRESSION: 200 concurrent API requests through the qasync loop; the process survives.

PySide6 6.12.0 on Python 3.11 aborts this (bool_dealloc; PLATFORM-NOTES.md). The probe runs
in a child process so an abort is a failed test with its stderr, not a crashed pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("concurrency_probe.py")


def test_200_concurrent_requests_through_qasync_do_not_crash_the_process(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PROBE_CONCURRENT": "200"}
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, (
        f"the console process died (status {done.returncode}):\n{done.stderr[-3000:]}"
    )
    assert done.stdout.strip().splitlines()[-1] == "OK 800"  # 3 x 200 pages + 200 BackgroundOps
