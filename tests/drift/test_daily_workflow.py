"""The daily drift workflow (.github/workflows/drift-daily.yml), its `run:` scripts replayed as the runner
runs them (bash -eo pipefail, the job's env, in the checkout): main's code only, read-only secrets only,
one report per stack in the job summary, and the job fails on blocking drift or no verdict.

The per-stack step is replayed twice over: with a stand-in `.venv/bin/python` that plays `plan` and
`drift` with a chosen exit status (the step's own logic: what it calls, what it reports, how it exits),
and with the project's real interpreter against a state backend that refuses the connection."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow_replay import Ran, load, named_step, run_step
from webex_cloud.exit_codes import ExitCode

WORKFLOW = REPO / ".github" / "workflows" / "drift-daily.yml"
BACKEND = "s3://webex-pulumi-state?endpoint=127.0.0.1:9&s3ForcePathStyle=true&disableSSL=true"
VALUES = {
    "matrix.stack": "dc1",
    "secrets.READER_CLOUDS_YAML": (
        "clouds: {webex-dc1-reader: {auth: {auth_url: 'http://127.0.0.1:9/v3', username: r, "
        "password: fake, project_name: p, user_domain_name: Default, project_domain_name: Default}}}"
    ),
    "secrets.PULUMI_BACKEND_URL": BACKEND,
    "secrets.STATE_READ_ACCESS_KEY_ID": "fake",
    "secrets.STATE_READ_SECRET_ACCESS_KEY": "fake",
}
"""dc1's leg of the matrix, with its environment's (fake) read-only secrets."""

# Plays `python -m webex_cloud images|plan|drift ...`: records its arguments (and the image ids the plan
# is given), writes what the real commands write (the record, the plan file, the --json-out report),
# prints a report line and exits with the status the test chose for it.
STAND_IN = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$STAND_IN_CALLS"
args=("$@")
value() { for i in "${!args[@]}"; do [ "${args[$i]}" = "$1" ] && echo "${args[$((i + 1))]}"; done; }
case "$3" in
  images)
    mkdir -p "$(value --record-dir)" && echo '{}' > "$(value --record-dir)/$(value --stack).json"
    echo "  BLOCKING webex-base-2026.11: two images of this name"
    exit "$STAND_IN_IMAGES_RC" ;;
  plan)
    echo "WEBEX_IMAGE_IDS=${WEBEX_IMAGE_IDS:-} reader key: ${DRIFT_READER_SSH_KEY:+leaked}" \
      >> "$STAND_IN_CALLS"
    mkdir -p "$(value --out)" && echo '{}' > "$(value --out)/$(value --stack).json"
    exit "$STAND_IN_PLAN_RC" ;;
  drift)
    # what the controller read could log in with: the agent's keys, and whether the key leaked to its env
    offered="$(ssh-add -l 2>/dev/null | awk '{print $2}' || true)"
    echo "agent: $offered env-key: ${DRIFT_READER_SSH_KEY:+leaked}" >> "$STAND_IN_CALLS"
    out="$(value --json-out)"; mkdir -p "$(dirname "$out")"
    echo '{"format": "webex-cloud.drift/v1"}' > "$out"
    echo "  [BLOCK] stopped: dc1-messaging-pod-0-app-0 powerState -> up: revert"
    exit "$STAND_IN_DRIFT_RC" ;;
esac
exit 3
"""


def _workflow() -> dict[str, Any]:
    return load("drift-daily.yml")


def _replay(
    job: str,
    name: str,
    cwd: Path,
    env: dict[str, str],
    ref: str = "refs/heads/main",
    secrets: dict[str, str] | None = None,
) -> Ran:
    """The step of ``job`` named ``name``, replayed as the runner runs it in dc1's leg of the matrix
    (``secrets``: more of the environment's secrets, by expression)."""
    workflow = _workflow()
    step = named_step(workflow, job, name)
    values = VALUES | {"github.ref": ref} | (secrets or {})
    return run_step(workflow, job, step, cwd=cwd, env=env, values=values, timeout=600)


def _runner_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    python = workspace / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    (workspace / "scripts").symlink_to(REPO / "scripts")
    return workspace


@pytest.fixture(scope="module")
def reader_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throw-away ed25519 key made here (the drift reader's stand-in) and its fingerprint."""
    key = tmp_path_factory.mktemp("reader") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True, check=True)
    return key.read_text(), listed.stdout.split()[1]


def test_the_controllers_are_read_with_the_reader_key_in_an_agent_of_the_drift_command_alone(
    stand_in: Path, tmp_path: Path, reader_key: tuple[str, str]
) -> None:
    """The step as the runner runs it with the environment's secret: only drift gets the key, only in an
    ssh-agent that ends with it (WITH_KEY=DRIFT_READER_SSH_KEY scripts/with-deploy-key.sh)."""
    step = named_step(_workflow(), "drift", "Drift of this stack")
    assert step["env"] == {"DRIFT_READER_SSH_KEY": "${{ secrets.DRIFT_READER_SSH_KEY }}"}
    key, fingerprint = reader_key
    calls = tmp_path / "calls"
    env = {k: v for k, v in _runner_env(tmp_path).items() if not k.startswith("SSH_")} | {
        "TMPDIR": str(tmp_path),
        "STAND_IN_CALLS": str(calls),
        "STAND_IN_IMAGES_RC": "0",
        "STAND_IN_PLAN_RC": "0",
        "STAND_IN_DRIFT_RC": "0",
    }
    done = _replay(
        "drift", "Drift of this stack", stand_in, env, secrets={"secrets.DRIFT_READER_SSH_KEY": key}
    )
    assert done.returncode == 0, done.stderr
    made = calls.read_text().splitlines()
    assert made[2].endswith("reader key: "), "the plan never sees the reader key"
    assert made[3].endswith("--glance --controllers --json-out out/drift/dc1.json")
    assert made[4] == f"agent: {fingerprint} env-key: ", "the key in drift's agent, not in its environment"
    assert not list(tmp_path.glob("tmp*/agent.sock")), "the agent ended with the command"


def test_a_reader_secret_that_is_no_key_gives_no_verdict(stand_in: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in _runner_env(tmp_path).items() if not k.startswith("SSH_")} | {
        "TMPDIR": str(tmp_path),
        "STAND_IN_CALLS": str(tmp_path / "calls"),
        "STAND_IN_IMAGES_RC": "0",
        "STAND_IN_PLAN_RC": "0",
        "STAND_IN_DRIFT_RC": "0",
    }
    done = _replay(
        "drift", "Drift of this stack", stand_in, env, secrets={"secrets.DRIFT_READER_SSH_KEY": "not a key"}
    )
    assert done.returncode == ExitCode.INPUT
    assert "DRIFT_READER_SSH_KEY is not a private key ssh-add accepts" in done.stdout
    assert "### Drift of `dc1`: no verdict (exit 2)" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    ("images_rc", "plan_rc", "drift_rc", "verdict", "rc"),
    [
        (0, 0, ExitCode.OK, "no blocking drift", 0),
        (0, 0, ExitCode.BLOCKING, "blocking drift: its next deploy stops", 1),
        (0, 0, ExitCode.INPUT, "no verdict (exit 2)", 2),
        (0, ExitCode.INPUT, ExitCode.OK, "no verdict (exit 2)", 2),
        (ExitCode.BLOCKING, 0, ExitCode.OK, "no blocking drift", 1),
        (ExitCode.INPUT, 0, ExitCode.BLOCKING, "blocking drift: its next deploy stops", 2),
    ],
)
def test_each_stack_reports_to_the_summary_and_fails_on_blocking_drift_or_no_verdict(
    stand_in: Path, tmp_path: Path, images_rc: int, plan_rc: int, drift_rc: int, verdict: str, rc: int
) -> None:
    calls = tmp_path / "calls"
    env = _runner_env(tmp_path) | {
        "STAND_IN_CALLS": str(calls),
        "STAND_IN_IMAGES_RC": str(images_rc),
        "STAND_IN_PLAN_RC": str(plan_rc),
        "STAND_IN_DRIFT_RC": str(drift_rc),
    }
    done = _replay("drift", "Drift of this stack", stand_in, env)
    assert done.returncode == rc, done.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith(f"### Drift of `dc1`: {verdict}")
    images = {0: "every image verified", 1: "not verified: its next deploy stops at its images"}
    assert f"#### Images of `dc1`: {images.get(images_rc, f'no verdict (exit {images_rc})')}" in summary
    made = calls.read_text().splitlines()
    assert made[0] == "-m webex_cloud images --stack dc1 --record-dir out/images"
    assert made[1] == "-m webex_cloud plan --stack dc1 --out out/plan"
    # Verified images: the plan boots their verified ids; otherwise the plan's stand-ins.
    assert made[2] == f"WEBEX_IMAGE_IDS={'out/images/dc1.json' if images_rc == 0 else ''} reader key: "
    if plan_rc:
        assert len(made) == 3, "no drift without the plan it compares with"
        return
    assert made[3] == (
        f"-m webex_cloud drift --stack dc1 --plan out/plan/dc1.json --state {BACKEND} --glance "
        "--controllers --json-out out/drift/dc1.json"
    )
    assert made[4] == "agent:  env-key: ", "no secret in this job: no key offered, none in the env"
    assert "[BLOCK] stopped" in summary and "two images of this name" in summary
    assert (stand_in / "out" / "drift" / "dc1.json").is_file(), "the report the artifact step keeps"
    clouds = Path(env["HOME"]) / ".config" / "openstack" / "clouds.yaml"
    assert (
        clouds.read_text().strip() == VALUES["secrets.READER_CLOUDS_YAML"]
        and stat.S_IMODE(clouds.stat().st_mode) == 0o600
    )


def test_the_step_with_the_real_commands_has_no_verdict_when_the_state_cannot_be_read(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".venv").symlink_to(Path(sys.prefix))
    env = _runner_env(tmp_path) | {"PYTHONPATH": str(REPO)}
    done = _replay("drift", "Drift of this stack", workspace, env)
    assert done.returncode == ExitCode.INPUT, done.stdout[-2000:] + done.stderr[-2000:]
    assert "cannot read the state backend" in done.stdout and "Traceback" not in done.stdout
    assert (workspace / "out" / "plan" / "dc1.json").is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert "### Drift of `dc1`: no verdict (exit 2)" in summary
    assert "#### Images of `dc1`: no verdict (exit 2)" in summary  # Glance at 127.0.0.1:9 refuses too


def test_the_fleet_summary_step_writes_one_document_from_every_stacks_report(tmp_path: Path) -> None:
    """The `summary` job's step with the real command over the folder the job downloads this run's
    `drift-<stack>` artifacts into: dc1 blocking, dc2 missing (its job wrote none)."""
    workflow = _workflow()
    job = workflow["jobs"]["summary"]
    assert job["needs"] == ["stacks", "drift"] and "!cancelled()" in job["if"]
    download = next(s for s in job["steps"] if "download-artifact" in str(s.get("uses", "")))
    assert download["with"] == {"pattern": "drift-*", "merge-multiple": True, "path": "out/drift"}
    upload = workflow["jobs"]["drift"]["steps"][-1]["with"]
    assert upload["name"] == "drift-${{ matrix.stack }}" and upload["path"] == "out/drift/"
    workspace = tmp_path / "workspace"
    (workspace / "out" / "drift").mkdir(parents=True)
    (workspace / ".venv").symlink_to(Path(sys.prefix))
    generated = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    report = {
        "format": "webex-cloud.drift/v1",
        "stack": "dc1",
        "generated": generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "blocking": 1,
        "counts": {"stopped": 1, "rule-added": 2},
        "drift": [],
    }
    (workspace / "out" / "drift" / "dc1.json").write_text(json.dumps(report))
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "PYTHONPATH": str(REPO)}
    done = _replay("summary", "The fleet's summary", workspace, env)
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert summary == (workspace / "out" / "fleet" / "drift-fleet.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `dc2` | no report | — |")  # worst first
    assert rows[1].startswith("| `dc1` | blocking | 1 | rule-added 2, stopped 1 | 2 h |")
    fleet = json.loads((workspace / "out" / "fleet" / "drift-fleet.json").read_text())
    assert fleet["verdicts"] == {"no report": 1, "blocking": 1}


@pytest.mark.parametrize("job", ["stacks", "drift", "summary"])
@pytest.mark.parametrize(("ref", "code"), [("refs/heads/main", 0), ("refs/heads/feature", 1), ("", 1)])
def test_only_mains_code_runs(job: str, ref: str, code: int, tmp_path: Path) -> None:
    done = _replay(job, "Refuse any ref but main", tmp_path, dict(os.environ), ref=ref)
    assert done.returncode == code, done.stdout
    checkout = next(
        s for s in _workflow()["jobs"][job]["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")
    )
    assert checkout["with"] == {"ref": "main", "persist-credentials": False}


def test_it_runs_daily_with_read_only_secrets_on_each_datacenters_runner() -> None:
    workflow = _workflow()
    triggers: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text().replace("\non:", "\n'on':"))["on"]
    assert [t["cron"] for t in triggers["schedule"]] == ["17 5 * * *"]  # YAML 1.1 would read `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["drift"]
    assert job["runs-on"] == ["self-hosted", "webex-ops", "webex-ops-${{ matrix.stack }}"]
    assert job["strategy"]["fail-fast"] is False
    secrets = {key for key, value in job["env"].items() if "secrets." in str(value)}
    assert secrets == {"CLOUDS_YAML", "PULUMI_BACKEND_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    # the one SSH key any step holds: the drift step's reader key
    held = {n for s in job["steps"] for n, value in s.get("env", {}).items() if "secrets." in str(value)}
    assert held == {"DRIFT_READER_SSH_KEY"}
    assert (
        "READER_CLOUDS_YAML" in job["env"]["CLOUDS_YAML"] and "STATE_READ_" in job["env"]["AWS_ACCESS_KEY_ID"]
    )
    text = WORKFLOW.read_text()
    for never in ("PULUMI_CONFIG_PASSPHRASE", "CONTROLLER_SSH_KEY", "pulumi up", "pulumi preview"):
        assert never not in text
