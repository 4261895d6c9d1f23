"""Run a test suite in its own Python process and fail with its report if it fails.

Nova and Cinder cannot share one interpreter (they register clashing oslo.config options),
and Nova's functional fixtures monkey-patch the process with eventlet; each such suite
runs in a child pytest so the rest of the repository's tests stay unaffected.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_suite(folder: str, pattern: str, *extra: str, timeout: int = 600) -> int:
    """Run ``HERE/folder``'s ``pattern`` files, assert they all passed, return how many did."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,
        "--rootdir",
        str(HERE / folder),
        "-o",
        f"python_files={pattern}",
        str(HERE / folder),
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, f"{folder} failed:\n{report}"
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed, f"{folder} ran no test:\n{report}"
    return int(passed.group(1))
