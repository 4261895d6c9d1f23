"""The controllers' deploy key in the deploy job: only the `pulumi up` step gets it, only through an
ssh-agent that dies with the step. The step is replayed as the runner runs it, with a fake key made
here and a stand-in `pulumi` that records what it can see."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.stacks.test_deploy_workflow import DEPLOY_STACK, RUN
from tests.workflow_replay import Ran, named_step, run_step

SECRET = "${{ secrets.CONTROLLER_SSH_KEY }}"


@pytest.fixture(scope="module")
def fake_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throw-away ed25519 key (made here, used nowhere else) and its fingerprint."""
    folder = tmp_path_factory.mktemp("key")
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    return key.read_text(), fingerprint


def _stand_in(folder: Path, status: int) -> Path:
    """A `pulumi` that writes down its arguments, environment, the agent it was given and the keys in it."""
    folder.mkdir()
    script = folder / "pulumi"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env python3
            import json, os, subprocess, sys
            listed = subprocess.run(["ssh-add", "-l"], capture_output=True, text=True)
            with open({str(folder / "seen.json")!r}, "w") as out:
                seen = {{"argv": sys.argv[1:], "env": dict(os.environ), "keys": listed.stdout}}
                folder = os.path.dirname(os.environ["SSH_AUTH_SOCK"])
                json.dump({{**seen, "folder_mode": os.stat(folder).st_mode & 0o777}}, out)
            sys.exit({status})
            """
        )
    )
    script.chmod(0o755)
    return folder


def _replay(tmp_path: Path, key: str, status: int = 0) -> tuple[Ran, dict[str, Any]]:
    fake = _stand_in(tmp_path / "bin", status)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env.update(PATH=f"{fake}{os.pathsep}{env['PATH']}", TMPDIR=str(tmp_path))
    checkout = tmp_path / "checkout"  # the step keeps its log in out/: not in this repository
    (checkout / "out").mkdir(parents=True)
    (checkout / "scripts").symlink_to(REPO / "scripts")
    up = named_step(DEPLOY_STACK, "up", "pulumi up")
    values = RUN | {"secrets.CONTROLLER_SSH_KEY": key}
    done = run_step(DEPLOY_STACK, "up", up, cwd=checkout, env=env, values=values, timeout=120)
    seen_file = fake / "seen.json"
    seen: dict[str, Any] = json.loads(seen_file.read_text()) if seen_file.exists() else {}
    return done, seen


def _agent_gone(socket: str) -> bool:
    listed = subprocess.run(
        ["ssh-add", "-l"], env={**os.environ, "SSH_AUTH_SOCK": socket}, capture_output=True, check=False
    )
    return not Path(socket).exists() and listed.returncode == 2  # 2: cannot reach the agent


def test_up_gets_the_key_through_an_agent_only_and_the_agent_dies_with_the_step(
    tmp_path: Path, fake_key: tuple[str, str]
) -> None:
    key, fingerprint = fake_key
    done, seen = _replay(tmp_path, key)
    assert done.returncode == 0, done.stderr
    assert seen["argv"][:3] == ["up", "--yes", "--continue-on-error"]
    assert fingerprint in seen["keys"]  # the agent holds the key
    assert "CONTROLLER_SSH_KEY" not in seen["env"]
    body = key.splitlines()[1]
    assert not any(body in value for value in seen["env"].values())  # nor any variable its text
    socket = seen["env"]["SSH_AUTH_SOCK"]
    assert socket.startswith(str(tmp_path)) and seen["folder_mode"] == 0o700  # no other user gets in
    assert _agent_gone(socket)
    assert not any(body in text for text in (done.stdout, done.stderr))


def test_a_failed_up_fails_the_step_and_still_kills_the_agent(
    tmp_path: Path, fake_key: tuple[str, str]
) -> None:
    done, seen = _replay(tmp_path, fake_key[0], status=255)
    assert done.returncode == 255
    assert _agent_gone(seen["env"]["SSH_AUTH_SOCK"])


@pytest.mark.parametrize(
    ("key", "says"),
    [("", "CONTROLLER_SSH_KEY is empty"), ("not a key", "is not a private key ssh-add accepts")],
    ids=["missing", "garbage"],
)
def test_a_missing_or_unusable_key_stops_before_up(tmp_path: Path, key: str, says: str) -> None:
    done, seen = _replay(tmp_path, key)
    assert done.returncode == 2 and says in done.stdout  # the step logs stderr with stdout (out/up.log)
    assert seen == {}  # `pulumi up` never ran
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]  # no agent folder left


def test_no_other_step_and_no_job_setting_names_the_key() -> None:
    """The preview, the install and the login run without it; the secret is named in that one step."""
    job = DEPLOY_STACK["jobs"]["up"]
    assert SECRET not in json.dumps(job.get("env", {}))
    holders = [step.get("name") for step in job["steps"] if SECRET in json.dumps(step)]
    # `up`, the rollback's own `up` after a failed release, and the monitoring reload after each: it logs
    # in to the monitoring nodes with the same key (tests/stacks/test_rollback_replay.py).
    assert holders == [
        "pulumi up",
        "Reload the monitoring with this deploy's rules",
        "Roll back to the last good deploy",
        "Reload the monitoring with the rolled-back rules",
    ]
    assert all(
        "bash scripts/with-deploy-key.sh" in step["run"]
        for step in job["steps"]
        if SECRET in json.dumps(step)
    )
    assert (
        "bash scripts/with-deploy-key.sh \\\n  pulumi up --yes"
        in named_step(DEPLOY_STACK, "up", "pulumi up")["run"]
    )
