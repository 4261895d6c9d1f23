"""The test tiers as a developer runs them: the integration tier refuses pytest-xdist workers."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def full_tier_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    # Not the fast tier, and not inside this run's own worker.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "WEBEX_FAST"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_integration_tests_on_workers_fail_with_the_reason_instead_of_hanging() -> None:
    # Before: each worker rolled our filters out under the environment's lock for its whole session,
    # and a deployment on another worker waited for that lock forever.
    done = full_tier_pytest("-n", "1", "tests/integration/test_loopback_env.py")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "6 errors" in done.stdout, done.stdout[-3000:]
    assert "run them in one process, without -n/--numprocesses" in done.stdout
    assert "Connection refused" not in done.stdout  # refused before any test talked to a cloud
