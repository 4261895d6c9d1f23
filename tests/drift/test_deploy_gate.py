"""The deploy job runs drift before `up`, and nothing overrides its verdict: the step, replayed as the
runner runs it (bash -eo pipefail, the job's env, the project's venv), stops the job on anything but 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO
from webex_cloud.exit_codes import ExitCode

DEPLOY_STACK = REPO / ".github" / "workflows" / "deploy-stack.yml"


def _steps() -> list[dict[str, Any]]:
    workflow: dict[str, Any] = yaml.safe_load(DEPLOY_STACK.read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["up"]["steps"]
    return steps


def test_drift_runs_after_the_preview_and_before_up_with_no_override() -> None:
    names = [s.get("name") for s in _steps()]
    drift = names.index("Drift since the last deploy")
    assert names.index("Preview and risk report") < drift < names.index("pulumi up")
    run = _steps()[drift]["run"]
    assert 'webex_cloud drift --stack "$STACK" --plan "out/plan/$STACK.json"' in run
    assert '--state "$PULUMI_BACKEND_URL"' in run
    assert run.rstrip().endswith("exit $rc") and "allow_blocking" not in run and "if" not in _steps()[drift]


def test_the_step_stops_the_job_when_drift_has_no_verdict(tmp_path: Path) -> None:
    """Replayed against a state backend that refuses the connection (127.0.0.1:9): drift exits 2 and
    the step with it, so `pulumi up` (the next step, no `if:`) never runs."""
    step = next(s for s in _steps() if s.get("name") == "Drift since the last deploy")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".venv").symlink_to(Path(sys.prefix))
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "STACK": "dc1",
        "GITHUB_STEP_SUMMARY": str(summary),
        "PULUMI_BACKEND_URL": "s3://webex-pulumi-state?endpoint=127.0.0.1:9&s3ForcePathStyle=true&disableSSL=true",
        "AWS_ACCESS_KEY_ID": "fake",
        "AWS_SECRET_ACCESS_KEY": "fake",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr[-2000:]
    assert "cannot read the state backend" in done.stderr and "Traceback" not in done.stderr
    assert "### Drift of `dc1`" in summary.read_text()
    assert (workspace / "out" / "plan" / "dc1.json").is_file(), "the plan drift compares with, in out/"
    up = next(s for s in _steps() if s.get("name") == "pulumi up")
    assert "if" not in up
