"""The deploy job runs drift before `up`, and nothing overrides its verdict: the step, replayed as the
runner runs it (bash -eo pipefail, the job's env, the project's venv), stops the job on anything but 0."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audit.fakes import PROJECT
from tests.cloud.fake_cloud import FakeCloud, fake_cloud
from tests.conftest import REPO
from tests.drift.fakes import IMAGE_ID, Site, site
from tests.drift.test_cli import stop_one
from tests.preview.conftest import Backend, backend, s3_endpoint
from tests.stacks.test_deploy_workflow import DEPLOY_STACK, IMAGES_STEP, RUN
from tests.workflow_replay import Ran, named_step, run_step
from webex_cloud.audit.expected import Expected
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import Plan

UNREACHABLE_STATE = "s3://webex-pulumi-state?endpoint=127.0.0.1:9&s3ForcePathStyle=true&disableSSL=true"


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = DEPLOY_STACK["jobs"]["up"]["steps"]
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
    step = named_step(DEPLOY_STACK, "up", "Drift since the last deploy")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".venv").symlink_to(Path(sys.prefix))
    summary = tmp_path / "summary.md"
    values = RUN | {
        "secrets.PULUMI_BACKEND_URL": UNREACHABLE_STATE,
        "secrets.STATE_ACCESS_KEY_ID": "fake",
        "secrets.STATE_SECRET_ACCESS_KEY": "fake",
    }
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    done = run_step(DEPLOY_STACK, "up", step, cwd=workspace, env=env, values=values, exported=IMAGES_STEP)
    assert done.returncode == ExitCode.INPUT, done.stderr[-2000:]
    assert "cannot read the state backend" in done.stderr and "Traceback" not in done.stderr
    assert "### Drift of `dc1`" in summary.read_text()
    assert (workspace / "out" / "plan" / "dc1.json").is_file(), "the plan drift compares with, in out/"
    up = next(s for s in _steps() if s.get("name") == "pulumi up")
    assert "if" not in up


# --- End to end: the drift step, then `pulumi up`, as the runner runs them, against a stand-in cloud ---
# The deploy job's two steps replayed in order in a copy of the checkout: the real `plan` and `drift`
# (the checkpoint in a real S3 server on 127.0.0.1, moto's; Keystone, Nova, Cinder and Neutron answered
# by tests/cloud/fake_cloud.py on 127.0.0.1 with dc1 as deployed, tests/drift/fakes.py), and `pulumi up`
# through scripts/with-deploy-key.sh with a throwaway key, `pulumi` a stand-in that records its calls.
# A step that fails stops the job: the runner skips every later step without an `if:`, which `up` has not.

STAND_IN_PULUMI = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$PULUMI_CALLS"
echo "Updating (organization/webex-cloud/dc1)"
"""


def _listings(cloud: FakeCloud, dc1: Site) -> None:
    """What Nova, Cinder and Neutron list now (paths as openstacksdk sends them; the query left out)."""
    compute, network = "/compute/v2.1", "/network/v2.0"
    image = {"id": IMAGE_ID, "name": "webex-base-2026.11", "status": "active", "visibility": "shared"}
    cloud.answers.update(
        {
            f"{compute}/servers/detail": (200, {"servers": dc1.servers}),
            f"{compute}/os-server-groups": (200, {"server_groups": dc1.server_groups}),
            f"{compute}/os-services": (200, {"services": dc1.services}),
            f"/volume/v3/{cloud.project_id}/volumes/detail": (200, {"volumes": dc1.volumes}),
            f"{network}/networks": (200, {"networks": dc1.networks}),
            f"{network}/subnets": (200, {"subnets": dc1.subnets}),
            f"{network}/ports": (200, {"ports": dc1.ports}),
            f"{network}/security-groups": (200, {"security_groups": dc1.security_groups}),
            f"{network}/security-group-rules": (200, {"security_group_rules": dc1.security_group_rules}),
            "/image/v2/images": (200, {"images": [image]}),
            f"/image/v2/images/{IMAGE_ID}": (200, image),
        }
    )


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout the job works in: the repository's files (its own `python -m webex_cloud` and its
    drift-acks/), the project's interpreter as .venv, and `pulumi` a stand-in on a folder of its own."""
    root = tmp_path_factory.mktemp("deploy") / "workspace"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def _replay_job(checkout: Path, env: dict[str, str], values: dict[str, str]) -> list[tuple[str, Ran]]:
    """From the drift step through `pulumi up`, as the runner runs them (tests/workflow_replay.py); the
    first that fails ends the job, as the runner ends it."""
    names = [s.get("name") for s in _steps()]
    ran = []
    for step in _steps()[names.index("Drift since the last deploy") : names.index("pulumi up") + 1]:
        assert "if" not in step, step["name"]  # nothing here runs after a failed step
        done = run_step(DEPLOY_STACK, "up", step, cwd=checkout, env=env, values=values, exported=IMAGES_STEP)
        ran.append((step["name"], done))
        if done.returncode != 0:
            break
    return ran


@pytest.fixture
def job_env(
    tmp_path: Path, checkout: Path, backend: Backend
) -> Iterator[tuple[dict[str, str], dict[str, str], FakeCloud, Path]]:
    """The runner's environment (the stand-in `pulumi` first on PATH, a home whose clouds.yaml names
    the stand-in cloud), and the run's values: the canary's inputs, its (fake) secrets."""
    bin_dir = tmp_path / "pulumi-bin"  # tmp_path/bin is the controllers' stand-ins' (test_controllers.py)
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(STAND_IN_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    key = tmp_path / "deploy-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    home = tmp_path / "home"
    (home / ".config" / "openstack").mkdir(parents=True)
    calls = tmp_path / "pulumi-calls"
    with fake_cloud(["reader"]) as cloud:
        cloud.project_id = PROJECT
        reader = cloud.clouds_yaml(home / ".config" / "openstack", "webex-dc1-reader")
        assert reader == home / ".config" / "openstack" / "clouds.yaml"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("OS_", "AWS_", "PULUMI_", "GITHUB_"))
        }
        env |= {
            "HOME": str(home),
            "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "PULUMI_CALLS": str(calls),
        }
        values = RUN | {
            "secrets.PULUMI_BACKEND_URL": backend.url,
            "secrets.STATE_ACCESS_KEY_ID": "testing",
            "secrets.STATE_SECRET_ACCESS_KEY": "testing",
            "secrets.CONTROLLER_SSH_KEY": key.read_text(),
            "inputs.parallel": "8",
        }
        yield env, values, cloud, calls


@pytest.fixture
def dc1(plan: Plan, expected: Expected, backend: Backend) -> Site:
    """dc1 deployed, its checkpoint in the S3 backend; then a server stopped by hand."""
    deployed = site(plan, expected)
    backend.put_checkpoint("dc1", deployed.checkpoint())
    stop_one(deployed)
    return deployed


def test_blocking_drift_stops_the_job_before_up_and_its_acknowledgement_lets_up_run(
    checkout: Path, job_env: tuple[dict[str, str], dict[str, str], FakeCloud, Path], dc1: Site
) -> None:
    env, values, cloud, calls = job_env
    _listings(cloud, dc1)
    acks = checkout / "drift-acks" / "dc1.yaml"
    assert not acks.exists()
    try:
        ran = _replay_job(checkout, env, values)
        assert [name for name, _ in ran] == ["Drift since the last deploy"]
        drift = ran[0][1]
        assert drift.returncode == ExitCode.BLOCKING, drift.stdout[-3000:] + drift.stderr[-3000:]
        assert (
            "[BLOCK] stopped" in drift.stdout
            and "1 blocking drift(s): the deploy of dc1 stops" in drift.stdout
        )
        assert not calls.exists(), "pulumi was never run"
        report = json.loads((checkout / "out" / "drift" / "dc1.json").read_text())
        (blocking,) = [d for d in report["drift"] if d["blocking"]]
        # Only GETs reached the cloud, as the reader.
        assert {method for method, _ in cloud.requests} == {"GET", "POST"}
        assert [path for method, path in cloud.requests if method == "POST"] == ["/v3/auth/tokens"]

        # A reviewed commit acknowledges exactly that observed value: the job goes on to `up`.
        entry = {
            "resource": blocking["resource"],
            "field": blocking["field"],
            "observed_sha256": blocking["observed_sha256"],
            "reason": "INC-4711: stopped for a disk check",
            "expires": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
        }
        acks.parent.mkdir(exist_ok=True)
        acks.write_text(yaml.safe_dump({"acknowledgements": [entry]}))
        ran = _replay_job(checkout, env, values)
        assert [name for name, _ in ran] == ["Drift since the last deploy", "pulumi up"]
        drift, up = ran[0][1], ran[1][1]
        assert drift.returncode == 0 and "[ACKED] stopped" in drift.stdout, drift.stdout[-3000:]
        assert up.returncode == 0, up.stderr
        assert calls.read_text().splitlines() == [
            "up --yes --continue-on-error --policy-pack policies --policy-pack-config out/policy-config.json "
            "--stack organization/webex-cloud/dc1"
        ]
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert summary.count("### Drift of `dc1`") == 2
    finally:
        acks.unlink(missing_ok=True)


__all__ = ["backend", "s3_endpoint"]
