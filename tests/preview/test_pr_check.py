"""The pull-request check end to end, in the layout .github/workflows/pr-preview.yml gives it.

Two checkouts side by side, as the workflow's two `actions/checkout` steps leave them:

- ``pr/``: this working tree's files (tracked and new, as `git ls-files` lists them) with its
  ``.venv`` (a link to the one running the tests; in CI `scripts/bootstrap.sh` creates it), and the
  scheduler filters and policy rules of ``pr/`` itself first on the path, as its editable installs are;
- ``base/``: a plain clone of an *older* commit (:data:`BASE_COMMIT`, or HEAD in a clone without it),
  no venv: its plan is rendered by its own code through the stable command line.

Scenarios that judge a change use a base at this tree's own commit (the edit is then the whole change);
scenarios that judge the base itself use the older commit, rendered by its own code.
Every run is the command the workflow runs, `python -m webex_cloud pr-check`, and every verdict is read
from what the workflow posts and uploads: the exit status, ``comment.md`` and ``<stack>/preview.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.preview.helpers import CLEAN_DIGEST, MANDATORY_VIOLATION, PORT_URN, STACK_URN, fake_pulumi
from tests.workflow_replay import load, resolve, run_step
from webex_cloud.commands import comment
from webex_cloud.commands.pr_check import (
    BASE_NOT_COMPARED,
    BASE_PLAN_ARGS,
    EMPTY_BASE_NOTE,
    SAME_INPUTS_NOTE,
    base_env,
)
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.risks import HEALTH_GATE_TYPES

#: The `pull_request` event the replays give the workflow: what its `${{ github.event.* }}` read.
EVENT: dict[str, Any] = {
    "pull_request": {
        "number": 29,
        "head": {"sha": "0123456789abcdef0123456789abcdef01234567"},
        "base": {"sha": "fedcba9876543210fedcba9876543210fedcba98"},
    }
}
BASE_SHA = EVENT["pull_request"]["base"]["sha"]
#: An older commit of this repository: the first whose `plan` takes `--stack S --out DIR --no-policy`.
BASE_COMMIT = "3f3f3647de7395ecaaa5a598b2dd32aa53aa65f6"

# Each scenario runs the whole check in subprocesses (and a venv for an older base): the full tier runs
# them (CI always does).
pytestmark = pytest.mark.full_tier


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def _clone(target: Path, commit: str) -> Path:
    """A plain checkout of ``commit`` (falls back to HEAD in a clone without it): no venv, no .git."""
    _git("clone", "--quiet", "--shared", "--no-checkout", str(REPO), str(target))
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=target, capture_output=True, check=False
    )
    _git("checkout", "--quiet", "--detach", commit if known.returncode == 0 else "HEAD", cwd=target)
    shutil.rmtree(target / ".git")
    return target


@pytest.fixture(scope="module")
def base_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The older base commit, cloned once; each test copies it."""
    return _clone(tmp_path_factory.mktemp("base-clone") / "base", BASE_COMMIT)


@dataclass
class Layout:
    root: Path
    pr: Path
    base: Path
    out: Path
    caches: dict[str, Path] = field(default_factory=dict)
    """The stand-in of GitHub's cache store for this pull request: key -> saved folder, oldest first."""

    def run(self, *args: str, path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = f"{self.pr / 'scheduler-filters' / 'src'}{os.pathsep}{self.pr / 'policies'}"
        if path_prefix is not None:
            env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
        return subprocess.run(
            [
                str(self.pr / ".venv" / "bin" / "python"),
                "-m",
                "webex_cloud",
                "pr-check",
                "--base-dir",
                "../base",
                "--out",
                "../out",
                "--commit",
                "0123456789abcdef",
                *args,
            ],
            cwd=self.pr,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def replay_workflow(self) -> tuple[int, str]:
        """The workflow's own `run:` scripts, unchanged, as GitHub runs them (`bash -eo pipefail`, in
        `pr/`), with the step's own `env:` evaluated over :data:`EVENT`: the check, then the verdict
        step with the status the check left in $GITHUB_OUTPUT. ``base/`` stands for the commit the
        workflow's base checkout names, which must be the event's base.sha."""
        workflow = load("pr-preview.yml")
        steps = workflow["jobs"]["check"]["steps"]
        (base_checkout,) = [s["with"] for s in steps if s.get("with", {}).get("path") == "base"]
        assert _expand(base_checkout["ref"]) == BASE_SHA
        check = next(s for s in steps if s.get("id") == "check")
        assert check["working-directory"] == "pr"
        saved = self._restore_caches(steps)
        env = dict(os.environ)
        env["PYTHONPATH"] = f"{self.pr / 'scheduler-filters' / 'src'}{os.pathsep}{self.pr / 'policies'}"
        ran = run_step(workflow, "check", check, cwd=self.pr, env=env, values=_event_value, timeout=900)
        assert ran.returncode == 0, ran.stderr  # the step itself never fails: the verdict step does
        saved()
        rc = ran.outputs["rc"]
        values = {"steps.check.outputs.rc": rc}
        verdict = run_step(workflow, "check", steps[-1], cwd=self.root, env=os.environ, values=values)
        return verdict.returncode, rc

    def _restore_caches(self, steps: list[dict[str, Any]]) -> Callable[[], None]:
        """The workflow's `actions/cache` steps on a new runner: the folder is gone, then restored
        from the entry whose key is the step's key, else the newest one whose key starts with a
        restore key; the returned post step saves the folder under the key when it missed, as the
        action's post step does (an exact hit is never saved again)."""
        posts: list[Callable[[], None]] = []
        for step in steps:
            if not step.get("uses", "").startswith("actions/cache@"):
                continue
            folder = self.root / step["with"]["path"]
            key = _expand(step["with"]["key"])
            prefixes = _expand(step["with"].get("restore-keys", "")).split()
            shutil.rmtree(folder, ignore_errors=True)
            found = key if key in self.caches else None
            for prefix in prefixes:
                found = found or next((k for k in reversed(self.caches) if k.startswith(prefix)), None)
            if found is not None:
                shutil.copytree(self.caches[found], folder)

            def save(folder: Path = folder, key: str = key, hit: bool = found == key) -> None:
                if not hit and folder.is_dir():
                    self.caches[key] = self.root / "actions-cache" / key
                    shutil.copytree(folder, self.caches[key])

            posts.append(save)

        def post_steps() -> None:
            for post in posts:
                post()

        return post_steps

    def comment(self) -> str:
        return (self.out / "comment.md").read_text(encoding="utf-8")

    def report(self, stack: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / stack / "preview.json").read_text())
        return document

    def edit(self, relative: str, change: Any) -> None:
        path = self.pr / relative
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def _event_value(expr: str) -> str:
    """`${{ github.event.<path> }}` read from :data:`EVENT`; any other expression is one this replay
    cannot stand in for, and fails it."""
    found: Any = {"github": {"event": EVENT}}
    for key in expr.split("."):
        assert isinstance(found, dict) and key in found, f"the replay has no {expr}"
        found = found[key]
    return str(found)


def _expand(value: str) -> str:
    """A workflow value with its expressions read by :func:`_event_value`."""
    return resolve(value, _event_value)


def _layout(root: Path, base_source: Path | None) -> Layout:
    """``pr/`` is this tree; ``base/`` a copy of ``base_source``, or of ``pr/`` itself when None."""
    pr, base = root / "pr", root / "base"
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (pr / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, pr / name)
    if base_source is None:
        shutil.copytree(pr, base)
    else:
        shutil.copytree(base_source, base)
        # A pull request's base is main's tip, whose policy pack this tree's is: the older commit is
        # here for the base-plan contract, and its pack predates the policies this harness's config names.
        shutil.rmtree(base / "policies")
        shutil.copytree(
            REPO / "policies",
            base / "policies",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".*"),
        )
    (pr / ".venv").symlink_to(Path(sys.prefix))
    return Layout(root=root, pr=pr, base=base, out=root / "out")


@pytest.fixture
def layout(tmp_path: Path, base_source: Path) -> Layout:
    """This tree as the pull request over the older base commit, rendered by that commit's own code
    (every change since then shows; the scenarios here judge the base and the preview themselves)."""
    return _layout(tmp_path / "ws", base_source)


@pytest.fixture
def same_layout(tmp_path: Path) -> Layout:
    """This tree over itself, uncommitted edits included: a scenario's edit is then the whole change."""
    return _layout(tmp_path / "ws", None)


def test_the_base_renders_through_the_stable_contract() -> None:
    """The command line the base is rendered with never changes (older commits must keep working)."""
    assert BASE_PLAN_ARGS == ("plan", "--stack", "{stack}", "--out", "{out}", "--no-policy")


def test_no_change_checks_no_stack_and_passes(same_layout: Layout) -> None:
    """The workflow passes --changed-only: a pull request that changes no input of any stack (here,
    nothing at all) checks none, and the comment says so and against which base commit."""
    layout = same_layout
    job, rc = layout.replay_workflow()
    assert (job, rc) == (0, "0")
    body = layout.comment()
    steps = len(comment.STEPS)
    for stack in ("dc1", "dc2"):
        assert f"| `{stack}` | {'⏸️ unchanged | ' * steps}✅ unchanged since the base |" in body
    assert f"compared file by file with the base commit `{BASE_SHA[:12]}`" in body
    assert "- checked: none (no input of any stack changed)" in body
    assert "- not checked, the same inputs as the base: `dc1`, `dc2`" in body
    assert not any((layout.out / s / "plan.rc").exists() for s in ("dc1", "dc2"))
    # The merge deploys the unchanged stacks too: the workflow's --drift (no report fetched here) says so.
    for stack in ("dc1", "dc2"):
        assert f"no drift report of {stack} from the daily drift run" in body


def test_a_code_change_checks_every_stack(same_layout: Layout) -> None:
    """A change to the code (one comment line: the plans stay the same) re-plans every stack: the
    workflow's --changed-only never skips a stack when the code differs from the base's."""
    layout = same_layout
    naming = layout.pr / "webex_cloud" / "naming.py"
    naming.write_text(naming.read_text() + "# A comment renders the same plans, yet is code.\n")
    job, rc = layout.replay_workflow()
    assert (job, rc) == (0, "0")
    body = layout.comment()
    assert "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | ✅ no changes |" in body
    assert "| `dc2` | ✅ | ✅ | ✅ | ✅ | ✅ | ✅ no changes |" in body
    assert "- checked because the code differs from the base's: `dc1`, `dc2`" in body
    assert "- not checked" not in body and comment.UNCHANGED_CELL not in body
    # Each stack's placement picture is in the uploaded folder, and the comment says where.
    assert all((layout.out / s / "placement.svg").read_text().startswith("<?xml") for s in ("dc1", "dc2"))
    assert "artifact: `dc1/placement.svg` · `dc2/placement.svg`" in body
    assert "**dc1 alerts**: 0 added, 0 removed, 0 changed" in body
    # The base used this branch's venv: the requirements are the same.
    assert "base requirements equal" in (layout.out / "pr-check.txt").read_text()
    # The next push of the same pull request, on a new runner: the workflow's cache gives back the
    # base plans its first run kept, and no base plan is rendered again.
    rendered = {stack: layout.report(stack) for stack in ("dc1", "dc2")}
    shutil.rmtree(layout.out)  # a new runner: nothing of the first run's outputs
    assert (job, rc) == layout.replay_workflow() == (0, "0")
    for stack in ("dc1", "dc2"):
        assert "base plan reused from" in (layout.out / stack / "base-plan.txt").read_text()
        assert layout.report(stack) == rendered[stack]
    assert not (layout.out / "base-plans.txt").exists()


NEW_SERVICE = """\
name: chat-bots
owner: team-messaging
network:
  prefix_length: 26
  ingress:
    - {protocol: tcp, ports: 443, source: any}
pods:
  count: 2
  members:
    - {role: bot, flavor: m1.small, image: webex-base-2026.11, count: 1}
"""


def _new_service(layout: Layout) -> None:
    # The placement proof is real and the example hosts are full: the pull request brings hosts too.
    (layout.pr / "catalog" / "chat-bots.yaml").write_text(NEW_SERVICE)
    for stack in ("dc1", "dc2"):

        def add_hosts(doc: dict[str, Any], stack: str = stack) -> None:
            hosts = doc["config"]["webex-cloud:datacenter"]["hosts"]
            zone = hosts[0]["availability_zone"]
            for number in (90, 91, 92):
                hosts.append(
                    {
                        "name": f"{stack}-compute-{number}",
                        "vcpus": 48,
                        "ram_mb": 196608,
                        "availability_zone": zone,
                    }
                )

        layout.edit(f"stacks/Pulumi.{stack}.yaml", add_hosts)


def _yaml_block(text: str) -> str:
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_a_new_service_fails_until_its_subnets_are_pinned_with_the_lines_given(same_layout: Layout) -> None:
    layout = same_layout
    _new_service(layout)
    done = layout.run()
    assert done.returncode == ExitCode.BLOCKING, done.stdout + done.stderr
    body = layout.comment()
    assert "unpinned-subnet" in body
    for stack in ("dc1", "dc2"):
        (risk,) = [r for r in layout.report(stack)["blocking"] if r["kind"] == "unpinned-subnet"]
        lines = _yaml_block(risk["reason"])
        assert lines.strip().startswith("chat-bots: 10.")
        # Paste the lines exactly as given, under `subnets:` of that stack file.
        stack_file = layout.pr / "stacks" / f"Pulumi.{stack}.yaml"
        text = stack_file.read_text()
        stack_file.write_text(text.replace("    subnets:\n", "    subnets:\n" + lines, 1))
    done = layout.run()
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    dc1 = layout.report("dc1")
    assert dc1["blocking"] == [] and dc1["counts"]["create"] > 0
    assert {c["action"] for c in dc1["changes"]} == {"create"}
    assert "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | ✅ " in layout.comment()
    assert "chat-bots" in layout.comment()
    # The new service's alerts, and who receives them, are in the comment too.
    alerts = (layout.out / "dc1" / "alerts.md").read_text()
    assert alerts.startswith("**dc1 alerts**: 3 added, 0 removed, 0 changed")
    assert "- added `ServiceBelowReleaseFloor` (`service-chat-bots`, `page`, to `team-messaging`): " in alerts
    assert alerts in layout.comment()


def test_an_image_release_gets_the_verdict_of_the_release_rules(same_layout: Layout) -> None:
    layout = same_layout

    def release(doc: dict[str, Any]) -> None:
        for member in doc["pods"]["members"]:
            member["image"] = "webex-base-2026.12"

    def pin(catalog: dict[str, Any]) -> None:  # a new image is pinned in the image catalog first
        current = next(e for e in catalog["images"] if e["name"] == "webex-base-2026.11")
        new = {**current, "name": "webex-base-2026.12", "previous": "webex-base-2026.11", "sha256": "6" * 64}
        catalog["images"].append({**new, "digests": {"sha512": "6" * 128}})

    layout.edit("catalog/images/images.yaml", pin)
    for stack in ("dc1", "dc2"):  # the policy check reads the peer stack too
        layout.edit(
            f"stacks/Pulumi.{stack}.yaml",
            lambda doc: doc["config"]["webex-cloud:datacenter"]["images"].append("webex-base-2026.12"),
        )
    layout.edit("catalog/meetings-signalling.yaml", release)
    done = layout.run("--stack", "dc1")
    report = layout.report("dc1")
    plan = json.loads((layout.out / "dc1" / "plan-files" / "dc1.json").read_text())
    # The release rules (webex_cloud.preview.risks.in_waves): every pod at once is blocking, unless the
    # pods are rolled in health-gated waves. This plan has no health gate between the pods.
    gated = any(
        r["type"] in HEALTH_GATE_TYPES and "meetings-signalling" in r["name"] for r in plan["resources"]
    )
    downtime = [r for r in report["blocking"] if r["kind"] == "downtime"]
    if gated:
        assert downtime == [] and done.returncode == ExitCode.OK, done.stdout
        # The pull-request comment announces how the waves are judged (the catalog's own metrics and
        # their limits: meetings-signalling declares them) and that they roll back; a service judged by
        # its users' calls is not warned as judged by TCP connects (docs/releasing.md, 4a).
        comment = layout.comment()
        assert "each wave bakes 300s, then is judged on call-error-ratio, call-latency-p95 (" in comment
        assert "call-error-ratio fails when new > old + 0.01 or new > 0.02" in comment
        assert "rolls back automatically (docs/releasing.md)" in comment
        assert "judged only by TCP connects, which pass while the service fails its calls" not in comment
        # The pack is told what this change releases (the base plan against the branch's): it warns
        # no TCP-only service that this change leaves alone (messaging, meetings-media, ...), in this
        # branch's pack and main's, and main's writes the list a real `pulumi preview` is given.
        for step in ("policy", "main-policy"):
            assert "release-judged-by-users" not in (layout.out / "dc1" / f"{step}.txt").read_text()
        written = json.loads((layout.out / "dc1" / "policy-config.json").read_text())
        assert written["release-judged-by-users"]["releasedServices"] == ["meetings-signalling"]
    else:
        assert [r["subject"] for r in downtime] == ["service `meetings-signalling`"]
        assert done.returncode == ExitCode.BLOCKING
        assert (
            "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | 🛑 " in layout.comment()
            and "**downtime**" in layout.comment()
        )


def test_removing_a_volume_group_fails_as_data_loss(same_layout: Layout) -> None:
    layout = same_layout
    layout.edit("catalog/messaging.yaml", lambda doc: doc.update(volume_groups=[]))
    job, rc = layout.replay_workflow()
    assert (job, rc) == (1, str(int(ExitCode.BLOCKING)))
    losses = [r for r in layout.report("dc1")["blocking"] if r["kind"] == "data-loss"]
    assert len(losses) == 3 and all("deleted; its data is lost" in r["reason"] for r in losses)
    assert "🛑 **data-loss**" in layout.comment()


def test_a_stack_the_base_does_not_have_is_all_creates_and_passes(layout: Layout) -> None:
    # A base commit from before dc2 existed: its checkout has no dc2 stack file.
    (layout.base / "stacks" / "Pulumi.dc2.yaml").unlink()
    done = layout.run("--stack", "dc2")
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    report = layout.report("dc2")
    assert {c["action"] for c in report["changes"]} == {"create"} and report["unchanged"] == 0
    assert EMPTY_BASE_NOTE.format(stack="dc2") in report["notes"]


def test_a_base_that_fails_to_render_is_unusable_never_empty(layout: Layout) -> None:
    (layout.base / "catalog" / "messaging.yaml").write_text("name: messaging\npods: [unclosed\n")
    done = layout.run("--stack", "dc1")
    assert done.returncode == ExitCode.INPUT, done.stdout + done.stderr
    body = layout.comment()
    assert "### Stack `dc1` — base unusable" in body
    assert "| `dc1` | ✅ | ✅ | ✅ | ✅ | ❌ exit 2 | ❌ exit 2 |" in body
    assert not (layout.out / "dc1" / "preview.json").exists()  # no diff against nothing
    assert "catalog/messaging.yaml" in (layout.out / "dc1" / "base-plan.txt").read_text()


def test_base_requirements_that_differ_get_the_base_its_own_venv(layout: Layout) -> None:
    # Shaped like an older base whose runtime needs are different: here, none at all. Its own venv then
    # has no Pulumi SDK, so its plan fails: proof that it was not rendered with this branch's venv.
    (layout.base / "requirements.txt").write_text("# nothing yet\n")
    done = layout.run("--stack", "dc1")
    assert (layout.base / ".venv" / "bin" / "python").exists()
    assert "base requirements differ" in (layout.out / "pr-check.txt").read_text()
    assert done.returncode == ExitCode.INPUT
    assert "No module named" in (layout.out / "dc1" / "base-plan.txt").read_text()


def test_a_real_preview_that_failed_fails_and_shows_the_error(layout: Layout) -> None:
    message = "<{%reset%}>creating port: Expected HTTP response code [201] when accessing [POST "
    message += "http://127.0.0.1:9696/v2.0/ports], but got 409 instead: IP address in use<{%reset%}>\n"
    digest = {
        "steps": [
            {"op": "same", "urn": STACK_URN, "newState": {"type": "pulumi:pulumi:Stack", "urn": STACK_URN}}
        ],
        "diagnostics": [{"urn": PORT_URN, "message": message, "severity": "error"}],
        "changeSummary": {"same": 1},
    }
    events = [
        {"sequence": 0, "timestamp": 1764583200, "preludeEvent": {"config": {}}},
        {
            "sequence": 1,
            "timestamp": 1764583201,
            "diagnosticEvent": {"urn": PORT_URN, "message": message, "color": "never", "severity": "error"},
        },
    ]
    fake = fake_pulumi(layout.root / "bin", digest, events, 255)
    done = layout.run("--stack", "dc1", "--pulumi", path_prefix=fake)
    assert done.returncode == ExitCode.INPUT, done.stdout + done.stderr
    body = layout.comment()
    assert (
        "**The preview failed**" in body
        and "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | ❌ preview failed (exit 2) |" in body
    )
    assert "messaging-pod-0-app-0-port: creating port: Expected HTTP response code [201]" in body
    assert "<{%reset%}>" not in body and "No blocking change" not in body


def test_a_mandatory_violation_only_the_event_log_has_fails_the_check(layout: Layout) -> None:
    """`--json` drops policy events (pkg/backend/display/json.go): the digest is clean, the exit is not."""
    fake = fake_pulumi(layout.root / "bin", CLEAN_DIGEST, MANDATORY_VIOLATION, 255)
    done = layout.run("--stack", "dc1", "--pulumi", path_prefix=fake)
    assert done.returncode == ExitCode.BLOCKING, done.stdout + done.stderr
    (risk,) = layout.report("dc1")["blocking"]
    assert risk["kind"] == "policy" and risk["subject"].startswith("`no-public-admin-ports` (mandatory)")
    assert "🛑 **policy**" in layout.comment()


def test_base_plans_are_reused_while_the_base_checkout_is_unchanged(same_layout: Layout) -> None:
    layout = same_layout
    cache = layout.root / "base-plans"
    first = layout.run("--stack", "dc1", "--base-cache", str(cache))
    assert first.returncode == ExitCode.OK, first.stdout + first.stderr
    rendered = layout.report("dc1")
    assert len(list(cache.glob("*.json"))) == 1

    # The same inputs on both sides: one plan, kept once, is both this branch's and the base's.
    again = layout.run("--stack", "dc1", "--base-cache", str(cache))
    assert again.returncode == ExitCode.OK, again.stdout + again.stderr
    assert "plan reused from" in (layout.out / "dc1" / "plan.txt").read_text()
    assert (layout.out / "dc1" / "base-plan.txt").read_text() == SAME_INPUTS_NOTE + "\n"
    assert layout.report("dc1") == rendered

    # Any change to the base checkout is another key: rendered again, never the kept plan. (The new
    # owner gets a receiver too: an owner nobody is alerted for is invalid, docs/monitoring.md.)
    (layout.base / "catalog" / "messaging.yaml").write_text(
        (layout.base / "catalog" / "messaging.yaml").read_text().replace("team-messaging", "team-chat")
    )
    for stack_file in (layout.base / "stacks").glob("Pulumi.*.yaml"):
        stack = yaml.safe_load(stack_file.read_text())
        receivers = stack["config"]["webex-cloud:datacenter"]["monitoring"]["receivers"]
        receivers["team-chat"] = receivers["team-messaging"]
        stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))
    changed = layout.run("--stack", "dc1", "--base-cache", str(cache))
    assert "base plan reused" not in (layout.out / "dc1" / "base-plan.txt").read_text()
    assert changed.returncode == ExitCode.OK, changed.stdout + changed.stderr
    assert len(list(cache.glob("*.json"))) == 2
    assert layout.report("dc1") != rendered  # the owner tag changed: updates against the old base


def _as_the_base_renders_them(layout: Layout, folder: Path) -> None:
    """Every stack's base plan in the check is byte for byte what the base's own code renders."""
    for stack in ("dc1", "dc2"):
        contract = [part.format(stack=stack, out=folder) for part in BASE_PLAN_ARGS]
        subprocess.run(
            [sys.executable, "-m", "webex_cloud", *contract],
            cwd=layout.base,
            env=base_env(layout.base),
            capture_output=True,
            check=True,
            timeout=600,
        )
        checked = layout.out / stack / "base-files" / f"{stack}.json"
        assert checked.read_bytes() == (folder / f"{stack}.json").read_bytes(), stack


def test_a_stack_with_the_same_inputs_on_both_sides_is_planned_once(same_layout: Layout) -> None:
    """Issue 29: a pull request that edits one stack's file plans that stack twice (this branch's
    plan and the base's) and every other stack once, its plan being both; a catalog change plans
    every stack twice. Either way each base plan is the one the base's own code renders."""
    layout = same_layout
    layout.edit(
        "stacks/Pulumi.dc2.yaml",
        lambda doc: doc["config"]["webex-cloud:datacenter"].update(region="RegionTwo"),
    )
    done = layout.run()
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "dc1 plan: exit 0" in done.stdout and "dc2 plan: exit 0" in done.stdout
    assert (layout.out / "dc1" / "base-plan.txt").read_text() == SAME_INPUTS_NOTE + "\n"
    assert "plan written to" in (layout.out / "dc2" / "base-plan.txt").read_text()  # the base's render
    assert "base base-plans: rendering" not in done.stdout  # dc2's base alone: no batch of them
    _as_the_base_renders_them(layout, layout.root / "dc2-changed")
    assert layout.report("dc1")["changes"] == []  # its one plan is both sides

    layout.edit("catalog/messaging.yaml", lambda service: service.update(description="Team chat"))
    done = layout.run()
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "base base-plans: rendering dc1, dc2" in done.stdout
    for stack in ("dc1", "dc2"):
        assert SAME_INPUTS_NOTE not in (layout.out / stack / "base-plan.txt").read_text()
    _as_the_base_renders_them(layout, layout.root / "catalog-changed")


DELETED_RULE = '''

_every_policy = policies


def policies() -> list[Policy]:
    """The hostile branch's pack: the rule that would refuse its change is gone."""
    return [p for p in _every_policy() if p.name != "no-public-admin-exposure"]
'''
NEUTERED_RULE = '''

_every_policy = policies


def policies() -> list[Policy]:
    """The hostile branch's pack: the rule keeps its name and config, and finds nothing."""
    kept = _every_policy()
    for policy in kept:
        if policy.name == "no-public-admin-exposure":
            policy.validate = lambda args, report_violation: None
    return kept
'''


@pytest.mark.parametrize(
    ("weakening", "own_verdict"),
    [(DELETED_RULE, ExitCode.INPUT), (NEUTERED_RULE, ExitCode.OK)],
    ids=["rule-deleted", "rule-neutered"],
)
def test_a_branch_that_weakens_a_policy_is_still_blocked_by_mains(
    same_layout: Layout, weakening: str, own_verdict: ExitCode
) -> None:
    """Issue 23: the branch opens SSH to the world and takes the rule that refuses it out of its own
    pack. Its own pack does not find the exposure (deleted: its config names a rule it lacks; neutered:
    it passes); main's pack, over the branch's plan, blocks the check, and the comment names the pack
    change for a code owner."""
    layout = same_layout
    ssh = {"protocol": "tcp", "ports": 22, "source": "any", "description": "debugging, just for today"}
    layout.edit("catalog/messaging.yaml", lambda doc: doc["network"]["ingress"].append(ssh))
    pack = layout.pr / "policies" / "webex_policies" / "pack.py"
    pack.write_text(pack.read_text() + weakening)
    done = layout.run("--stack", "dc1")
    assert done.returncode != ExitCode.OK, done.stdout + done.stderr
    folder = layout.out / "dc1"
    own = (folder / "policy.txt").read_text()
    assert (folder / "policy.rc").read_text().strip() == str(int(own_verdict)), own
    assert "SSH (tcp/22)" not in own
    judged = (folder / "main-policy.txt").read_text()
    assert (folder / "main-policy.rc").read_text().strip() == "1", judged
    assert "no-public-admin-exposure" in judged and "SSH (tcp/22)" in judged
    body = layout.comment()
    assert "| ❌ exit 1 | ✅ | ✅ |" in body.split("| `dc1` |", 1)[1].split("\n", 1)[0]
    assert "**This pull request changes the policy pack** (`policies/webex_policies/pack.py`)" in body
    # The real preview's config is the one main's pack was run with.
    assert "no-public-admin-exposure" in (folder / "policy-config.json").read_text()


def test_only_the_stacks_a_change_reaches_are_checked_again(same_layout: Layout) -> None:
    """The workflow's --changed-only: the gateway runs in dc1 alone, so a change to its catalog file
    alone checks dc1; dc2's inputs are the base's, so it is shown as unchanged and not planned,
    policed, placed or previewed again, and the comment says which was checked, why, and against
    which base commit."""
    layout = same_layout
    layout.edit("catalog/telepresence-gateway.yaml", lambda doc: doc.update(owner="team-media"))
    job, rc = layout.replay_workflow()
    assert (job, rc) == (0, "0")
    body = layout.comment()
    steps = len(comment.STEPS)  # one cell per step, then the preview's
    assert f"| `dc2` | {'⏸️ unchanged | ' * steps}✅ unchanged since the base |" in body
    assert f"| `dc1` | {'✅ | ' * steps}✅ " in body and "### Stack `dc2` — unchanged" in body
    assert f"compared file by file with the base commit `{BASE_SHA[:12]}`" in body
    assert "- checked because catalog/telepresence-gateway.yaml changed: `dc1`" in body
    assert "- not checked, the same inputs as the base: `dc2`" in body
    assert (
        not (layout.out / "dc2" / "preview.json").exists() and not (layout.out / "dc2" / "policy.rc").exists()
    )
    assert layout.report("dc1")["counts"]["update"] > 0
    log = (layout.out / "pr-check.txt").read_text()
    assert "dc1: checked: catalog/telepresence-gateway.yaml changed" in log and "dc2: unchanged" in log


def test_a_base_that_cannot_be_compared_with_checks_every_stack(same_layout: Layout) -> None:
    """`--changed-only` with a base folder that is no checkout of the project: nothing can be compared,
    so nothing is skipped; the check is unusable input, and the comment says why the stack was checked."""
    layout = same_layout
    (layout.base / "Pulumi.yaml").unlink()
    done = layout.run("--changed-only", "--stack", "dc1")
    assert done.returncode == ExitCode.INPUT, done.stdout + done.stderr
    body = layout.comment()
    assert f"- checked because {BASE_NOT_COMPARED}: `dc1`" in body
    assert comment.UNCHANGED_CELL not in body and (layout.out / "dc1" / "plan.rc").read_text().strip() == "0"
