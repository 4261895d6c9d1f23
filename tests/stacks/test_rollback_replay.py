"""The deploy workflow's failure path, replayed: the canary's `pulumi up` fails at a gate, its job rolls
the stack back to the last good deploy (main's code, the recorded data, a stand-in `pulumi` that records
the rollback's `up`), a hold pull request is asked for (a stand-in `gh`), and wave 2 never starts.

The steps of deploy-stack.yml run as the runner runs them (`bash -eo pipefail`, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files, `if:` evaluated on the steps' outcomes); the checks before `up` (images,
preview, drift) are stood in for by their outputs: the preview's JSON and the plan."""

from __future__ import annotations

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

from benchmarks.generated_project import datacenter_stack
from tests.conftest import REPO
from tests.release.test_bake import _local_plan
from tests.stacks import monitoring_node
from tests.stacks.test_deploy_workflow import DEPLOY, DEPLOY_STACK, RUN, replay, run_list_job
from tests.workflow_replay import named_step, resolve, run_step
from webex_cloud.commands.monitoring import generate
from webex_cloud.config.holds import HOLDS_FILE, digest, parse_holds
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
            if sys.argv[1:2] == ["config"]:  # the monitoring reload decrypting the pair's secrets
                sys.path.insert(0, {str(REPO)!r})
                from tests.stacks.monitoring_node import pulumi_config
                sys.exit(pulumi_config(sys.argv[1:]))
            here = os.getcwd()
            media = os.path.join(here, {MEDIA!r})
            with open({str(folder / "pulumi.jsonl")!r}, "a") as out:
                seen = {{"argv": sys.argv[1:], "cwd": here, "agent": "SSH_AUTH_SOCK" in os.environ}}
                seen["media"] = open(media).read() if os.path.exists(media) else None
                out.write(json.dumps(seen) + "\\n")
            if here == {str(checkout)!r}:
                print({FAILED_GATE!r}.replace("dc1", os.environ.get("STACK", "dc1")))
                sys.exit(int(os.environ.get("STAND_IN_UP_EXIT", "255")))
            print("[gate] dc1/meetings-media wave 1/4 PASSED in 4.1s: pods meetings-media-pod-0 serve")
            """
        )
    )
    (folder / "gh").write_text(
        GH.replace("STATE", repr(str(folder / "github.json")))
        .replace("CALLS", repr(str(folder / "gh.jsonl")))
        .replace("ARTIFACTS", repr(str(folder / "artifacts")))
        .replace("MAIN", repr(BAD))  # main's head: the release commit these replays deploy
    )
    monitoring_node.install(folder)  # `ssh` and, on each node, `curl`: the monitoring nodes
    for name in ("pulumi", "gh"):
        (folder / name).chmod(0o755)
    return folder


GH = f"""#!{sys.executable}
# A stand-in `gh` keeping a small GitHub in a JSON file: the run's artifacts (a folder per artifact),
# branches with their deployments/holds.yaml, pull requests. It answers the calls deploy.yml's `hold`
# job makes, as GitHub does (404 and 409 included), and records every call.
import base64, hashlib, json, os, shutil, sys
args = sys.argv[1:]
with open(CALLS, "a") as out:
    out.write(json.dumps(args) + "\\n")
state = json.load(open(STATE)) if os.path.exists(STATE) else {{"branches": {{}}, "prs": []}}
state["branches"].setdefault("main", {{"holds": None, "at": MAIN}})
def opt(flag):
    return args[args.index(flag) + 1]
def fields():
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-f")
def blob(text):
    data = text.encode()
    return hashlib.sha1(b"blob %d\\0" % len(data) + data).hexdigest()
def fail(message):
    print("gh: " + message, file=sys.stderr)
    sys.exit(1)
def save():
    json.dump(state, open(STATE, "w"))
if args[:2] == ["run", "download"]:
    shutil.copytree(os.path.join(ARTIFACTS, opt("--name")), opt("--dir"), dirs_exist_ok=True)
elif args[0] == "api":
    path = next(a for a in args[1:] if a.startswith("repos/"))
    if "/actions/runs/" in path:
        names = sorted(os.listdir(ARTIFACTS)) if os.path.isdir(ARTIFACTS) else []
        for name in names:  # jq's select(): one line per match, nothing when none
            if name.startswith("hold-"):
                print(name)
    elif "/git/ref/heads/" in path:
        branch = state["branches"].get(path.split("/git/ref/heads/", 1)[1])
        if branch is None:
            fail("Not Found (HTTP 404)")
        print(branch["at"] if "--jq" in args else json.dumps({{"object": {{"sha": branch["at"]}}}}))
    elif path.endswith("/git/refs"):
        branch = fields()["ref"].removeprefix("refs/heads/")
        if branch in state["branches"]:
            fail("Reference already exists (HTTP 422)")
        base = next(b for b in state["branches"].values() if b["at"] == fields()["sha"])
        state["branches"][branch] = {{"holds": base["holds"], "at": fields()["sha"]}}
        save()
    elif "-X" in args:
        given = fields()
        branch = state["branches"][given["branch"]]
        current = branch["holds"]
        if given.get("sha") != (blob(current) if current is not None else None):
            fail("is at another sha (HTTP 409)")
        branch["holds"] = base64.b64decode(given["content"]).decode()
        save()
    else:
        ref = path.split("?ref=", 1)[1]
        branch = state["branches"].get(ref) or next(
            (b for name, b in state["branches"].items() if name == "main" and b["at"] == ref), None
        )
        if branch is None or branch["holds"] is None:
            fail("Not Found (HTTP 404)")
        content = base64.encodebytes(branch["holds"].encode()).decode()
        print(json.dumps({{"content": content, "sha": blob(branch["holds"])}}))
elif args[:2] == ["pr", "list"]:
    urls = [p["url"] for p in state["prs"] if p["head"] == opt("--head") and p["state"] == "open"]
    print(urls[0] if urls else "")
elif args[:2] == ["pr", "create"]:
    url = "https://github.example/webex/webex-cloud/pull/%d" % (77 + len(state["prs"]))
    body = open(opt("--body-file")).read()
    state["prs"].append({{"url": url, "head": opt("--head"), "base": opt("--base"), "title": opt("--title"),
                         "body": body, "state": "open"}})
    save()
    print(url)
elif args[:2] == ["pr", "edit"]:
    pr = next(p for p in state["prs"] if p["url"] == args[2])
    pr.update(title=opt("--title"), body=open(opt("--body-file")).read())
    save()
else:
    fail("stand-in gh: unexpected call " + repr(args))
"""


def _github(bin_: Path) -> dict[str, Any]:
    """The stand-in GitHub's branches (main's file included) and pull requests."""
    path = bin_ / "github.json"
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"branches": {}, "prs": []}
    return state


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


def run_job(
    workflow: dict[Any, Any],
    job: str,
    *,
    cwd: Path,
    env: dict[str, str],
    values: dict[str, str],
    context: dict[str, Any],
    only: set[str],
) -> Job:
    """Run the job's steps named in ``only`` (the others' outputs exist already) in order."""
    run = Job()
    for step in workflow["jobs"][job]["steps"]:
        if step.get("name") not in only:
            continue
        condition = step.get("if", "success()")
        if not _condition(str(condition), run, context):
            run.outcomes[step.get("id", step["name"])] = "skipped"
            continue
        done = run_step(workflow, job, step, cwd=cwd, env=env, values=values, timeout=600)
        run.log += f"--- {step['name']} (exit {done.returncode})\n{done.stdout}{done.stderr}"
        key = step.get("id", step["name"])
        run.outcomes[key] = "success" if done.returncode == 0 else "failure"
        run.outputs[key] = done.outputs
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
UPLOAD = "Keep the hold record for the release's hold pull request"
HOLD_STEPS = {
    "Refuse any ref but main",
    "Fetch the hold records, main's holds and the release's hold branch",
    "Merge the holds of every stack rolled back",
    "Open or update the hold pull request",
}


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

    def values(self, commit: str, bake_s: int = 0, stack: str = "dc1") -> dict[str, str]:
        secrets = {
            "OPENSTACK_CLOUDS_YAML": "clouds: {}",
            "PULUMI_BACKEND_URL": f"file://{self.tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "fake-passphrase",
            "STATE_ACCESS_KEY_ID": "fake-id",
            "STATE_SECRET_ACCESS_KEY": "fake-secret",
            "CONTROLLER_SSH_KEY": self.key,
        }
        return RUN | {
            "inputs.stack": stack,
            "inputs.bake_s": str(bake_s),
            "inputs.timeout_minutes": "595",
            **{f"secrets.{name}": value for name, value in secrets.items()},
            "github.token": "fake-token",
            "github.sha": commit,
        }

    def up_job(self, commit: str, preview: dict[str, Any], bake_s: int = 0, stack: str = "dc1") -> Job:
        """One stack's job: its steps from the refused-release check on, then its hold record uploaded
        (as the artifact the `hold` job downloads) when that step's `if:` says so."""
        (self.root / "out").mkdir(exist_ok=True)
        # The preview of this stack: its URNs name it.
        stack_preview = json.dumps(preview).replace("urn:pulumi:dc1::", f"urn:pulumi:{stack}::")
        (self.root / "out" / "pulumi-preview.json").write_text(stack_preview)
        # What the job's images step (not replayed: it reads Glance) records: every image the release
        # boots verified, and the last good one its new media image rolls back to.
        pinned = [e["name"] for e in yaml.safe_load((self.root / IMAGE_CATALOG).read_text())["images"]]
        verified = [{"name": n, "id": f"fake-id-{n}", "verified": True} for n in pinned]
        record = {"format": RECORD_FORMAT, "stack": stack, "images": verified, "rollback": {}}
        (self.root / "out" / "images").mkdir(exist_ok=True)
        (self.root / "out" / "images" / f"{stack}.json").write_text(json.dumps(record))
        runner = self.tmp / f"runner-{commit[:4]}"
        while runner.exists():  # another stack's (or attempt's) runner
            runner = runner.with_name(f"{runner.name}+")
        runner.mkdir()
        env = {**self.env, "GITHUB_SHA": commit, "RUNNER_TEMP": str(runner)}
        values = self.values(commit, bake_s, stack)
        run = run_job(
            DEPLOY_STACK,
            "up",
            cwd=self.root,
            env=env,
            values=values,
            context={"inputs": SimpleNamespace(bake_s=bake_s)},
            only=UP_STEPS,
        )
        upload = named_step(DEPLOY_STACK, "up", UPLOAD)
        if _condition(upload["if"], run, {}):
            name = resolve(upload["with"]["name"], values)
            artifact = self.bin / "artifacts" / name
            shutil.rmtree(artifact, ignore_errors=True)  # overwrite: true
            artifact.mkdir(parents=True)
            shutil.copy(self.root / resolve(upload["with"]["path"], values), artifact)
        return run

    def fresh_checkout(self) -> None:
        """What the next job's runner checks out: main's files, none of the last job's outputs."""
        shutil.rmtree(self.root / "out", ignore_errors=True)
        (self.root / HOLDS_FILE).unlink(missing_ok=True)

    def hold_job(self, commit: str, results: dict[str, str]) -> Job | None:
        """deploy.yml's `hold` job, when its `if:` lets it run after the waves (``results``: each wave
        job's result), on a fresh checkout of the release commit."""
        job = DEPLOY["jobs"]["hold"]
        needs = {wave: SimpleNamespace(result=results.get(wave, "skipped")) for wave in job["needs"]}
        if job["if"] != "always() && contains(needs.*.result, 'failure')":
            raise AssertionError(f"hold: if: {job['if']!r} is not the form this replay understands")
        if not any(need.result == "failure" for need in needs.values()):
            return None
        self.fresh_checkout()
        env = {
            **self.env,
            "GITHUB_SHA": commit,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_STEP_SUMMARY": str(self.tmp / "hold-summary.md"),
        }
        return run_job(
            DEPLOY, "hold", cwd=self.root, env=env, values=self.values(commit), context={}, only=HOLD_STEPS
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
    for stack in ("dc1", "dc2"):  # their pairs' secrets, as their operators set them
        monitoring_node.add_fake_secrets(root / f"stacks/Pulumi.{stack}.yaml")
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

    # The hold pull request, after the waves: a branch named after the release, the holds file on it,
    # one pull request to main.
    in_checkout = (deploy.root / HOLDS_FILE).read_text()
    hold = deploy.hold_job(BAD, {"wave-1": "failure"})
    assert hold is not None and not hold.failed, hold.log if hold else ""
    branch = _github(deploy.bin)["branches"][f"hold/{BAD}"]
    assert branch["at"] == BAD and branch["holds"] == in_checkout  # what the rollback held, as it wrote it
    holds = yaml.safe_load(branch["holds"])["holds"]
    assert holds["meetings-media"]["held"] == digest(good) and holds["meetings-media"]["refused"] == digest(
        bad
    )
    assert holds["meetings-media"]["catalog"] == good and holds["meetings-media"]["reason"] == FAILED_GATE
    (pr,) = _github(deploy.bin)["prs"]
    assert pr["base"] == "main" and pr["head"] == f"hold/{BAD}"
    assert (
        "Close and reopen this pull request" in pr["body"] and "- `dc1`: held `meetings-media`" in pr["body"]
    )
    assert "https://github.example/webex/webex-cloud/pull/77" in (deploy.tmp / "hold-summary.md").read_text()

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
    assert not (deploy.root / HOLDS_FILE).exists()
    # No hold record: the `hold` job after the wave finds none and opens nothing.
    assert not (deploy.bin / "artifacts").exists()
    hold = deploy.hold_job(BAD, {"wave-1": "failure"})
    assert hold is not None and not hold.failed, hold.log if hold else ""
    assert "nothing to hold beyond main" in hold.log and _github(deploy.bin) == {"branches": {}, "prs": []}


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
    assert "[bake] dc1 FAILED after the bake: dc1/meetings-media wave 1/4 does not serve (" in summary


GATEWAY = "catalog/telepresence-gateway.yaml"


def test_two_stacks_of_a_wave_rolled_back_open_one_hold_pull_request_that_a_re_run_updates(
    deploy: Deploy,
) -> None:
    """dc2 and dc3 (wave 2) both fail the release of a new media image (two services) and roll back:
    one branch `hold/<commit>`, one pull request holding both services, each naming both stacks. A
    re-run of the failed jobs (and a later stack's record) updates that pull request, never a second."""
    (deploy.root / "stacks" / "Pulumi.dc3.yaml").write_text(datacenter_stack(3))
    monitoring_node.add_fake_secrets(deploy.root / "stacks" / "Pulumi.dc3.yaml")
    deploy.env["STAND_IN_UP_EXIT"] = "0"
    for stack in ("dc2", "dc3"):
        good_run = deploy.up_job(GOOD, IMAGE_RELEASE, stack=stack)
        assert not good_run.failed, good_run.log
    good = {name: (deploy.root / name).read_text() for name in (MEDIA, GATEWAY)}
    for name, text in good.items():
        (deploy.root / name).write_text(text.replace("webex-media-2026.11", "webex-media-2026.12"))
    bad = {name: (deploy.root / name).read_text() for name in good}
    deploy.env["STAND_IN_UP_EXIT"] = "255"
    for stack in ("dc2", "dc3"):
        deploy.fresh_checkout()  # each stack's job runs on its own datacenter's runner
        up = deploy.up_job(BAD, IMAGE_RELEASE, stack=stack)
        assert up.failed and up.outcomes["rollback"] == "success", up.log
    assert sorted(p.name for p in (deploy.bin / "artifacts").iterdir()) == ["hold-dc2", "hold-dc3"]

    # GitHub's job graph: wave 2 failed; the `hold` job runs once, after it.
    outputs = run_list_job(deploy.root, deploy.tmp)
    graph = replay(outputs, failing=frozenset({"dc2", "dc3"}))
    assert graph.order == [["dc1"], ["dc2", "dc3"]] and graph.results["hold"] == "success"
    hold = deploy.hold_job(BAD, graph.results)
    assert hold is not None and not hold.failed, hold.log if hold else ""

    github = _github(deploy.bin)
    assert sorted(github["branches"]) == [f"hold/{BAD}", "main"]
    assert github["branches"][f"hold/{BAD}"]["at"] == BAD  # main's head (here the release commit)
    holds = parse_holds(github["branches"][f"hold/{BAD}"]["holds"], "branch")
    assert sorted(holds) == ["meetings-media", "telepresence-gateway"]
    for service, name in (("meetings-media", MEDIA), ("telepresence-gateway", GATEWAY)):
        assert holds[service].held == digest(good[name]) and holds[service].refused == digest(bad[name])
        assert holds[service].stack == "dc2" and list(holds[service].also) == ["dc3"]
        assert holds[service].also["dc3"] == FAILED_GATE.replace("dc1", "dc3")
    (pr,) = github["prs"]
    assert pr["url"].endswith("/pull/77") and pr["head"] == f"hold/{BAD}" and pr["base"] == "main"
    assert (
        pr["title"]
        == f"Hold meetings-media, telepresence-gateway at the last good release: {BAD[:12]} rolled back"
    )
    for line in (
        "- `dc2`: held `meetings-media`, `telepresence-gateway`",
        "- `dc3`: held `meetings-media`, `telepresence-gateway`",
        f"- refused text: `{digest(bad[MEDIA])}`",
        f"- refused text: `{digest(bad[GATEWAY])}`",
        "Close and reopen this pull request",
    ):
        assert line in pr["body"]
    first_branch = github["branches"][f"hold/{BAD}"]["holds"]

    # "Re-run failed jobs": dc3's leg runs again and stops at the refused-release check (its last good
    # record marks the release): no new record. The `hold` job runs again: same branch, same PR.
    deploy.fresh_checkout()
    again = deploy.up_job(BAD, IMAGE_RELEASE, stack="dc3")
    assert again.outcomes["Refuse a release rolled back since the last good deploy"] == "failure"
    (deploy.bin / "gh.jsonl").unlink()
    rerun = deploy.hold_job(BAD, graph.results)
    assert rerun is not None and not rerun.failed, rerun.log if rerun else ""
    github = _github(deploy.bin)
    assert len(github["prs"]) == 1 and github["branches"][f"hold/{BAD}"]["holds"] == first_branch
    calls = _calls(deploy.bin / "gh.jsonl")
    assert ["pr", "create"] not in [call[:2] for call in calls] and all("-X" not in call for call in calls)
    assert [call[:3] for call in calls if call[:2] == ["pr", "edit"]] == [["pr", "edit", pr["url"]]]

    # A later stack that the re-run reached rolls the release back too (its record as its job leaves
    # it): the branch's file gains it, written over the branch's blob, and the same PR is updated.
    record = yaml.safe_load((deploy.bin / "artifacts" / "hold-dc3" / "dc3.yaml").read_text())
    record["stack"] = "dc4"
    for entry in record["holds"].values():
        entry.update(stack="dc4", reason=FAILED_GATE.replace("dc1", "dc4"))
    (deploy.bin / "artifacts" / "hold-dc4").mkdir()
    (deploy.bin / "artifacts" / "hold-dc4" / "dc4.yaml").write_text(yaml.safe_dump(record))
    later = deploy.hold_job(BAD, {**graph.results, "wave-3": "failure"})
    assert later is not None and not later.failed, later.log if later else ""
    github = _github(deploy.bin)
    (pr,) = github["prs"]
    holds = parse_holds(github["branches"][f"hold/{BAD}"]["holds"], "branch")
    assert all(list(hold.also) == ["dc3", "dc4"] for hold in holds.values())
    assert "- `dc4`: held `meetings-media`, `telepresence-gateway`" in pr["body"]

    # The hold pull request merged (its branch deleted); the run is re-run once more: main holds both
    # services now, so nothing is opened again.
    github["branches"]["main"]["holds"] = github["branches"].pop(f"hold/{BAD}")["holds"]
    github["prs"][0]["state"] = "merged"
    (deploy.bin / "github.json").write_text(json.dumps(github))
    after = deploy.hold_job(BAD, graph.results)
    assert after is not None and not after.failed, after.log if after else ""
    assert "nothing to hold beyond main" in after.log
    assert _github(deploy.bin) == github  # no branch, no pull request, no write


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
