"""The facts job (.github/workflows/monitoring-facts.yml), its step replayed as the runner runs it (bash
-eo pipefail, the job's and the step's env, in a checkout with the real scripts/with-deploy-key.sh): the
plan, then the facts pushed with the facts key in a private agent, never in the command's environment;
the reader's clouds.yaml the only cloud identity; the job fails when the push does.

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
            seen = {"argv": args, "agent": agent, "env": sorted(os.environ)}
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
    tmp_path: Path, key: str, plan_rc: int = 0, facts_rc: int = 0
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
    assert secrets == {"READER_CLOUDS_YAML", "FACTS_PUSH_KEY"}
    assert list(_step()["env"]) == ["FACTS_PUSH_KEY"], "the key reaches this step alone"


def test_the_facts_are_pushed_with_the_facts_key_in_an_agent_never_in_the_environment(
    tmp_path: Path, fake_key: tuple[str, str]
) -> None:
    key, fingerprint = fake_key
    done, (plan, facts) = _replay(tmp_path, key)
    assert done.returncode == 0, done.stderr
    assert plan["argv"][2:] == ["plan", "--stack", "dc1", "--out", "out/plan", "--no-policy"]
    assert facts["argv"][2:] == [
        "monitoring", "--stack", "dc1", "--facts", "out/facts/dc1.prom", "--plan", "out/plan/dc1.json",
        "--push-nodes",
    ]  # fmt: skip
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
