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


def run_suite(folder: str, pattern: str, *extra: str, timeout: int = 600, file_at_once: bool = False) -> int:
    """Run ``HERE/folder``'s ``pattern`` files, assert they all passed, return how many did.

    ``file_at_once`` runs each file in its own child process, all at once: a functional suite's tests
    each start their own services and are CPU-bound, and the machine's other cores are idle while this
    test waits."""
    base = [
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
    ]
    files = sorted(str(path) for path in (HERE / folder).glob(pattern))
    assert files, f"{folder}: no file matches {pattern}"
    groups = [[name] for name in files] if file_at_once else [[str(HERE / folder)]]
    children = [
        subprocess.Popen([*base, *group, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for group in groups
    ]
    total = 0
    try:
        for child in children:
            stdout, stderr = child.communicate(timeout=timeout)
            report = stdout[-20000:] + stderr[-5000:]
            assert child.returncode == 0, f"{folder} failed:\n{report}"
            passed = re.search(r"(\d+) passed", stdout)
            assert passed, f"{folder} ran no test:\n{report}"
            total += int(passed.group(1))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    return total
