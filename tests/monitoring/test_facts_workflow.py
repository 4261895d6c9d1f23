"""The facts job (.github/workflows/monitoring-facts.yml), its step replayed as the runner runs it (bash
-eo pipefail, the job's and the step's env, in a checkout with the real scripts/with-deploy-key.sh): the
plan, then the facts read (the controllers too, through the drift reader login) and pushed, the facts
key and the reader key in a private agent of the facts command alone, never in any command's
environment; the reader's clouds.yaml the only cloud identity, the state read with read-only keys; the
job fails when the push does.

`.venv/bin/python` is a stand-in that records what it is asked and what it can see (the command itself is
tests/monitoring/test_facts_push.py's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow_replay import Ran, load, run_step
from webex_cloud.exit_codes import ExitCode

WORKFLOW = REPO / ".github" / "workflows" / "monitoring-facts.yml"
STEP = "Facts of this stack, pushed to its monitoring pair"


def _job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]["facts"]
    return job


def _step() -> dict[str, Any]:
    return next(s for s in _job()["steps"] if s.get("name") == STEP)


@pytest.fixture(scope="module")
def fake_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throw-away ed25519 key made here and its fingerprint."""
    key = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True, check=True)
    return key.read_text(), shown.stdout.split()[1]


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    (workspace / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "with-deploy-key.sh", workspace / "scripts")
    python = workspace / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        textwrap.dedent(
            """\
            #!/usr/bin/env python3
            import json, os, subprocess, sys
            args = sys.argv[1:]
            agent = subprocess.run(["ssh-add", "-l"], capture_output=True, text=True).stdout
            named = ("FACTS_PUSH_KEY", "DRIFT_READER_SSH_KEY", "CONTROLLER_SSH_KEY")
            keys = [n for n in named if os.environ.get(n)]
            seen = {"argv": args, "agent": agent, "env": sorted(os.environ), "keys": keys}
            with open(os.environ["STAND_IN_CALLS"], "a") as out:
                out.write(json.dumps(seen) + "\\n")
            if args[2] == "plan":
                folder = args[args.index("--out") + 1]
                os.makedirs(folder, exist_ok=True)
                open(os.path.join(folder, args[args.index("--stack") + 1] + ".json"), "w").write("{}")
                sys.exit(int(os.environ["STAND_IN_PLAN_RC"]))
            print("  facts -> 10.250.1.15 (webex-facts, pinned host keys)")
            sys.exit(int(os.environ["STAND_IN_FACTS_RC"]))
            """
        )
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return workspace


def _replay(
    tmp_path: Path, key: str, plan_rc: int = 0, facts_rc: int = 0, reader: str = ""
) -> tuple[Ran, list[dict[str, Any]]]:
    workspace = _workspace(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    calls = tmp_path / "calls.jsonl"
    runner = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "STAND_IN_CALLS": str(calls),
        "STAND_IN_PLAN_RC": str(plan_rc),
        "STAND_IN_FACTS_RC": str(facts_rc),
    }
    values = {
        "matrix.stack": "dc1",
        "secrets.READER_CLOUDS_YAML": "clouds: {webex-dc1-reader: {auth: {auth_url: 'http://127.0.0.1:9/v3'}}}",
        "secrets.FACTS_PUSH_KEY": key,
        "secrets.DRIFT_READER_SSH_KEY": reader,
        "secrets.PULUMI_BACKEND_URL": "s3://webex-pulumi-state?endpoint=127.0.0.1:9",
        "secrets.STATE_READ_ACCESS_KEY_ID": "fake-read-only",
        "secrets.STATE_READ_SECRET_ACCESS_KEY": "fake-read-only",
    }
    workflow = load(WORKFLOW.name)
    done = run_step(workflow, "facts", _step(), cwd=workspace, env=runner, values=values, timeout=120)
    seen = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done, seen


def test_the_job_holds_the_reader_and_the_facts_key_only_on_the_datacenters_runner() -> None:
    job = _job()
    assert job["environment"] == "drift-${{ matrix.stack }}"
    assert "webex-ops-${{ matrix.stack }}" in job["runs-on"]
    secrets = set(re.findall(r"secrets\.([A-Z_]+)", WORKFLOW.read_text()))
    # The daily drift's read-only identities, of the same environment; no deploy secret.
    assert secrets == {
        "READER_CLOUDS_YAML", "FACTS_PUSH_KEY", "DRIFT_READER_SSH_KEY", "PULUMI_BACKEND_URL",
        "STATE_READ_ACCESS_KEY_ID", "STATE_READ_SECRET_ACCESS_KEY",
    }  # fmt: skip
    keys = ["FACTS_PUSH_KEY", "DRIFT_READER_SSH_KEY"]
    assert list(_step()["env"]) == keys, "the keys reach this step alone"


def test_the_facts_are_pushed_with_the_facts_key_in_an_agent_never_in_the_environment(
    tmp_path: Path, fake_key: tuple[str, str]
) -> None:
    key, fingerprint = fake_key
    done, (plan, facts) = _replay(tmp_path, key)
    assert done.returncode == 0, done.stderr
    assert plan["argv"][2:] == ["plan", "--stack", "dc1", "--out", "out/plan", "--no-policy"]
    assert facts["argv"][2:] == [
        "monitoring", "--stack", "dc1", "--facts", "out/facts/dc1.prom", "--plan", "out/plan/dc1.json",
        "--controllers", "--state", "s3://webex-pulumi-state?endpoint=127.0.0.1:9", "--push-nodes",
    ]  # fmt: skip
    assert plan["keys"] == [] and facts["keys"] == [], "no key in any command's environment"
    assert fingerprint in facts["agent"] and len(facts["agent"].splitlines()) == 1
    assert "FACTS_PUSH_KEY" not in facts["env"] and "CONTROLLER_SSH_KEY" not in facts["env"]
    assert "SSH_AUTH_SOCK" in facts["env"]
    clouds = tmp_path / "home" / ".config" / "openstack" / "clouds.yaml"
    assert "webex-dc1-reader" in clouds.read_text() and oct(clouds.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    ("plan_rc", "facts_rc", "calls", "rc"),
    [
        (ExitCode.INPUT, 0, 1, 2),  # no plan: nothing read, nothing pushed
        (0, ExitCode.BLOCKING, 2, 1),  # a node not reached: the job fails
        (0, ExitCode.INPUT, 2, 2),
    ],
)
def test_the_job_fails_when_the_plan_or_the_push_does(
    tmp_path: Path, fake_key: tuple[str, str], plan_rc: int, facts_rc: int, calls: int, rc: int
) -> None:
    done, seen = _replay(tmp_path, fake_key[0], plan_rc, facts_rc)
    assert (done.returncode, len(seen)) == (rc, calls)


def test_without_the_facts_key_the_step_says_which_secret_of_which_environment(tmp_path: Path) -> None:
    done, seen = _replay(tmp_path, "")
    assert done.returncode == 2 and len(seen) == 1
    assert "FACTS_PUSH_KEY is empty: store the facts key as the secret FACTS_PUSH_KEY" in done.stderr
    assert "drift-<stack>" in done.stderr


@pytest.fixture(scope="module")
def reader_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A second throw-away key, the drift reader's stand-in."""
    key = tmp_path_factory.mktemp("reader") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True, check=True)
    return key.read_text(), shown.stdout.split()[1]


def test_with_the_reader_key_the_facts_command_alone_holds_both_keys_in_its_agent(
    tmp_path: Path, fake_key: tuple[str, str], reader_key: tuple[str, str]
) -> None:
    done, (plan, facts) = _replay(tmp_path, fake_key[0], reader=reader_key[0])
    assert done.returncode == 0, done.stderr
    assert plan["agent"] == "" and plan["keys"] == [], "the plan sees no key"
    offered = sorted(line.split()[1] for line in facts["agent"].splitlines())
    assert offered == sorted([fake_key[1], reader_key[1]])
    assert facts["keys"] == [] and "--controllers" in facts["argv"]
    # The state is read with the environment's read-only keys, never the deploy's.
    assert "AWS_ACCESS_KEY_ID" in facts["env"] and "PULUMI_CONFIG_PASSPHRASE" not in facts["env"]


def test_the_deploy_key_never_shares_an_agent_with_another(tmp_path: Path, fake_key: tuple[str, str]) -> None:
    workspace = _workspace(tmp_path)
    done = subprocess.run(
        ["bash", "scripts/with-deploy-key.sh", "true"],
        cwd=workspace,
        env={
            "PATH": os.environ["PATH"],
            "WITH_KEY": "CONTROLLER_SSH_KEY,DRIFT_READER_SSH_KEY",
            "CONTROLLER_SSH_KEY": fake_key[0],
            "DRIFT_READER_SSH_KEY": fake_key[0],
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "never shares an agent" in done.stderr
