"""`python -m webex_cloud ... | head -1`: a reader that stops early ends the command quietly.

Each command is run for real with its stdout a pipe whose reader is already gone (what `head` leaves
once it has its line), so every write fails with EPIPE: no traceback and no "Exception ignored" from
the interpreter's last flush may reach stderr, and the exit status is the contract's "output could not
be written" (webex_cloud/exit_codes.py), never a verdict nor a crash's 120. The same for argparse's help
and usage errors, and for stderr when a message is written to it (``2>&1 | head -1``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from webex_cloud import cli
from webex_cloud.exit_codes import ExitCode


def _into_closed_pipe(
    *args: str, closed: tuple[str, ...] = ("stdout",), unbuffered: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """``args`` run with the ``closed`` streams a pipe nobody reads; the other one is captured.
    ``unbuffered`` as PYTHONUNBUFFERED=1 (CI runners, ``python -u``): every write reaches the pipe at once,
    instead of at the last flush."""
    reader, writer = os.pipe()
    os.close(reader)
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        return subprocess.run(
            [sys.executable, *args],
            cwd=REPO,
            env=env,
            stdout=writer if "stdout" in closed else subprocess.PIPE,
            stderr=writer if "stderr" in closed else subprocess.PIPE,
            check=False,
            timeout=120,
        )
    finally:
        os.close(writer)


BUFFERING = pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])


@BUFFERING
def test_the_usage_into_a_closed_pipe_ends_without_a_traceback(unbuffered: bool) -> None:
    done = _into_closed_pipe("-m", "webex_cloud", "--help", unbuffered=unbuffered)
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_commands_help_into_a_closed_pipe_exits_2_without_a_traceback(command: str) -> None:
    # Unbuffered, argparse's own write of the help is what fails (argparse would drop the error and exit
    # 0); buffered, the entry point's flush (the dispatcher's usage above).
    done = _into_closed_pipe("-m", "webex_cloud", command, "--help", unbuffered=True)
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT


@BUFFERING
def test_a_usage_error_into_a_closed_pipe_exits_2_and_its_message_reaches_an_open_stderr(
    unbuffered: bool,
) -> None:
    for closed in [("stderr",), ("stdout", "stderr")]:
        done = _into_closed_pipe(
            "-m", "webex_cloud", "audit", "--bogus", closed=closed, unbuffered=unbuffered
        )
        assert done.returncode == ExitCode.INPUT, closed  # not the interpreter's 120 of a failed last flush
        assert (done.stdout or b"") == b""
    done = _into_closed_pipe("-m", "webex_cloud", "audit", "--bogus", unbuffered=unbuffered)
    assert done.returncode == ExitCode.INPUT
    assert done.stderr.decode().endswith("error: unrecognized arguments: --bogus\n")
    assert "Traceback" not in done.stderr.decode()


@BUFFERING
def test_a_commands_error_message_into_a_closed_pipe_exits_2(unbuffered: bool) -> None:
    done = _into_closed_pipe(
        "-m", "webex_cloud", "audit", "--stack", "nowhere", closed=("stderr",), unbuffered=unbuffered
    )
    assert done.returncode == ExitCode.INPUT
    assert done.stdout == b""


def test_a_commands_output_into_a_closed_pipe_exits_2_without_a_traceback() -> None:
    done = _into_closed_pipe("-m", "webex_cloud", "stacks")
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT


def test_a_command_module_run_alone_into_a_closed_pipe_ends_without_a_traceback() -> None:
    done = _into_closed_pipe("-m", "webex_cloud.commands.filter_release")
    assert done.stderr.decode() == ""
    assert done.returncode == ExitCode.INPUT
