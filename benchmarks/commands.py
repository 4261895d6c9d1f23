"""The benchmarks' one way to time a whole `python -m webex_cloud` command, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from webex_cloud.paths import PROJECT_DIR


def timed_command(*args: str) -> float:
    """Wall time of one `python -m webex_cloud` command run from the checkout; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def load_average() -> str:
    """The machine's load (1, 5 and 15 minutes), printed with every figure: on a shared machine an
    absolute time means little without it (the ratios against a baseline of the same run less so)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"
