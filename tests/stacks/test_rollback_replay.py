"""The deploy workflow's failure path, replayed: the canary's `pulumi up` fails at a gate, its job rolls
the stack back to the last good deploy (main's code, the recorded data, a stand-in `pulumi` that records
the rollback's `up`), a hold pull request is asked for (a stand-in `gh`), and wave 2 never starts.

The steps of deploy-stack.yml run as the runner runs them (`bash -eo pipefail`, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files, `if:` evaluated on the steps' outcomes); the checks before `up` (images,
preview, drift) are stood in for by their outputs: the preview's JSON and the plan."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.release.test_bake import _local_plan
from tests.stacks.test_deploy_workflow import DEPLOY_STACK, replay, run_list_job
from webex_cloud.commands.monitoring import generate
from webex_cloud.config.holds import HOLDS_FILE, digest
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.config.image_ids import RECORD_FORMAT
from webex_cloud.monitoring_ops.reload import with_revision
from webex_cloud.plan.document import render_plan
from webex_cloud.rollback.last_good import record_key

MEDIA = "catalog/meetings-media.yaml"
GOOD, BAD, NEXT, LATER = "a" * 40, "b" * 40, "c" * 40, "d" * 40
URN = "urn:pulumi:dc1::webex-cloud::"
GATE_URN = f"{URN}webex:release:Service$command:local:Command::meetings-media-gate-1"
INSTANCE_URN = f"{URN}webex:release:Service$openstack:compute/instance:Instance::meetings-media-pod-0-mixer-0"
VOLUME_URN = f"{URN}webex:release:Service$openstack:blockstorage/volume:Volume::meetings-media-scratch-0"
FAILED_GATE = (
    "2026-12-06T23:41:00Z [gate] dc1/meetings-media wave 1/4 FAILED after 600.0s: the release of "
    "meetings-media stops here"
)
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def _step(op: str, urn: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"op": op, "urn": urn, "oldState": {"type": type_}, "newState": {"type": type_}, **extra}


IMAGE_RELEASE = {
    "steps": [
        _step(
            "update",
            INSTANCE_URN,
            "openstack:compute/instance:Instance",
            detailedDiff={"imageName": {"kind": "update"}},
        ),
        _step("replace", GATE_URN, "command:local:Command", replaceReasons=["triggers"]),
    ]
}
"""What the preview before `up` showed: wave 1's instance rebuilt onto the new image, its gate re-run."""
WITH_A_VOLUME = {
    "steps": [*IMAGE_RELEASE["steps"], _step("create", VOLUME_URN, "openstack:blockstorage/volume:Volume")]
}


def _stand_ins(folder: Path, checkout: Path) -> Path:
    """`pulumi`: the deploy's own `up` (in the checkout) prints a failed gate and fails; any other `up`
    (the rollback's project) records what it deploys and succeeds. `gh`: records its calls."""
    folder.mkdir()
    (folder / "pulumi").write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, os, sys
            here = os.getcwd()
            media = os.path.join(here, {MEDIA!r})
            with open({str(folder / "pulumi.jsonl")!r}, "a") as out:
                seen = {{"argv": sys.argv[1:], "cwd": here, "agent": "SSH_AUTH_SOCK" in os.environ}}
                seen["media"] = open(media).read() if os.path.exists(media) else None
                out.write(json.dumps(seen) + "\\n")
            if here == {str(checkout)!r}:
                print({FAILED_GATE!r})
                sys.exit(int(os.environ.get("STAND_IN_UP_EXIT", "255")))
            print("[gate] dc1/meetings-media wave 1/4 PASSED in 4.1s: pods meetings-media-pod-0 serve")
            """
        )
    )
    (folder / "gh").write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            with open({str(folder / "gh.jsonl")!r}, "a") as out:
                out.write(json.dumps(sys.argv[1:]) + "\\n")
            if sys.argv[1:3] == ["pr", "create"]:
                print("https://github.example/webex/webex-cloud/pull/77")
            elif sys.argv[1] == "api" and "?ref=" in sys.argv[2]:
                sys.exit(1)  # no holds file at that commit yet: 404
            """
        )
    )
    # `ssh` and, on each node, `curl`: the monitoring nodes (tests/stacks/monitoring_node.py).
    (folder / "node-bin").mkdir()
    for name, call in (
        ("ssh", f"ssh(sys.argv[1:], Path({str(folder)!r}))"),
        ("node-bin/curl", "curl(sys.argv[1:])"),
    ):
        (folder / name).write_text(
            f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\nsys.path.insert(0, {str(REPO)!r})\n"
            f"from tests.stacks.monitoring_node import curl, ssh\nsys.exit({call})\n"
        )
    for name in ("pulumi", "gh", "ssh", "node-bin/curl"):
        (folder / name).chmod(0o755)
    return folder


def _calls(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@dataclass
class Job:
    """One job's run: each step's outcome and outputs, its log and the job's result."""

    outcomes: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    log: str = ""
    failed: bool = False


def _condition(expression: str, job: Job, context: dict[str, Any]) -> bool:
    """GitHub's `if:` for the forms these jobs use: status functions, step outcomes, inputs, needs."""
    python = expression.replace("&&", " and ").replace("||", " or ")
    python = (
        python.replace("failure()", "_failed")
        .replace("success()", "(not _failed)")
        .replace("always()", "True")
    )
    if not re.search(r"\b_failed\b|\bTrue\b", python):
        python = f"(not _failed) and ({python})"  # no status function: success() is implied
    steps = {name: SimpleNamespace(outcome=outcome) for name, outcome in job.outcomes.items()}
    names = {"_failed": job.failed, "steps": _Lookup(steps, SimpleNamespace(outcome="skipped")), **context}
    return bool(eval(python, {"__builtins__": {}}, names))


class _Lookup(SimpleNamespace):
    def __init__(self, known: dict[str, Any], missing: Any) -> None:
        super().__init__(**known)
        self._missing = missing

    def __getattr__(self, name: str) -> Any:
        return self._missing


def _resolve(value: str, values: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda match: values[match.group(1)], str(value))


def run_job(
    job: dict[str, Any],
    *,
    cwd: Path,
    env: dict[str, str],
    values: dict[str, str],
    context: dict[str, Any],
    only: set[str],
    tmp: Path,
) -> Job:
    """Run the job's steps named in ``only`` (the others' outputs exist already) in order."""
    run = Job()
    base = {**env, **{k: _resolve(v, values) for k, v in job.get("env", {}).items()}}
    for step in job["steps"]:
        if step.get("name") not in only:
            continue
        condition = step.get("if", "success()")
        if not _condition(str(condition), run, context):
            run.outcomes[step.get("id", step["name"])] = "skipped"
            continue
        output = tmp / f"output-{len(run.outcomes)}"
        output.write_text("")
        step_env = {**base, **{k: _resolve(v, values) for k, v in step.get("env", {}).items()}}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env={**step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        run.log += f"--- {step['name']} (exit {done.returncode})\n{done.stdout}{done.stderr}"
        key = step.get("id", step["name"])
        run.outcomes[key] = "success" if done.returncode == 0 else "failure"
        run.outputs[key] = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        run.failed = run.failed or done.returncode != 0
    return run


UP_STEPS = {
    "Refuse a release rolled back since the last good deploy",
    "pulumi up",
    "Bake, then probe every gate again",
    "Record the last good deploy",
    "Reload the monitoring with this deploy's rules",
    "Roll back to the last good deploy",
    "Reload the monitoring with the rolled-back rules",
    "Page",
    "Say which stack stopped the deployment",
}
HOLD_STEPS = {"Refuse any ref but main", "Open the hold pull request"}


@pytest.fixture(scope="module")
def fake_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    return key.read_text()


@dataclass
class Deploy:
    root: Path
    tmp: Path
    bin: Path
    env: dict[str, str]
    key: str

    def values(self, commit: str, bake_s: int = 0) -> dict[str, str]:
        secrets = {
            "OPENSTACK_CLOUDS_YAML": "clouds: {}",
            "PULUMI_BACKEND_URL": f"file://{self.tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "fake-passphrase",
            "STATE_ACCESS_KEY_ID": "fake-id",
            "STATE_SECRET_ACCESS_KEY": "fake-secret",
            "CONTROLLER_SSH_KEY": self.key,
        }
        return {
            "inputs.stack": "dc1",
            "inputs.wave": "1",
            "inputs.bake_s": str(bake_s),
            "inputs.timeout_minutes": "595",
            "inputs.parallel": "15",
            **{f"secrets.{name}": value for name, value in secrets.items()},
            "github.ref": "refs/heads/main",
            "github.token": "fake-token",
            "github.repository": "webex/webex-cloud",
            "github.server_url": "https://github.example",
            "github.run_id": "4242",
            "steps.rollback.outputs.held": "",
            "steps.rollback.outputs.hold": "",
        }

    def up_job(self, commit: str, preview: dict[str, Any], bake_s: int = 0) -> Job:
        (self.root / "out").mkdir(exist_ok=True)
        (self.root / "out" / "pulumi-preview.json").write_text(json.dumps(preview))
        # What the job's images step (not replayed: it reads Glance) records: every image the release
        # boots verified, and the last good one its new media image rolls back to.
        pinned = [e["name"] for e in yaml.safe_load((self.root / IMAGE_CATALOG).read_text())["images"]]
        verified = [{"name": n, "id": f"fake-id-{n}", "verified": True} for n in pinned]
        record = {"format": RECORD_FORMAT, "stack": "dc1", "images": verified, "rollback": {}}
        (self.root / "out" / "images").mkdir(exist_ok=True)
        (self.root / "out" / "images" / "dc1.json").write_text(json.dumps(record))
        env = {**self.env, "GITHUB_SHA": commit, "RUNNER_TEMP": str(self.tmp / f"runner-{commit[:4]}")}
        (self.tmp / f"runner-{commit[:4]}").mkdir()
        return run_job(
            DEPLOY_STACK["jobs"]["up"],
            cwd=self.root,
            env=env,
            values=self.values(commit, bake_s),
            context={"inputs": SimpleNamespace(bake_s=bake_s)},
            only=UP_STEPS,
            tmp=self.tmp,
        )

    def hold_job(self, commit: str, up: Job) -> Job | None:
        """The `hold` job, when its `if:` lets it run after the `up` job."""
        job = DEPLOY_STACK["jobs"]["hold"]
        outputs = {
            name: _resolve(
                value,
                {
                    "steps.rollback.outputs.held": up.outputs.get("rollback", {}).get("held", ""),
                    "steps.rollback.outputs.hold": up.outputs.get("rollback", {}).get("hold", ""),
                },
            )
            for name, value in DEPLOY_STACK["jobs"]["up"]["outputs"].items()
        }
        needs = SimpleNamespace(up=SimpleNamespace(outputs=SimpleNamespace(**outputs)))
        if not _condition(job["if"], Job(), {"needs": needs}):
            return None
        values = {**self.values(commit), **{f"needs.up.outputs.{k}": v for k, v in outputs.items()}}
        env = {
            **self.env,
            "GITHUB_SHA": commit,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_STEP_SUMMARY": str(self.tmp / "hold-summary.md"),
        }
        return run_job(
            job, cwd=self.tmp, env=env, values=values, context={"needs": needs}, only=HOLD_STEPS, tmp=self.tmp
        )


@pytest.fixture
def deploy(tmp_path: Path, fake_key: str) -> Deploy:
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("webex_cloud", "policies", "scripts", "catalog", "stacks", "scheduler-filters"):
        shutil.copytree(
            REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
        )
    for name in ("__main__.py", "Pulumi.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    (root / ".venv").symlink_to(Path(sys.prefix))
    stand_ins = _stand_ins(tmp_path / "bin", root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "GITHUB_"))}
    env.update(
        PATH=f"{stand_ins}{os.pathsep}{env['PATH']}",
        TMPDIR=str(tmp_path),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )
    return Deploy(root, tmp_path, stand_ins, env, fake_key)


def _good_deploy_then_a_bad_image(deploy: Deploy) -> tuple[str, str]:
    """Commit GOOD deploys (the stand-in `up` succeeds) and records its last good deploy; commit BAD
    changes meetings-media's image in the catalog."""
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    good_run = deploy.up_job(GOOD, IMAGE_RELEASE)
    assert not good_run.failed, good_run.log
    assert good_run.outcomes["rollback"] == "skipped"
    good = (deploy.root / MEDIA).read_text()
    bad = good.replace("webex-media-2026.11", "webex-media-2026.12")
    (deploy.root / MEDIA).write_text(bad)
    deploy.env["STAND_IN_UP_EXIT"] = "255"
    (deploy.bin / "pulumi.jsonl").unlink()
    return good, bad


def test_a_failed_gate_in_the_canary_rolls_it_back_holds_the_service_and_stops_wave_2(deploy: Deploy) -> None:
    good, bad = _good_deploy_then_a_bad_image(deploy)
    record = json.loads((deploy.tmp / "state" / record_key("dc1")).read_text())
    assert record["commit"] == GOOD and record["files"][MEDIA]["text"] == good

    up = deploy.up_job(BAD, IMAGE_RELEASE)

    # The deploy's `up` failed at the gate; no new last good record; the rollback ran and succeeded.
    assert up.failed and up.outcomes["up"] == "failure", up.log
    assert up.outcomes["bake"] == "skipped" and up.outcomes["Record the last good deploy"] == "skipped"
    assert up.outcomes["rollback"] == "success" and up.outcomes["Page"] == "skipped", up.log
    assert json.loads((deploy.tmp / "state" / record_key("dc1")).read_text())["commit"] == GOOD
    deploy_up, rollback_up = _calls(deploy.bin / "pulumi.jsonl")
    assert deploy_up["cwd"] == str(deploy.root) and deploy_up["argv"][:3] == [
        "up",
        "--yes",
        "--continue-on-error",
    ]
    # The rollback's `up`: main's code in a project of its own, the last good catalog, the same policy
    # pack, no --continue-on-error, wave 1's gate replaced on purpose so that it probes on the way back.
    assert rollback_up["cwd"] == str(deploy.tmp / "runner-bbbb" / "rollback-dc1")
    assert rollback_up["media"] == good and "webex-media-2026.11" in rollback_up["media"]
    assert rollback_up["agent"]  # the deploy key, through the agent, as for `up`
    config = f"{rollback_up['cwd']}/out/policy-config.json"
    assert rollback_up["argv"] == [
        "up",
        "--yes",
        "--policy-pack",
        "policies",
        "--policy-pack-config",
        config,
        "--stack",
        "organization/webex-cloud/dc1",
        "--replace",
        GATE_URN,
    ]
    assert json.loads(Path(config).read_text())  # main's policy command wrote it from the last good data
    # The job says what was rolled back and why.
    summary = (deploy.tmp / "summary.md").read_text()
    assert f"## Rolled back: `dc1` is at its last good deploy (`{GOOD[:12]}`)" in summary
    assert FAILED_GATE in summary and "update meetings-media-pod-0-mixer-0" in summary
    assert "**Held at the last good release:** `meetings-media`" in summary
    # The monitoring nodes run the rolled-back catalog's rules, reloaded from the rollback's project.
    assert up.outcomes["Reload the monitoring with the rolled-back rules"] == "success", up.log
    rolled_back = _installed(generate(Path(rollback_up["cwd"]), "dc1"))
    assert all(_node_files(deploy, host) == rolled_back for host in NODES)

    # The hold pull request: a branch, the holds file on it, a pull request to main.
    hold = deploy.hold_job(BAD, up)
    assert hold is not None and not hold.failed, hold.log if hold else ""
    gh = _calls(deploy.bin / "gh.jsonl")
    assert gh[0][:4] == ["api", "repos/webex/webex-cloud/git/refs", "-f", "ref=refs/heads/hold/dc1-4242"]
    put = gh[2]
    assert put[:3] == ["api", "-X", "PUT"] and "branch=hold/dc1-4242" in put
    content = next(arg for arg in put if arg.startswith("content=")).removeprefix("content=")
    holds = yaml.safe_load(base64.b64decode(content))["holds"]
    assert holds["meetings-media"]["held"] == digest(good) and holds["meetings-media"]["refused"] == digest(
        bad
    )
    assert holds["meetings-media"]["catalog"] == good and holds["meetings-media"]["reason"] == FAILED_GATE
    assert gh[3][:2] == ["pr", "create"] and gh[3][gh[3].index("--base") + 1] == "main"
    assert "https://github.example/webex/webex-cloud/pull/77" in (deploy.tmp / "hold-summary.md").read_text()
    assert (deploy.root / HOLDS_FILE).read_bytes() == base64.b64decode(content)

    # GitHub's job graph: the canary's job failed, so wave 2's never starts.
    outputs = run_list_job(deploy.root, deploy.tmp)
    run = replay(outputs, failing=frozenset({"dc1"} if up.failed else set()))
    assert run.order == [["dc1"]] and run.results["wave-2"] == "skipped"


def test_the_next_merge_cannot_ship_the_rolled_back_release_until_its_hold_merges(deploy: Deploy) -> None:
    _good_deploy_then_a_bad_image(deploy)
    assert deploy.up_job(BAD, IMAGE_RELEASE).outcomes["rollback"] == "success"
    hold_pr = (deploy.root / HOLDS_FILE).read_text()
    (deploy.root / HOLDS_FILE).unlink()  # main, before the hold pull request merges: still the bad media
    (deploy.bin / "pulumi.jsonl").unlink()
    deploy.env["STAND_IN_UP_EXIT"] = "0"

    unrelated = deploy.up_job(NEXT, IMAGE_RELEASE)

    assert unrelated.failed, unrelated.log
    assert unrelated.outcomes["Refuse a release rolled back since the last good deploy"] == "failure"
    assert unrelated.outcomes["up"] == "skipped" and unrelated.outcomes["rollback"] == "skipped"
    assert f"{MEDIA} is the release rolled back after commit {BAD[:12]}" in unrelated.log
    assert not (deploy.bin / "pulumi.jsonl").exists()  # nothing was deployed

    # The hold merged: the loader plans the held (last good) text; the deploy goes on.
    (deploy.root / HOLDS_FILE).write_text(hold_pr)
    held = deploy.up_job(LATER, IMAGE_RELEASE)
    assert held.outcomes["Refuse a release rolled back since the last good deploy"] == "success", held.log
    assert held.outcomes["up"] == "success"


def test_a_failed_release_that_added_a_volume_pages_and_rolls_nothing_back(deploy: Deploy) -> None:
    _good_deploy_then_a_bad_image(deploy)
    up = deploy.up_job(BAD, WITH_A_VOLUME)
    assert up.failed and up.outcomes["rollback"] == "failure" and up.outcomes["Page"] == "success", up.log
    assert (
        "::error title=PAGE: rollback of dc1 needs a person::the failed release changed something" in up.log
    )
    assert (
        "not reversible: meetings-media-scratch-0: create of a openstack:blockstorage/volume:Volume" in up.log
    )
    assert [call["cwd"] for call in _calls(deploy.bin / "pulumi.jsonl")] == [
        str(deploy.root)
    ]  # no rollback `up`
    summary = (deploy.tmp / "summary.md").read_text()
    assert "## PAGE: `dc1` needs a person — the failed release was NOT rolled back" in summary
    assert FAILED_GATE in summary
    assert deploy.hold_job(BAD, up) is None and not (deploy.bin / "gh.jsonl").exists()
    assert not (deploy.root / HOLDS_FILE).exists()


def test_a_canary_that_stops_serving_during_its_bake_is_rolled_back_too(deploy: Deploy) -> None:
    """`up` succeeded, but after the bake the gates' probe finds the pods gone: no last good record of
    the bad release, the rollback runs, and the job fails (wave 2 never starts)."""
    plan = render_plan("dc1", project_dir=deploy.root)  # its gates' specs: the same pods, addresses
    good, _ = _good_deploy_then_a_bad_image(deploy)
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there any more: the pods stopped serving
    (deploy.root / "out" / "plan").mkdir(parents=True)
    shutil.copy(
        _local_plan(plan, port, deploy.tmp, f"http://127.0.0.1:{port}"),
        deploy.root / "out" / "plan" / "dc1.json",
    )

    up = deploy.up_job(BAD, IMAGE_RELEASE, bake_s=1)

    assert up.outcomes["up"] == "success" and up.outcomes["bake"] == "failure", up.log
    assert up.outcomes["Record the last good deploy"] == "skipped" and up.outcomes["rollback"] == "success"
    assert up.failed
    assert json.loads((deploy.tmp / "state" / record_key("dc1")).read_text())["commit"] == GOOD
    rollback_up = _calls(deploy.bin / "pulumi.jsonl")[-1]
    assert rollback_up["cwd"].endswith("rollback-dc1") and rollback_up["media"] == good
    summary = (deploy.tmp / "summary.md").read_text()
    assert "[bake] dc1 FAILED after the bake: dc1/meetings-media wave 1/4 no longer serves" in summary


MONITORING_STEP = "monitoring"
NODES = ("10.250.1.15", "10.250.1.16")


def _node_files(deploy: Deploy, host: str) -> dict[str, str]:
    folder = deploy.bin / "nodes" / host / "etc" / "prometheus"
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.glob("**/*.yml"))}


def _installed(files: dict[str, str]) -> dict[str, str]:
    """What the reload installs for ``files``: them, and the revision rule carrying their digest."""
    with_digest, _ = with_revision({name: text.encode() for name, text in files.items()})
    return {name: data.decode() for name, data in with_digest.items()}


def _edit(path: Path, change: Any) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_after_up_each_monitoring_node_runs_the_stacks_new_rules(deploy: Deploy) -> None:
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    _edit(
        deploy.root / "catalog/messaging.yaml", lambda doc: doc.__setitem__("rollout", {"max_unavailable": 2})
    )

    up = deploy.up_job(GOOD, IMAGE_RELEASE)

    assert not up.failed and up.outcomes[MONITORING_STEP] == "success", up.log
    steps = list(up.outcomes)
    assert steps.index("up") < steps.index("Record the last good deploy") < steps.index(MONITORING_STEP)
    # Node by node, over SSH as the nodes' deploy login, the deploy key in the agent.
    logins = [call["login"] for call in _calls(deploy.bin / "ssh.jsonl")]
    assert list(dict.fromkeys(logins)) == [f"webex-deploy@{host}" for host in NODES]
    second = logins.index(f"webex-deploy@{NODES[1]}")
    assert set(logins[second:]) == {f"webex-deploy@{NODES[1]}"}  # the first node done before the second
    assert all(call["agent"] for call in _calls(deploy.bin / "ssh.jsonl"))
    # Each node runs exactly this checkout's generated files (the messaging floor changed), read back.
    generated = _installed(generate(deploy.root, "dc1"))
    assert 'service="messaging"' in generated["rules/service-messaging.rules.yml"]
    for host in NODES:
        assert _node_files(deploy, host) == generated
        assert f"verified webex-deploy@{host}: revision " in up.log
        assert f"verified webex-deploy@{host} Alertmanager: config hash" in up.log

    # Idempotent: the next deploy of the same catalog reloads the same files and verifies the same.
    again = deploy.up_job(NEXT, IMAGE_RELEASE)
    assert again.outcomes[MONITORING_STEP] == "success", again.log
    assert all(_node_files(deploy, host) == generated for host in NODES)


def test_a_stack_without_monitoring_passes_the_reload_without_touching_anything(deploy: Deploy) -> None:
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    _edit(
        deploy.root / "stacks/Pulumi.dc1.yaml",
        lambda doc: doc["config"]["webex-cloud:datacenter"].pop("monitoring"),
    )
    up = deploy.up_job(GOOD, IMAGE_RELEASE)
    assert not up.failed and up.outcomes[MONITORING_STEP] == "success", up.log
    assert "dc1: not monitored (no monitoring section in its stack file): nothing to reload" in up.log
    assert not (deploy.bin / "ssh.jsonl").exists()


def test_a_refused_reload_fails_the_job_after_the_deploy_is_done_and_recorded(deploy: Deploy) -> None:
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    assert not deploy.up_job(GOOD, IMAGE_RELEASE).failed
    before = {host: _node_files(deploy, host) for host in NODES}
    _edit(
        deploy.root / "catalog/messaging.yaml", lambda doc: doc.__setitem__("rollout", {"max_unavailable": 2})
    )
    (deploy.bin / "ssh.jsonl").unlink()
    deploy.env["STAND_IN_REFUSE"] = NODES[0]

    up = deploy.up_job(NEXT, IMAGE_RELEASE)

    # The cloud change is done and recorded; nothing is rolled back; the job fails, saying what to do.
    assert up.outcomes["up"] == "success" and up.outcomes["Record the last good deploy"] == "success"
    assert json.loads((deploy.tmp / "state" / record_key("dc1")).read_text())["commit"] == NEXT
    assert up.failed and up.outcomes[MONITORING_STEP] == "failure", up.log
    assert up.outcomes["rollback"] == "skipped" and up.outcomes["Page"] == "skipped"
    assert "::error title=monitoring of dc1 not reloaded::the deploy of dc1 is done and recorded" in up.log
    assert f"webex-deploy@{NODES[0]}: Prometheus refused the new configuration" in up.log
    assert "Monitoring of `dc1` NOT reloaded" in (deploy.tmp / "summary.md").read_text()
    # The refusing node has its previous files back; the second node was never contacted.
    assert {host: _node_files(deploy, host) for host in NODES} == before
    assert {call["login"] for call in _calls(deploy.bin / "ssh.jsonl")} == {f"webex-deploy@{NODES[0]}"}
    # GitHub's job graph: the later waves wait for the monitoring as for any failure of the stack.
    run = replay(run_list_job(deploy.root, deploy.tmp), failing=frozenset({"dc1"}))
    assert run.results["wave-2"] == "skipped"
