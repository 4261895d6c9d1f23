"""The loopback's service start (tools/openstack-loopback/lib.sh), run as the scripts run it.

A restart on a loaded CI machine once reported a healthy scheduler "not running": the service's
process group was looked up before the child had called setsid(). A slow ``setsid`` on PATH stands
in for that load, so the window is wide enough to hit every time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

LIB = REPO / "tools" / "openstack-loopback" / "lib.sh"


def run_lib(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Source lib.sh with its state under tmp_path and a demo service, then run ``script``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    slow_setsid = bin_dir / "setsid"
    real = shutil.which("setsid")
    assert real, "util-linux setsid is needed by the loopback"
    slow_setsid.write_text(f'#!/bin/sh\nsleep 0.5\nexec {real} "$@"\n')
    slow_setsid.chmod(0o755)
    prelude = f"""
set -euo pipefail
source {LIB}
svc_spec() {{ SVC_CMD=(sleep 60); SVC_ENV=(); SVC_CONF=(); }}
"""
    env = {
        **os.environ,
        "WEBEX_LOOPBACK_ROOT": str(tmp_path / "state"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-c", prelude + script], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_a_service_counts_as_running_as_soon_as_its_start_returns(tmp_path: Path) -> None:
    result = run_lib(
        tmp_path,
        """
svc_start demo
if svc_running demo; then echo RUNNING; else echo NOT-RUNNING; fi
svc_stop demo
if svc_running demo; then echo STILL-RUNNING; else echo STOPPED; fi
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RUNNING", "STOPPED"]


def test_a_service_that_dies_at_once_is_not_running(tmp_path: Path) -> None:
    result = run_lib(
        tmp_path,
        """
svc_spec() { SVC_CMD=(false); SVC_ENV=(); SVC_CONF=(); }
svc_start demo
sleep 0.5
if svc_running demo; then echo RUNNING; else echo NOT-RUNNING; fi
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["NOT-RUNNING"]


def test_a_pid_file_from_before_a_restart_of_the_machine_is_not_taken_for_the_service(tmp_path: Path) -> None:
    """The machine stopped with the service running and came back (or its disk was copied to a CI
    machine): the pid in the file now names another process group. The service is not running, so a start
    starts it and a stop leaves that other group alone."""
    result = run_lib(
        tmp_path,
        """
svc_start demo
demo=$(cat "$RUN/demo.pid")
kill -- "-$demo"
stranger=$(setsid sleep 60 >/dev/null 2>&1 </dev/null & echo $!)
sleep 1
echo "$stranger" >"$RUN/demo.pid"
if svc_running demo; then echo RUNNING; else echo NOT-RUNNING; fi
svc_stop demo
if kill -0 -- "-$stranger" 2>/dev/null; then echo STRANGER-ALIVE; else echo STRANGER-KILLED; fi
kill -- "-$stranger"
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["NOT-RUNNING", "STRANGER-ALIVE"]


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> object:
    yield None
    # Whatever a failed assertion left running is ended with its group.
    for pid_file in (tmp_path / "state" / "run").glob("*.pid"):
        pid = pid_file.read_text().strip()
        if pid:
            subprocess.run(["kill", "-KILL", "--", f"-{pid}"], capture_output=True, check=False)


def test_a_service_does_not_inherit_a_lock_its_caller_holds(tmp_path: Path) -> None:
    """`flock FILE up.sh`: the services up.sh starts must not hold FILE's lock as long as they run (they
    did, with only fd 9 closed: the loopback's test lock stayed taken until the next down.sh)."""
    lock = tmp_path / "caller.lock"
    result = run_lib(
        tmp_path,
        f"""
exec 7>{lock}
flock 7
svc_start demo
exec 7>&-
if flock -n {lock} true; then echo FREE; else echo HELD; fi
svc_stop demo
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["FREE"]
