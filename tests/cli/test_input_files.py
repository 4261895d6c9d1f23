"""A file the user names is a regular file of bounded size, or the command stops at once with exit 2.

``--plan /dev/zero`` once read forever (and then failed as an internal error); a FIFO blocked the
command until a writer came. Every command that reads a plan, a preview or a policy config is tried
with the same hostile paths, each in a child process bounded by a timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from webex_cloud import input_files
from webex_cloud.exit_codes import ExitCode


def hostile(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    return {"device": "/dev/zero", "fifo": str(fifo), "folder": str(tmp_path)}


COMMANDS = [
    ["policy", "--stack", "dc1", "--plan", "{path}"],
    ["place", "--stack", "dc1", "--plan", "{path}"],
    ["audit", "--stack", "dc1", "--plan", "{path}"],
    ["preview", "--stack", "dc1", "--base", "{path}", "--plan", "{path}"],
    ["preview", "--stack", "dc1", "--preview", "{path}"],
    ["policy", "--stack", "dc1", "--config", "{path}"],
]


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(w for w in c if w.startswith("--"))[:40])
def test_hostile_input_paths_exit_2_at_once(tmp_path: Path, command: list[str], kind: str) -> None:
    path = hostile(tmp_path)[kind]
    argv = [w.replace("{path}", path) for w in command]
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert "Traceback" not in done.stderr and path in done.stderr, done.stderr
    assert "regular file" in done.stderr or "folder" in done.stderr, done.stderr


def test_an_oversized_document_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as stream:
        stream.truncate(2048)  # sparse: its size is known without reading it
    with pytest.raises(input_files.InputFileError, match="is 2048 bytes; files larger than 1024"):
        input_files.read_bounded(big, 1024)
