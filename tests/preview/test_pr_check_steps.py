"""pr-check's steps called through their entry points (webex_cloud.commands.pr_check.run_command) leave
what the step's own process left: its stdout and stderr in ``<step>.txt``, its status in ``<step>.rc``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from webex_cloud.commands.pr_check import run_command
from webex_cloud.exit_codes import ExitCode


def _noisy(argv: list[str]) -> int:
    print("to stdout")
    print("to stderr", file=sys.stderr)
    os.write(1, b"from a child's descriptor\n")  # what the policy pack's own process prints
    parser = argparse.ArgumentParser(prog="noisy")
    parser.add_argument("--count", type=int, required=True)
    return int(parser.parse_args(argv).count)


def test_a_steps_output_and_status_land_in_its_files(tmp_path: Path) -> None:
    step = run_command(_noisy, ["--count", "1"], tmp_path, "policy")
    assert step.code == ExitCode.BLOCKING
    text = (tmp_path / "policy.txt").read_text()
    assert {"to stdout", "to stderr", "from a child's descriptor"} <= set(text.splitlines())
    assert (tmp_path / "policy.rc").read_text() == "1\n"


def test_an_argument_error_is_exit_2_with_its_message(tmp_path: Path) -> None:
    step = run_command(_noisy, ["--count", "x"], tmp_path, "place")
    assert step.code == ExitCode.INPUT
    assert "argument --count: invalid int value: 'x'" in (tmp_path / "place.txt").read_text()


def test_a_status_outside_the_contract_is_no_verdict(tmp_path: Path) -> None:
    assert run_command(_noisy, ["--count", "7"], tmp_path, "plan").code == ExitCode.INTERNAL
    assert (tmp_path / "plan.rc").read_text() == "3\n"


def test_the_process_keeps_its_own_output_after_a_step(tmp_path: Path, capfd: object) -> None:
    run_command(_noisy, ["--count", "0"], tmp_path, "plan")
    print("after the step")
    assert "after the step" not in (tmp_path / "plan.txt").read_text()
