"""The freeze switch (deployments/freeze.yaml): while it is on, the deploy's list job refuses, so no
wave's job starts; the file is checked like any input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ProjectCopy
from tests.stacks.test_deploy_workflow import DEPLOY, RUN, checkout, run_list_job
from tests.workflow_replay import run_step
from webex_cloud.commands.stacks import main
from webex_cloud.config.freeze import FREEZE_FILE
from webex_cloud.exit_codes import ExitCode


def _freeze(project: ProjectCopy, text: str) -> None:
    (project.root / FREEZE_FILE).parent.mkdir(exist_ok=True)
    project.write(FREEZE_FILE, text)


def test_a_frozen_fleet_lists_no_stack_for_a_deploy(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    _freeze(project, "frozen: true\nreason: incident 4711\nby: media-oncall\n")
    assert main(["--deploy", "--github-output", "--project", str(project.root)]) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert out.startswith("::error title=deploy frozen::the fleet is frozen by media-oncall")
    assert f"({FREEZE_FILE}: incident 4711)" in out and "wave_1=" not in out
    # Listing for anything but a deploy still works: the pull-request check reads the same stacks.
    assert main(["--json", "--project", str(project.root)]) == ExitCode.OK


def test_an_unfrozen_switch_deploys(project: ProjectCopy, capsys: pytest.CaptureFixture[str]) -> None:
    _freeze(project, "frozen: false\nreason: incident 4711 closed\n")
    assert main(["--deploy", "--github-output", "--project", str(project.root)]) == ExitCode.OK
    assert "wave_1=" in capsys.readouterr().out


def test_a_mistyped_switch_is_refused_naming_the_field(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    _freeze(project, "frozen: yes please\n")
    assert main(["--deploy", "--project", str(project.root)]) == ExitCode.INPUT
    assert f"{FREEZE_FILE}: frozen" in capsys.readouterr().err


def test_the_deploy_workflow_stops_in_its_list_job_when_frozen(project: ProjectCopy, tmp_path: Path) -> None:
    root = checkout(project.root, tmp_path)
    assert run_list_job(root, tmp_path)["wave_1"] != "[]"  # unfrozen, the same checkout deploys
    (root / FREEZE_FILE).parent.mkdir(exist_ok=True)
    (root / FREEZE_FILE).write_text("frozen: true\nreason: change freeze\nby: sre\n")
    step = next(s for s in DEPLOY["jobs"]["stacks"]["steps"] if s.get("id") == "list")
    done = run_step(DEPLOY, "stacks", step, cwd=root, env=os.environ, values=RUN, timeout=120)
    assert done.returncode == ExitCode.BLOCKING, done.stderr
    assert (
        "::error title=deploy frozen::the fleet is frozen by sre (deployments/freeze.yaml: change freeze)"
        in done.stdout
    )
    assert "wave_1" not in done.outputs  # no wave's matrix: no wave job runs
