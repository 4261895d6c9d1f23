"""`--project DIR`: one option (webex_cloud/cli_common.py), the same for every command that reads a
project, and the given project used everywhere (its stacks, its build/plan, its staleness check).

dc7 exists only in the given project, never in the checkout: a command that looked in the checkout
answered "unknown stack" or read the checkout's build/plan (the benchmarks run commands this way).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.generated_project import datacenter_stack
from tests.conftest import REPO, ProjectCopy
from webex_cloud import atomic
from webex_cloud.commands import audit as audit_cli
from webex_cloud.commands import preview as preview_cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_path
from webex_cloud.plan.format import dumps, empty_plan

STACK = "dc7"


@pytest.fixture
def seventh(project: ProjectCopy) -> ProjectCopy:
    """The example project with dc7, and dc7's (empty) plan where `plan --project` writes it."""
    project.write(f"stacks/Pulumi.{STACK}.yaml", datacenter_stack(7))
    atomic.write_text(plan_path(STACK, project.root / "build" / "plan"), dumps(empty_plan(STACK)))
    return project


@pytest.mark.parametrize("command", ["plan", "place", "policy", "preview", "audit", "pr-check", "stacks"])
def test_every_command_takes_the_same_project_option(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-project"
    extra = ["--base-dir", str(tmp_path), "--out", str(tmp_path / "out")] if command == "pr-check" else []
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", command, "--project", str(missing), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert f"{missing}: no such folder" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_preview_reads_the_plan_and_stack_of_the_given_project(
    seventh: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    base = seventh.root / "base.json"
    base.write_text(dumps(empty_plan(STACK)))

    code = preview_cli.main(["--project", str(seventh.root), "--stack", STACK, "--base", str(base)])

    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    assert STACK in out.out


def test_preview_judges_staleness_by_the_given_projects_files(
    seventh: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = seventh.root / "stacks" / f"Pulumi.{STACK}.yaml"
    later = time.time() + 60
    os.utime(stack_file, (later, later))

    code = preview_cli.main(["--project", str(seventh.root), "--stack", STACK, "--base", str(stack_file)])

    err = capsys.readouterr().err
    assert code == ExitCode.INPUT
    assert f"is older than stacks/Pulumi.{STACK}.yaml" in err


def test_audit_reads_the_plan_and_stack_file_of_the_given_project(
    seventh: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without a reader identity in the project's stack file the audit stops before any connection,
    # naming that file's field.
    seventh.edit(
        f"stacks/Pulumi.{STACK}.yaml",
        lambda doc: doc["config"]["webex-cloud:datacenter"].pop("identities", None),
    )

    code = audit_cli.main(["--project", str(seventh.root), "--stack", STACK])

    err = capsys.readouterr().err
    assert code == ExitCode.INPUT
    assert f"stacks/Pulumi.{STACK}.yaml: config.webex-cloud:datacenter.identities.reader is not set" in err


def test_pr_check_takes_its_stacks_from_the_given_project(seventh: ProjectCopy, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "webex_cloud",
            "pr-check",
            "--project",
            str(seventh.root),
            "--base-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--stack",
            "dc9",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert f"unknown stack 'dc9'; stacks under {seventh.root / 'stacks'}: dc1, dc2, {STACK}" in done.stderr
