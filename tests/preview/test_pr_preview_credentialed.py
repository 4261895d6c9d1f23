"""The credentialed preview (`pr-preview-credentialed.yml`), replayed against hostile branches.

A repository is made of this checkout's files (main), and a branch is pushed to it. The replay then does
what GitHub does with main's workflow file after the offline check: it resolves each `${{ }}` (every
secret a FAKE value), decides each job and step by its `if:` (the expressions evaluated, not read), runs
every `run:` step as the runner does (`bash -eo pipefail`, the step's env, a home of its own) in a clone
of main, and runs the comment job's script under node with stand-ins for the GitHub API. Stand-ins only
where the real thing needs GitHub or a cloud: the checkouts are clones of main, the install is this
venv, `pulumi` records what it is asked, and the Glance check (tests/images) is left out.

The branch's code is hostile wherever a branch could put code: `scripts/bootstrap.sh`, the package,
the policy pack, a `.pth` file. Each writes its environment and a marker if it ever runs. It never may:
no marker, no fake secret in the comment, the job summary or the report artifacts; a code change waits
for the approval; a fork gets nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.preview.helpers import CLEAN_DIGEST
from tests.workflow_replay import resolve as replay_resolve
from tests.workflow_replay import run_step

WORKFLOW: dict[Any, Any] = yaml.safe_load(
    (REPO / ".github" / "workflows" / "pr-preview-credentialed.yml").read_text()
)
SECRETS = (
    "READER_CLOUDS_YAML",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "STATE_READ_ACCESS_KEY_ID",
    "STATE_READ_SECRET_ACCESS_KEY",
)
FAKE = {name: f"fake-{name.lower()}-7c2e" for name in SECRETS} | {"github.token": "fake-github-token-7c2e"}
TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^']*')|(?P<op>&&|\|\||==|!=|!|\(|\))|(?P<call>always\(\))|(?P<ref>[A-Za-z_][\w.\[\]-]*))"
)
STAND_INS = {
    "Install (the runtime lock only, hashes required)": "the clone's .venv is this venv",
    "Install the Pulumi CLI (pinned version, SHA-256 checked)": "a recording `pulumi` on PATH",
    # It reads Glance with the reader identity (tests/images); the plan boots stand-in image ids.
    "Images verified in this datacenter": "no cloud here",
}
KEEP = ("webex_cloud", "policies", "scripts", "stacks", "catalog", "constraints", "scheduler-filters")


def evaluate(expression: str, context: dict[str, str]) -> bool:
    """A GitHub expression of the kind the workflow's `if:`s use: literals, context references,
    `==`/`!=` (strings), `!`, `&&`, `||`, parentheses, `always()`; a missing reference is ''."""
    python, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        assert match and match.end() > position, f"not understood: {expression[position:]!r}"
        position = match.end()
        if match["string"] is not None:
            python.append(repr(match["string"][1:-1]))
        elif match["op"] is not None:
            python.append({"&&": "and", "||": "or", "!": "not"}.get(match["op"], match["op"]))
        elif match["call"] is not None:
            python.append("True")
        else:
            python.append(repr(context.get(match["ref"], "")))
    return bool(eval(" ".join(python), {"__builtins__": {}}))  # our own tokens only


def _value(expr: str, context: dict[str, str]) -> str:
    if expr.startswith("secrets."):
        return FAKE[expr.removeprefix("secrets.")]
    if expr.startswith("fromJSON("):
        return context[expr.removeprefix("fromJSON(").removesuffix(")")]
    return FAKE.get(expr) or context.get(expr, "")


def resolve(text: str, context: dict[str, str]) -> str:
    return replay_resolve(text, partial(_value, context=context))


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository on GitHub: main is this checkout's program, data and scripts."""
    root = tmp_path_factory.mktemp("origin") / "repo"
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if (relative.split("/")[0] in KEEP or "/" not in relative) and source.is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / relative)
    _git(root, "init", "-q", "-b", "main")
    _commit(root, "main")
    return root


MARKER = "BRANCH-CODE-RAN"


def _hostile_code(repo: Path) -> None:
    """Code wherever a branch can put it; each piece writes the environment and a marker if it runs."""
    dump = (
        "import os, pathlib; "
        f"pathlib.Path(os.environ.get('HOME', '.'), '{MARKER}').write_text(repr(dict(os.environ)))\n"
    )
    (repo / "scripts" / "bootstrap.sh").write_text(f'#!/bin/sh\nenv > "$HOME/{MARKER}"\n')
    init = repo / "webex_cloud" / "__init__.py"
    init.write_text(init.read_text() + dump)
    (repo / "webex_cloud" / "evil.pth").write_text(dump)
    pack = next((repo / "policies").rglob("*.py"))
    pack.write_text(pack.read_text() + dump)
    with (repo / "requirements.txt").open("a") as requirements:
        requirements.write("totally-harmless-helper==1.0\n")  # a package the job would install


def _catalog_change(repo: Path) -> None:
    path = repo / "catalog" / "messaging.yaml"
    path.write_text(path.read_text() + "# one more comment line: the same service, new bytes\n")


def _stack(repo: Path, mutate: Callable[[dict[str, Any]], None], stack: str = "dc1") -> None:
    path = repo / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    mutate(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _flavor(document: dict[str, Any]) -> None:
    document["config"]["webex-cloud:datacenter"]["hosts"][0]["name"] += "x"


def _auth_url(document: dict[str, Any]) -> None:
    _flavor(document)
    document["config"]["openstack:authUrl"] = "https://203.0.113.9/v3"


def _controller_command(document: dict[str, Any]) -> None:
    _flavor(document)
    document["config"]["webex-cloud:datacenter"]["controllers"]["deploy"] = {"python": "/tmp/evil-python"}


def _code_and_data(repo: Path) -> None:
    _catalog_change(repo)
    _hostile_code(repo)


def _new_stack(repo: Path) -> None:
    text = (repo / "stacks" / "Pulumi.dc2.yaml").read_text()
    (repo / "stacks" / "Pulumi.dc9.yaml").write_text(text.replace("dc2", "dc9"))


BRANCHES: dict[str, Callable[[Path], None]] = {
    "data": _catalog_change,
    "stack-data": lambda r: _stack(r, _flavor),
    "code": _code_and_data,
    "auth-url": lambda r: _stack(r, _auth_url),
    "controller-command": lambda r: _stack(r, _controller_command),
    "new-stack": _new_stack,
}


@dataclass
class Run:
    results: dict[str, str]
    outputs: dict[str, str]
    comment: str
    pulumi_calls: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    """Everything the run wrote that a person or another job reads: summary, reports, comment."""
    workspaces: list[Path] = field(default_factory=list)
    homes: list[Path] = field(default_factory=list)


def _push(origin: Path, name: str) -> tuple[str, str]:
    base = _git(origin, "rev-parse", "main")
    if name not in _git(origin, "branch", "--list", name):
        _git(origin, "checkout", "-q", "-b", name, "main")
        BRANCHES[name](origin)
        _commit(origin, f"the pull request {name}")
        _git(origin, "checkout", "-q", "main")
    return base, _git(origin, "rev-parse", name)


def _run_steps(
    name: str, context: dict[str, str], workspace: Path, tmp: Path, exported: dict[str, str]
) -> tuple[dict[str, dict[str, str]], Path]:
    """A job's steps on a runner: `uses:` steps are the layout the caller built; each `run:` step as the
    runner runs it (tests/workflow_replay.py), its `if:` evaluated, ``exported`` standing in for what
    the steps left out would leave; returns each step's outputs and the summary."""
    home, runner_temp, summary = tmp / "home", tmp / "runner-temp", tmp / "summary.md"
    for folder in (home, runner_temp):
        folder.mkdir(exist_ok=True)
    outputs: dict[str, dict[str, str]] = {}
    context = {**context, "runner.temp": str(runner_temp)}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for step in WORKFLOW["jobs"][name]["steps"]:
        scope = {**context, **{f"steps.{k}.outputs.{n}": v for k, o in outputs.items() for n, v in o.items()}}
        if "if" in step and not evaluate(step["if"], scope):
            continue
        if "run" not in step or step.get("name") in STAND_INS:
            continue
        done = run_step(
            WORKFLOW,
            name,
            step,
            cwd=workspace,
            env=env,
            values=partial(_value, context=scope),
            exported=exported,
        )
        assert done.returncode == 0, (step.get("name"), done.stdout, done.stderr)
        if "id" in step:
            outputs[step["id"]] = done.outputs
    return outputs, summary


def _clone(origin: Path, target: Path) -> Path:
    """actions/checkout of main on a workflow_run: main's tree, its own .venv from bootstrap.sh."""
    subprocess.run(["git", "clone", "-q", str(origin), str(target)], check=True, capture_output=True)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def _needs_ok(job: dict[str, Any], results: dict[str, str]) -> bool:
    needs = job.get("needs", [])
    return all(results[n] == "success" for n in ([needs] if isinstance(needs, str) else needs))


def _job_runs(name: str, context: dict[str, str], results: dict[str, str]) -> bool:
    job = WORKFLOW["jobs"][name]
    condition = job.get("if", "success()")
    # Without a status function GitHub adds `success()`: every needed job succeeded.
    if "always()" not in condition and not _needs_ok(job, results):
        return False
    scope = {**context, **{f"needs.{n}.result": r for n, r in results.items()}}
    return evaluate(condition, scope)


PULUMI = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["CALLS"], "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1] == "preview":
    args = sys.argv[1:]
    open(args[args.index("--event-log") + 1], "w").close()
    stack = args[args.index("--stack") + 1].rsplit("/", 1)[-1]
    print(json.dumps({CLEAN_DIGEST!r}).replace("urn:pulumi:dc1::", f"urn:pulumi:{{stack}}::"))
"""

HARNESS = r"""
const fs = require('fs');
const calls = [];
const core = { summary: { addRaw: (t) => ({ write: async () => fs.writeFileSync('summary.md', t) }) } };
const context = { repo: { owner: 'o', repo: 'r' } };
const github = {
  paginate: async () => [],
  rest: { issues: {
    listComments: 'listComments',
    createComment: async (args) => calls.push(args.body),
    updateComment: async (args) => calls.push(args.body),
  } },
};
(async () => {
SCRIPT
})().then(() => fs.writeFileSync('calls.json', JSON.stringify(calls)));
"""


def replay(origin: Path, tmp: Path, branch: str, *, approved: bool, fork: bool = False) -> Run:
    base, head = _push(origin, branch)
    tmp.mkdir(parents=True, exist_ok=True)
    context = {
        "github.event.workflow_run.event": "pull_request",
        "github.event.workflow_run.conclusion": "success",
        "github.event.workflow_run.head_sha": head,
        "github.event.workflow_run.pull_requests[0].number": "" if fork else "12",
        "github.event.workflow_run.pull_requests[0].base.sha": "" if fork else base,
        "github.event.workflow_run.head_repository.full_name": "someone/webex-cloud" if fork else "o/r",
        "github.repository": "o/r",
        "github.server_url": "https://github.example.invalid",
        "github.run_id": "1",
    }
    results: dict[str, str] = {}
    run = Run(results=results, outputs={}, comment="")
    calls = tmp / "pulumi-calls.txt"
    calls.touch()
    if _job_runs("classify", context, results):
        job = WORKFLOW["jobs"]["classify"]
        workspace = _clone(origin, tmp / "classify" / "main")
        steps, summary = _run_steps("classify", context, workspace, tmp / "classify", {})
        run.outputs = {
            name: resolve(
                value, {f"steps.{k}.outputs.{n}": v for k, o in steps.items() for n, v in o.items()}
            )
            for name, value in job["outputs"].items()
        }
        results["classify"] = "success"
        run.workspaces.append(workspace)
        run.homes.append(tmp / "classify" / "home")
        run.written.append(summary)
    else:
        results["classify"] = "skipped"
    context |= {f"needs.classify.outputs.{k}": v for k, v in run.outputs.items()}
    results["approve"] = (
        ("success" if approved else "failure") if _job_runs("approve", context, results) else "skipped"
    )
    results["preview"] = "skipped"
    if _job_runs("preview", context, results):
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "pulumi").write_text(PULUMI)
        (bin_dir / "pulumi").chmod(0o755)
        for leg in json.loads(context["needs.classify.outputs.stacks"]):
            stack, where = leg["stack"], tmp / f"preview-{leg['stack']}"
            workspace = _clone(origin, where / "main")
            shutil.copytree(tmp / "classify" / "runner-temp" / "pr-data", where / "runner-temp" / "pr-data")
            legs = {**context, "matrix.stack": stack}
            exported = {
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                "CALLS": str(calls),
                "WEBEX_IMAGE_IDS": "stand-in",
            }
            _, summary = _run_steps("preview", legs, workspace, where, exported)
            run.workspaces.append(workspace)
            run.homes.append(where / "home")
            run.written += [summary, *(workspace / "out" / "report").rglob("*")]
        results["preview"] = "success"
    run.pulumi_calls = calls.read_text().splitlines()
    run.comment = _comment(tmp / "comment", context, results)
    run.written.append(tmp / "comment" / "summary.md")
    return run


def _comment(folder: Path, context: dict[str, str], results: dict[str, str]) -> str:
    """The comment job's github-script under node, with its env resolved as GitHub resolves it."""
    job = WORKFLOW["jobs"]["comment"]
    assert _job_runs("comment", context, results)
    (step,) = [s for s in job["steps"] if "github-script" in s.get("uses", "")]
    scope = {**context, **{f"needs.{n}.result": r for n, r in results.items()}}
    env = {k: resolve(str(v), scope) for k, v in step["env"].items()}
    folder.mkdir()
    (folder / "script.js").write_text(HARNESS.replace("SCRIPT", step["with"]["script"]))
    node = shutil.which("node")
    assert node is not None, "node is needed to replay the comment (github-script runs on node)"
    subprocess.run([node, "script.js"], cwd=folder, env={**os.environ, **env}, check=True, timeout=60)
    posted: list[str] = json.loads((folder / "calls.json").read_text())
    summary = (folder / "summary.md").read_text()
    assert posted in ([summary], []), posted
    return summary


def _no_secret_and_no_branch_code(run: Run) -> None:
    text = "\n".join(p.read_text(errors="replace") for p in run.written if p.is_file())
    assert text.strip(), "the run wrote nothing to check"
    leaked = sorted(name for name, value in FAKE.items() if value in text)
    assert leaked == [], f"{leaked} reached what the run wrote"
    assert not [home for home in run.homes if (home / MARKER).exists()], "the branch's code ran"
    for workspace in run.workspaces:  # main's code, whatever the branch's is
        changed = _git(workspace, "status", "--porcelain", "--untracked-files=no", "--", *KEEP[:3])
        assert changed == "", changed
        assert not (workspace / "webex_cloud" / "evil.pth").exists()


def test_a_data_pull_request_is_previewed_by_mains_code_without_approval(
    origin: Path, tmp_path: Path
) -> None:
    run = replay(origin, tmp_path, "data", approved=False)
    assert run.outputs["kind"] == "data" and json.loads(run.outputs["stacks"]) == [
        {"stack": "dc1"},
        {"stack": "dc2"},
    ]
    assert run.results == {"classify": "success", "approve": "skipped", "preview": "success"}
    previews = [c for c in run.pulumi_calls if c.startswith("preview")]
    assert len(previews) == 2 and all("--policy-pack policies " in c for c in previews)
    assert not [c for c in run.pulumi_calls if c.split()[0] not in ("login", "preview")]  # no `up`
    assert "ran without approval" in run.comment and "did not pass" not in run.comment
    _no_secret_and_no_branch_code(run)


@pytest.mark.parametrize("approved", [False, True], ids=["waiting", "approved"])
def test_a_code_pull_request_previews_only_once_approved_and_then_with_mains_code(
    origin: Path, tmp_path: Path, approved: bool
) -> None:
    run = replay(origin, tmp_path, "code", approved=approved)
    _no_secret_and_no_branch_code(run)
    assert run.outputs["kind"] == "code"
    verdict = json.loads((tmp_path / "classify" / "runner-temp" / "pr-data" / "verdict.json").read_text())
    assert {path for path, judged in verdict["paths"].items() if judged["kind"] == "code"} >= {
        "requirements.txt",
        "scripts/bootstrap.sh",
        "webex_cloud/__init__.py",
        "webex_cloud/evil.pth",
    }
    assert list(verdict["files"]) == ["catalog/messaging.yaml"]  # only data reaches the overlay
    assert run.results["approve"] == ("success" if approved else "failure")
    assert run.results["preview"] == ("success" if approved else "skipped")
    assert any(c.startswith("preview") for c in run.pulumi_calls) is approved
    assert ("Waiting for approval" in run.comment) is not approved


@pytest.mark.parametrize("branch", ["auth-url", "controller-command"])
def test_a_stack_file_moving_mains_fields_is_code_and_previews_mains_fields(
    origin: Path, tmp_path: Path, branch: str
) -> None:
    run = replay(origin, tmp_path, branch, approved=True)
    assert run.outputs["kind"] == "code" and run.results["preview"] == "success"
    (laid,) = [w for w in run.workspaces if w.parent.name == "preview-dc1"]
    on_main = yaml.safe_load(_git(origin, "show", "main:stacks/Pulumi.dc1.yaml"))
    previewed = yaml.safe_load((laid / "stacks" / "Pulumi.dc1.yaml").read_text())
    main_dc, previewed_dc = (
        on_main["config"]["webex-cloud:datacenter"],
        previewed["config"]["webex-cloud:datacenter"],
    )
    assert {k: v for k, v in previewed["config"].items() if k.startswith("openstack:")} == {
        k: v for k, v in on_main["config"].items() if k.startswith("openstack:")
    }
    assert previewed_dc["controllers"].get("deploy") == main_dc["controllers"].get("deploy")
    assert previewed_dc["hosts"][0]["name"] == main_dc["hosts"][0]["name"] + "x"  # the data did go through
    # Refused without the approval.
    waiting = replay(origin, tmp_path / "waiting", branch, approved=False)
    assert waiting.results["preview"] == "skipped" and waiting.pulumi_calls == []


def test_a_new_stack_file_is_code_and_gets_no_runner_or_environment(origin: Path, tmp_path: Path) -> None:
    run = replay(origin, tmp_path, "new-stack", approved=True)
    assert run.outputs["kind"] == "code" and "dc9" not in run.outputs["stacks"]
    assert run.pulumi_calls == [] and run.results["preview"] == "skipped"
    assert "changes no stack's data" in run.comment


def test_a_fork_gets_the_offline_check_only(origin: Path, tmp_path: Path) -> None:
    run = replay(origin, tmp_path, "data", approved=True, fork=True)
    assert run.results == {"classify": "success", "approve": "skipped", "preview": "skipped"}
    assert run.outputs["same_repo"] == "false" and run.pulumi_calls == []
    assert "comes from a fork" in run.comment
    assert not (tmp_path / "classify" / "runner-temp" / "pr-data").exists()  # nothing of it was read


def test_the_one_suppression_is_the_trigger_and_names_its_invariant() -> None:
    text = (REPO / ".github" / "workflows" / "pr-preview-credentialed.yml").read_text()
    (suppressed,) = [line for line in text.splitlines() if "zizmor: ignore" in line]
    assert suppressed.strip().startswith("workflow_run:") and "main's code only" in suppressed
    assert list(WORKFLOW[True]) == ["workflow_run"] and WORKFLOW["permissions"] == {}
    for name, job in WORKFLOW["jobs"].items():
        checkouts = [s for s in job["steps"] if "actions/checkout" in s.get("uses", "")]
        # main's tree only: no `ref:` that could name the branch, no token kept in .git/config.
        assert all(
            s["with"] == {**s["with"], "persist-credentials": False} and "ref" not in s["with"]
            for s in checkouts
        ), name
        secrets = "secrets." in json.dumps(job)
        assert secrets is (name == "preview"), name
    assert WORKFLOW["jobs"]["preview"]["runs-on"][:2] == ["self-hosted", "webex-preview"]
