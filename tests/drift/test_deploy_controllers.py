"""The deploy's drift step reads the controllers too, through the drift reader login and with the reader
key alone: the step, then `pulumi up`, replayed as the runner runs them (tests/workflow_replay.py), in a
copy of the checkout, with the real `plan` and `drift`, the checkpoint in a real S3 server (moto) and the
APIs answered on 127.0.0.1 (tests/drift/test_deploy_gate.py's job), and each controller a folder behind
a stand-in `ssh` that runs the installed read script as sshd's forced command would
(tests/drift/test_controllers.py). In front of it, a recorder notes which keys the caller's ssh-agent
holds (and refuses, as sshd does, a caller that offers none); the stand-in `pulumi` notes its own agent's.
The keys are throw-away ones made here with ssh-keygen."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cloud.fake_cloud import FakeCloud
from tests.drift.fakes import Site, site
from tests.drift.test_controllers import controllers
from tests.drift.test_deploy_gate import _listings, _replay_job, checkout, job_env
from tests.preview.conftest import Backend, backend, s3_endpoint
from webex_cloud.audit.expected import Expected
from webex_cloud.drift.controllers import NO_READER
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import Plan

Job = tuple[dict[str, str], dict[str, str], FakeCloud, Path]

RECORDING_SSH = """#!/usr/bin/env bash
# What the controllers' sshd would see offered: the caller's agent's keys, and any key left in its env.
{{
  echo "agent: $(ssh-add -l 2>/dev/null | awk '{{print $2}}' | tr '\\n' ' ')"
  echo "env: ${{CONTROLLER_SSH_KEY:+deploy-key}} ${{DRIFT_READER_SSH_KEY:+reader-key}}"
}} >> "$SSH_SEEN"
if ! ssh-add -l >/dev/null 2>&1; then
  echo "${{@: -2:1}}: Permission denied (publickey)." >&2
  exit 255
fi
exec {stand_in} "$@"
"""

RECORDING_PULUMI = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$PULUMI_CALLS"
echo "agent: $(ssh-add -l 2>/dev/null | awk '{print $2}' | tr '\\n' ' ')" >> "$PULUMI_AGENT"
"""


def _fingerprint(key: Path) -> str:
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True, check=True)
    return listed.stdout.split()[1]


@pytest.fixture
def dc1(plan: Plan, expected: Expected, backend: Backend) -> Site:
    """dc1 as deployed, its checkpoint in the S3 backend: the cloud side has no drift."""
    deployed = site(plan, expected)
    backend.put_checkpoint("dc1", deployed.checkpoint())
    return deployed


@pytest.fixture
def run(
    tmp_path: Path, controllers: Path, job_env: Job, dc1: Site
) -> tuple[dict[str, str], dict[str, str], Path, dict[str, str]]:
    """The job's environment with the recorders first on PATH, and its values with the reader key
    (DRIFT_READER_SSH_KEY, a copy of drift-<stack>'s in production-<stack>) beside the deploy key."""
    env, values, cloud, _ = job_env
    _listings(cloud, dc1)
    recorders = tmp_path / "recorders"
    recorders.mkdir()
    (recorders / "ssh").write_text(RECORDING_SSH.format(stand_in=tmp_path / "bin" / "ssh"))
    (recorders / "pulumi").write_text(RECORDING_PULUMI)
    for name in ("ssh", "pulumi"):
        (recorders / name).chmod(0o755)
    reader = tmp_path / "reader-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(reader)], check=True)
    env = env | {
        "PATH": f"{recorders}:{tmp_path / 'bin'}:{env['PATH']}",
        "CONTROLLERS": str(controllers),
        "SSH_SEEN": str(tmp_path / "ssh-seen"),
        "PULUMI_AGENT": str(tmp_path / "pulumi-agent"),
    }
    env.pop("SSH_AUTH_SOCK", None)
    values = values | {"secrets.DRIFT_READER_SSH_KEY": reader.read_text()}
    keys = {"reader": _fingerprint(reader), "deploy": _fingerprint(tmp_path / "deploy-key")}
    return env, values, tmp_path, keys


def _seen(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_controller_changed_by_hand_stops_up_until_acknowledged_and_only_drift_holds_the_reader_key(
    checkout: Path, run: tuple[dict[str, str], dict[str, str], Path, dict[str, str]], controllers: Path
) -> None:
    env, values, tmp_path, keys = run
    # dc1-ctl-01's filter release rolled back by hand: current.json names another wheel.
    (current,) = (controllers / "10.250.1.11").rglob("current.json")
    current.write_text(json.dumps(json.loads(current.read_text()) | {"wheel_sha256": "ab" * 32}))
    acks = checkout / "drift-acks" / "dc1.yaml"
    assert not acks.exists()
    try:
        ran = _replay_job(checkout, env, values)
        assert [name for name, _ in ran] == ["Drift since the last deploy"]
        drift = ran[0][1]
        assert drift.returncode == ExitCode.BLOCKING, drift.stdout[-3000:] + drift.stderr[-3000:]
        assert "1 blocking drift(s): the deploy of dc1 stops" in drift.stdout
        assert not (tmp_path / "pulumi-calls").exists(), "pulumi was never run"
        report = json.loads((checkout / "out" / "drift" / "dc1.json").read_text())
        (blocking,) = [d for d in report["drift"] if d["blocking"]]
        assert (blocking["kind"], blocking["name"]) == ("filter-release", "dc1-ctl-01")
        assert report["could_not_check"] == []
        # Both controllers were read, each by an ssh whose agent held the reader key and nothing else.
        seen = _seen(tmp_path / "ssh-seen")
        assert seen == [f"agent: {keys['reader']} ", "env:  "] * 2

        # A reviewed commit acknowledges exactly that observed release: `up` runs, with the deploy key.
        entry = {
            "resource": blocking["resource"],
            "field": blocking["field"],
            "observed_sha256": blocking["observed_sha256"],
            "reason": "INC-4712: 2026.12 filters held on ctl-01 while a scheduler bug is looked at",
            "expires": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
        }
        acks.parent.mkdir(exist_ok=True)
        acks.write_text(yaml.safe_dump({"acknowledgements": [entry]}))
        ran = _replay_job(checkout, env, values)
        assert [name for name, _ in ran] == ["Drift since the last deploy", "pulumi up"]
        drift, up = ran[0][1], ran[1][1]
        assert drift.returncode == 0 and "[ACKED] filter-release" in drift.stdout, drift.stdout[-3000:]
        assert up.returncode == 0, up.stderr
        assert (tmp_path / "pulumi-calls").read_text().startswith("up --yes")
        # `up` gets the deploy key alone; the reader key never left the drift command's agent.
        assert _seen(tmp_path / "pulumi-agent") == [f"agent: {keys['deploy']} "]
        assert all(keys["deploy"] not in line for line in _seen(tmp_path / "ssh-seen"))
    finally:
        acks.unlink(missing_ok=True)


def test_without_the_reader_secret_the_controllers_are_listed_not_read_and_up_runs(
    checkout: Path, run: tuple[dict[str, str], dict[str, str], Path, dict[str, str]]
) -> None:
    """The stack names a reader but production-<stack> holds no DRIFT_READER_SSH_KEY: no key is offered,
    each controller is refused and listed as not read, with where the key comes from."""
    env, values, tmp_path, _ = run
    ran = _replay_job(checkout, env, values | {"secrets.DRIFT_READER_SSH_KEY": ""})
    assert [(name, done.returncode) for name, done in ran] == [
        ("Drift since the last deploy", 0),
        ("pulumi up", 0),
    ], ran[0][1].stdout[-3000:] + ran[0][1].stderr[-3000:]
    report = json.loads((checkout / "out" / "drift" / "dc1.json").read_text())
    unread = report["could_not_check"]
    assert len(unread) == 2 and all("the reader key was refused or none was offered" in u for u in unread)
    assert all("DRIFT_READER_SSH_KEY" in u and "production-<stack>" in u for u in unread), unread
    assert _seen(tmp_path / "ssh-seen") == ["agent: ", "env:  "] * 2
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "### Drift of `dc1`" in summary and "dc1-ctl-01" in summary


def test_a_stack_without_a_reader_reads_no_controller_says_so_and_up_runs(
    checkout: Path, run: tuple[dict[str, str], dict[str, str], Path, dict[str, str]]
) -> None:
    env, values, tmp_path, _ = run
    stack_file = checkout / "stacks" / "Pulumi.dc1.yaml"
    original = stack_file.read_text()
    without, removed = re.subn(r"\n      drift_reader:\n        public_key: [^\n]*", "", original)
    assert removed == 1
    try:
        stack_file.write_text(without)
        ran = _replay_job(checkout, env, values)
    finally:
        stack_file.write_text(original)
    assert [(name, done.returncode) for name, done in ran] == [
        ("Drift since the last deploy", 0),
        ("pulumi up", 0),
    ], ran[0][1].stdout[-3000:] + ran[0][1].stderr[-3000:]
    report = json.loads((checkout / "out" / "drift" / "dc1.json").read_text())
    assert report["could_not_check"] == [NO_READER] and report["sources"]["controllers"] == NO_READER
    assert not (tmp_path / "ssh-seen").exists(), "no controller was asked anything"


__all__ = ["backend", "checkout", "controllers", "job_env", "s3_endpoint"]
