"""The deploy workflow, replayed: its list job's command run as the workflow runs it, then GitHub's
job graph (`needs:`, `if:`, the matrices) walked to see who deploys after whom, and what a failure
stops. Twenty datacenters, and the example two."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.generated_project import datacenter_stack
from tests.conftest import REPO
from tests.workflow_replay import run_step
from webex_cloud.config import image_ids
from webex_cloud.config.models import MAX_WAVES
from webex_cloud.stacks.waves import runner_label

WORKFLOWS = REPO / ".github" / "workflows"
DEPLOY: dict[Any, Any] = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
DEPLOY_STACK: dict[Any, Any] = yaml.safe_load((WORKFLOWS / "deploy-stack.yml").read_text())
OUTPUT_REF = re.compile(r"^\$\{\{ steps\.(?P<step>[\w-]+)\.outputs\.(?P<name>\w+) \}\}$")
WAVE_IF = re.compile(r"^success\(\) && needs\.(?P<job>[\w-]+)\.outputs\.(?P<name>\w+) != '\[\]'$")
HOLD_IF = "always() && contains(needs.*.result, 'failure')"
MATRIX_FROM = re.compile(r"^\$\{\{ fromJSON\(needs\.(?P<job>[\w-]+)\.outputs\.(?P<name>\w+)\) \}\}$")
RUN = {
    "github.ref": "refs/heads/main",
    "github.sha": "a" * 40,
    "github.repository": "webex/webex-cloud",
    "github.server_url": "https://github.example",
    "github.run_id": "4242",
    "inputs.stack": "dc1",
    "inputs.wave": "1",
    "inputs.bake_s": "0",
    "inputs.parallel": "15",
}
"""The run the deploy's replays stand in for: a push to main, its canary's job (secrets: each test's)."""
IMAGES_STEP = {image_ids.ENVIRONMENT: image_ids.STAND_IN}
"""What a replay that leaves out the job's images steps (they read Glance) has them leave in
$GITHUB_ENV: the plan's stand-in image ids instead of the verified record the job's env names."""


def checkout(project: Path, tmp_path: Path) -> Path:
    """The list job's layout: a checkout (program, catalog, stacks) with `.venv` from bootstrap.sh."""
    root = tmp_path / "checkout"
    shutil.copytree(project, root, ignore=shutil.ignore_patterns("build"))
    shutil.copytree(REPO / "webex_cloud", root / "webex_cloud", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def run_list_job(root: Path, tmp_path: Path) -> dict[str, str]:
    """Run the list job's steps that run project code, as the runner does (tests/workflow_replay.py),
    a push to main, and resolve the job's `outputs:` from what the steps wrote."""
    job = DEPLOY["jobs"]["stacks"]
    step_outputs: dict[str, dict[str, str]] = {}
    for step in job["steps"]:
        if "run" not in step or "bootstrap.sh" in step["run"]:
            continue  # the checkout and the install are the layout `checkout` built
        done = run_step(DEPLOY, "stacks", step, cwd=root, env=os.environ, values=RUN, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        if "id" not in step:
            continue  # the ref guard: it writes no output
        step_outputs[step["id"]] = done.outputs
    resolved = {}
    for name, expression in job["outputs"].items():
        match = OUTPUT_REF.match(expression)
        assert match, expression
        resolved[name] = step_outputs[match["step"]][match["name"]]
    return resolved


@dataclass
class Replay:
    order: list[list[str]]
    """Stacks started together, in the order GitHub starts them (one entry per job that runs)."""
    job_of: dict[str, str]
    """Stack -> the job deploying it."""
    results: dict[str, str]


def ancestors(job: str) -> set[str]:
    needs = DEPLOY["jobs"][job].get("needs", [])
    direct = [needs] if isinstance(needs, str) else list(needs)
    return set(direct).union(*(ancestors(parent) for parent in direct)) if direct else set()


def replay(outputs: dict[str, str], failing: frozenset[str] = frozenset()) -> Replay:
    """GitHub's scheduling of deploy.yml: a job runs once every job it needs has finished, if its
    `if:` holds; `success()` is false once a needed job failed or was skipped. A matrix job fails
    when one of its stacks fails (fail-fast off: the others of the wave still run)."""
    jobs: dict[str, Any] = DEPLOY["jobs"]
    results = {"stacks": "success"}
    order: list[list[str]] = []
    job_of: dict[str, str] = {}
    pending = [name for name in jobs if name != "stacks"]
    while pending:
        ready = [name for name in pending if ancestors(name) <= set(results)]
        assert ready, f"a cycle in needs: {pending}"
        for name in sorted(ready, key=lambda n: len(ancestors(n))):
            job = jobs[name]
            pending.remove(name)
            if name == "hold":  # after every wave, whatever happened: runs when one of them failed
                assert job["if"] == HOLD_IF and set(job["needs"]) == {
                    n for n in jobs if n.startswith("wave-")
                }
                failed = any(results[parent] == "failure" for parent in job["needs"])
                results[name] = "success" if failed else "skipped"
                continue
            condition = WAVE_IF.match(job["if"])
            assert condition, f"{name}: if: {job['if']!r} is not the form this replay understands"
            needed_ok = all(results[parent] == "success" for parent in ancestors(name))
            if not (needed_ok and outputs[condition["name"]] != "[]"):
                results[name] = "skipped"
                continue
            matrix = MATRIX_FROM.match(job["strategy"]["matrix"]["include"])
            assert matrix and matrix["name"] == condition["name"]
            assert job["strategy"]["fail-fast"] is False
            legs = json.loads(outputs[matrix["name"]])
            order.append([leg["stack"] for leg in legs])
            job_of.update({leg["stack"]: name for leg in legs})
            results[name] = "failure" if any(leg["stack"] in failing for leg in legs) else "success"
    return Replay(order, job_of, results)


def command_waves(root: Path) -> list[list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", "stacks", "--waves", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [[s["stack"] for s in wave["stacks"]] for wave in json.loads(done.stdout)]


@pytest.fixture(scope="module")
def twenty_outputs(twenty: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("deploy-twenty")
    root = checkout(twenty, tmp)
    return root, run_list_job(root, tmp)


def test_twenty_stacks_deploy_wave_by_wave_in_the_command_order(
    twenty_outputs: tuple[Path, dict[str, str]],
) -> None:
    root, outputs = twenty_outputs
    run = replay(outputs)
    assert run.order == command_waves(root)
    assert len(run.order) == 4 and sum(len(wave) for wave in run.order) == 20
    wave_of = {stack: index for index, wave in enumerate(run.order) for stack in wave}
    for stack, wave in wave_of.items():
        for other, other_wave in wave_of.items():
            if wave < other_wave:  # every stack of an earlier wave is in a job the later one needs
                assert run.job_of[stack] in ancestors(run.job_of[other]), (stack, other)
            elif wave == other_wave:  # one matrix: in parallel
                assert run.job_of[stack] == run.job_of[other]
    assert [run.results[f"wave-{k}"] for k in range(1, MAX_WAVES + 1)] == ["success"] * 4 + ["skipped"] * 4


def test_a_failing_stack_finishes_its_wave_and_stops_every_later_one(
    twenty_outputs: tuple[Path, dict[str, str]],
) -> None:
    _, outputs = twenty_outputs
    run = replay(outputs, failing=frozenset({"dc11"}))
    assert run.order == replay(outputs).order[:3]  # wave 3 ran whole; wave 4 never started
    assert run.results["wave-3"] == "failure" and run.results["wave-4"] == "skipped"
    # The release's one hold pull request is asked for once, after the waves (not by each stack).
    assert run.results["hold"] == "success" and replay(outputs).results["hold"] == "skipped"
    # The failed job says which stack it was: deploy-stack.yml's last step, on failure only.
    job = DEPLOY_STACK["jobs"]["up"]
    last = job["steps"][-1]
    assert last["if"] == "failure()" and "$STACK failed" in last["run"] and "$WAVE" in last["run"]
    assert job["env"]["STACK"] == "${{ inputs.stack }}" and job["env"]["WAVE"] == "${{ inputs.wave }}"
    assert "${{ inputs.stack }}" in job["name"]


def test_a_failing_canary_stops_everything_after_it(twenty_outputs: tuple[Path, dict[str, str]]) -> None:
    run = replay(twenty_outputs[1], failing=frozenset({"dc1"}))
    assert run.order == [["dc1"]]


def test_the_example_stacks_deploy_dc1_then_dc2(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("catalog", "stacks"):
        shutil.copytree(REPO / name, project / name)
    root = checkout(project, tmp_path)
    assert replay(run_list_job(root, tmp_path)).order == [["dc1"], ["dc2"]]


def test_a_new_stack_file_joins_its_wave_with_no_workflow_edit(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("catalog", "stacks"):
        shutil.copytree(REPO / name, project / name)
    (project / "stacks" / "Pulumi.dc3.yaml").write_text(datacenter_stack(3))
    root = checkout(project, tmp_path)
    assert replay(run_list_job(root, tmp_path)).order == [["dc1"], ["dc2", "dc3"]]


def test_one_wave_job_per_possible_wave_each_handing_its_stack_down() -> None:
    jobs = DEPLOY["jobs"]
    assert sorted(jobs) == sorted(["stacks", "hold", *(f"wave-{k}" for k in range(1, MAX_WAVES + 1))])
    assert set(jobs["stacks"]["outputs"]) >= {f"wave_{k}" for k in range(1, MAX_WAVES + 1)}
    assert jobs["stacks"]["runs-on"] == "ubuntu-latest"  # reads the stack files only: no secret, no cloud
    for k in range(1, MAX_WAVES + 1):
        job = jobs[f"wave-{k}"]
        assert job["needs"] == ("stacks" if k == 1 else ["stacks", f"wave-{k - 1}"])
        # No secret is handed down by name: the stack's job reads them from its protected environment,
        # which GitHub resolves in a called workflow only when the caller inherits (actions/runner#1490,
        # #4453): without `inherit` every secret of production-<stack> reads empty on a real run.
        assert job["uses"] == "./.github/workflows/deploy-stack.yml" and job["secrets"] == "inherit"
        assert job["with"]["stack"] == "${{ matrix.stack }}"
        assert "runner" not in job["with"]  # the label is derived from the stack, never passed
        assert job["with"]["wave"] == "${{ matrix.wave }}"
        # The stack's computed budget (`stacks --github-output`) reaches its job, never a fixed number.
        assert job["with"]["timeout_minutes"] == "${{ matrix.timeout_minutes }}"
        assert job["with"]["parallel"] == "${{ matrix.parallel }}"
    up = DEPLOY_STACK["jobs"]["up"]
    assert up["timeout-minutes"] == "${{ inputs.timeout_minutes }}"
    up_step = next(step for step in up["steps"] if step.get("name") == "pulumi up")
    assert up_step["env"]["PULUMI_PARALLEL"] == "${{ inputs.parallel }}"
    # After a failed `up` (and only then) the state it left is checked against the stack's plan.
    check = next(step for step in up["steps"] if "webex_cloud checkpoint" in step.get("run", ""))
    assert check["if"] == f"failure() && steps.{up_step['id']}.conclusion == 'failure'"
    assert "pulumi stack export" in check["run"] and '--plan "out/plan/$STACK.json"' in check["run"]
    assert "secrets" not in DEPLOY_STACK[True]["workflow_call"]
    assert DEPLOY_STACK["jobs"]["up"]["environment"] == "production-${{ inputs.stack }}"
    runs_on = DEPLOY_STACK["jobs"]["up"]["runs-on"]
    assert runs_on == ["self-hosted", "webex-ops", runner_label("${{ inputs.stack }}")]
    assert DEPLOY["concurrency"] == {"group": "deploy-main", "cancel-in-progress": False}
    assert DEPLOY[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True


def _ref_guard(job: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = job["steps"][0]
    assert first["name"] == "Refuse any ref but main" and first["env"] == {"REF": "${{ github.ref }}"}
    return first


@pytest.mark.parametrize(
    ("workflow", "job"),
    [(DEPLOY, "stacks"), (DEPLOY_STACK, "up"), (DEPLOY, "hold")],
    ids=["list", "up", "hold"],
)
@pytest.mark.parametrize(
    ("ref", "runs"),
    [
        ("refs/heads/main", True),
        ("refs/heads/feature", False),
        ("refs/heads/main-copy", False),
        ("refs/tags/v1", False),
        ("refs/pull/7/merge", False),
        ("", False),
    ],
)
def test_the_deploy_refuses_any_ref_but_main_before_anything_else(
    workflow: dict[Any, Any], job: str, ref: str, runs: bool, tmp_path: Path
) -> None:
    """A dispatch from a branch would run that branch's code with the deploy secrets: the first step of
    the list job and of each stack's job stops it, before the checkout."""
    guard = _ref_guard(workflow["jobs"][job])
    done = run_step(
        workflow, job, guard, cwd=tmp_path, env=os.environ, values=RUN | {"github.ref": ref}, timeout=30
    )
    assert (done.returncode == 0) is runs, done.stdout
    if not runs:
        assert "deploy runs only from refs/heads/main" in done.stdout
