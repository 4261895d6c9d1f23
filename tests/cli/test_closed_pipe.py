"""`python -m webex_cloud ... | head -1`: a reader that stops early ends the command quietly.

Each command is run for real with its stdout a pipe whose reader is already gone (what `head` leaves
once it has its line), so every write fails with EPIPE: no traceback and no "Exception ignored" from
the interpreter's last flush may reach stderr, and the exit status is the contract's "output could not
be written" (webex_cloud/exit_codes.py), never a verdict nor a crash's 120.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from webex_cloud import cli
from webex_cloud.exit_codes import ExitCode


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, *args],
            cwd=REPO,
            stdout=writer,
            stderr=subprocess.PIPE,
            check=False,
            timeout=120,
        )
    finally:
        os.close(writer)


def test_the_usage_into_a_closed_pipe_ends_without_a_traceback() -> None:
    done = _into_closed_pipe("-m", "webex_cloud", "--help")
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_commands_help_into_a_closed_pipe_ends_without_a_traceback(command: str) -> None:
    done = _into_closed_pipe("-m", "webex_cloud", command, "--help")
    assert done.stderr.decode() == ""
    # argparse drops a failed write of its help itself and exits 0: no verdict is claimed by --help.
    assert done.returncode in (ExitCode.OK, ExitCode.INPUT)


def test_a_commands_output_into_a_closed_pipe_exits_2_without_a_traceback() -> None:
    done = _into_closed_pipe("-m", "webex_cloud", "stacks")
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT


def test_a_command_module_run_alone_into_a_closed_pipe_ends_without_a_traceback() -> None:
    done = _into_closed_pipe("-m", "webex_cloud.commands.filter_release")
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT
