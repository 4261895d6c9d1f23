"""`place --project DIR` uses that project everywhere: its stacks, its build/plan, its staleness check."""

from __future__ import annotations

import pytest

from benchmarks.generated_project import datacenter_stack
from tests.conftest import ProjectCopy
from webex_cloud import atomic
from webex_cloud.commands.place import main
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_path
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps


def test_place_finds_a_stack_and_its_plan_in_the_given_project(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    # dc3 exists only in the given project, not in the checkout: `place` used to answer "unknown stack".
    project.write("stacks/Pulumi.dc3.yaml", datacenter_stack(3))
    plan = render_plan("dc3", project_dir=project.root)
    atomic.write_text(plan_path("dc3", project.root / "build" / "plan"), dumps(plan))

    code = main(["--project", str(project.root), "--stack", "dc3", "--engine", "rules"])

    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    assert f"placement of stack dc3 ({project.root / 'build' / 'plan' / 'dc3.json'})" in out.out


def test_place_refuses_a_plan_older_than_the_given_projects_stack_file(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    target = plan_path("dc1", project.root / "build" / "plan")
    atomic.write_text(target, dumps(render_plan("dc1", project_dir=project.root)))
    project.edit_datacenter("dc1", lambda dc: dc.update(region="RegionTwo"))

    code = main(["--project", str(project.root), "--stack", "dc1", "--engine", "rules"])

    assert code == ExitCode.INPUT
    assert "stacks/Pulumi.dc1.yaml" in capsys.readouterr().err
