"""The pull-request workflow fetches each stack's latest daily drift report and the check passes it to
`pr-check --drift`: .github/workflows/pr-preview.yml's `drift-reports` job, its `run:` script replayed as
the runner runs it (bash -eo pipefail) with a stand-in `gh` that answers from a scripted GitHub (its
`--jq` filter run by the real jq), then the reports read where the check step's `--drift` points, by
pr-check's own code, into the comment."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.workflow_replay import Ran, load, run_step
from webex_cloud.commands import comment
from webex_cloud.commands.pr_check import Options, keep_drift
from webex_cloud.exit_codes import ExitCode

WORKFLOW = load("pr-preview.yml")
RUN_URL = "https://github.example/webex/webex-cloud/actions/runs/4711"

# `gh run list ... --json F --jq Q` prints Q over $GH_RUNS (what GitHub lists, newest first) and checks
# that it was asked for main's daily drift runs; `gh run download ID --pattern P --dir D` copies each
# artifact of $GH_ARTIFACTS/ID whose name matches P into D/<name>/ as gh does with a pattern, and fails
# as gh does when none matches. Every call is recorded.
STAND_IN_GH = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GH_CALLS"
[ "$GH_TOKEN" = "fake-read-token" ] || { echo "gh: no token" >&2; exit 4; }
args=("$@")
value() { for i in "${!args[@]}"; do [ "${args[$i]}" = "$1" ] && echo "${args[$((i + 1))]}"; done; }
case "$1 $2" in
  "run list")
    [ "$(value --workflow)" = drift-daily.yml ] && [ "$(value --branch)" = main ] \\
      && [ "$(value --status)" = completed ] || { echo "gh: asked for other runs" >&2; exit 1; }
    [ -n "$GH_LIST_FAILS" ] && { echo "HTTP 502" >&2; exit 1; }
    printf '%s' "$GH_RUNS" | jq -r "$(value --jq)" ;;
  "run download")
    shopt -s nullglob
    pattern="$(value --pattern)"; dest="$(value --dir)"; found=0
    for artifact in "$GH_ARTIFACTS/$3"/*/; do
      name="$(basename "$artifact")"
      # shellcheck disable=SC2053
      if [[ "$name" == $pattern ]]; then
        mkdir -p "$dest/$name"; cp -R "$artifact". "$dest/$name/"; found=1
      fi
    done
    [ "$found" = 1 ] || { echo "no valid artifacts found to download" >&2; exit 1; } ;;
  *) exit 2 ;;
esac
"""


def _jobs() -> dict[str, Any]:
    jobs: dict[str, Any] = WORKFLOW["jobs"]
    return jobs


def _report(stack: str, generated: str, blocking: int = 0) -> str:
    stopped = {
        "kind": "stopped",
        "side": "live-vs-state",
        "name": f"{stack}-messaging-pod-0-app-0",
        "field": "powerState",
        "recorded": "active",
        "observed": "SHUTOFF",
        "up": "revert",
        "acknowledged": None,
    }
    document = {
        "format": "webex-cloud.drift/v1",
        "stack": stack,
        "generated": generated,
        "sources": {"checkpoint": f"s3://state/{stack}.json"},
        "blocking": blocking,
        "drift": [stopped] if blocking else [],
    }
    return json.dumps(document)


@pytest.fixture
def github(tmp_path: Path) -> dict[str, str]:
    """A GitHub whose latest finished daily run (4711) kept reports for dc1 and dc2; dc2's is old."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(STAND_IN_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
    artifacts = tmp_path / "artifacts" / "4711"
    for stack, generated, blocking in (
        ("dc1", "2026-12-07T05:19:02Z", 1),
        ("dc2", "2026-12-04T05:18:40Z", 0),
    ):
        (artifacts / f"drift-{stack}").mkdir(parents=True)
        (artifacts / f"drift-{stack}" / f"{stack}.json").write_text(_report(stack, generated, blocking))
    # Nothing but drift-<stack>/<stack>.json is taken: another artifact, another file name.
    (artifacts / "drift-dc3").mkdir()
    (artifacts / "drift-dc3" / "dc1.json").write_text(_report("dc1", "2026-12-07T05:19:02Z"))
    (artifacts / "images-dc1").mkdir()
    (artifacts / "images-dc1" / "dc1.json").write_text("{}")
    runs = [{"databaseId": 4711, "createdAt": "2026-12-07T05:17:03Z", "url": RUN_URL}]
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_TOKEN": "fake-read-token",
        "REPO": "webex/webex-cloud",
        "GH_CALLS": str(tmp_path / "gh-calls"),
        "GH_RUNS": json.dumps(runs),
        "GH_ARTIFACTS": str(tmp_path / "artifacts"),
        "GH_LIST_FAILS": "",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def _fetch(workspace: Path, env: dict[str, str]) -> Ran:
    step = _jobs()["drift-reports"]["steps"][0]
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}", "REPO": "${{ github.repository }}"}
    workspace.mkdir(exist_ok=True)
    values = {"github.token": env["GH_TOKEN"], "github.repository": env["REPO"]}
    return run_step(WORKFLOW, "drift-reports", step, cwd=workspace, env=env, values=values, timeout=60)


def _where_the_check_reads(workspace: Path) -> Path:
    """The folder the check step's `--drift` names, from its working directory, which must be the
    folder the check job downloads this run's `drift-reports` artifact into."""
    steps = _jobs()["check"]["steps"]
    (download,) = [s for s in steps if s.get("with", {}).get("name") == "drift-reports"]
    check = next(s for s in steps if s.get("id") == "check")
    (given,) = re.findall(r"--drift (\S+)", check["run"])
    read: Path = (workspace / check["working-directory"] / given).resolve()
    assert read == (workspace / download["with"]["path"]).resolve()
    upload = next(s for s in _jobs()["drift-reports"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "drift-reports" and upload["with"]["path"].rstrip("/") == "drift"
    return read


def _comment(tmp_path: Path, reports: Path, now: dt.datetime) -> str:
    out = tmp_path / "out"
    for stack in ("dc1", "dc2", "dc3"):
        (out / stack).mkdir(parents=True, exist_ok=True)
    options = Options(
        pr_dir=tmp_path,
        base_dir=tmp_path,
        out=out,
        stacks=("dc1", "dc2", "dc3"),
        state=None,
        pulumi=False,
        commit="0123456789abcdef",
        drift=reports,
    )
    for stack in options.stacks:
        step = keep_drift(options, stack, now)
        assert step is not None and step.code == ExitCode.OK, stack
    return comment.build(out, options.commit)


def test_the_latest_daily_reports_reach_the_comment_and_an_old_or_missing_one_is_said(
    tmp_path: Path, github: dict[str, str]
) -> None:
    workspace = tmp_path / "workspace"
    done = _fetch(workspace, github)
    assert done.returncode == 0, done.stderr
    calls = Path(github["GH_CALLS"]).read_text().splitlines()
    assert calls[1] == "run download 4711 --repo webex/webex-cloud --pattern drift-* --dir raw"
    reports = _where_the_check_reads(workspace)
    # Only drift-<stack>/<stack>.json: dc3's artifact holding a dc1.json and the images are not taken.
    assert sorted(p.name for p in reports.iterdir()) == ["dc1.json", "dc2.json", "source.txt"]
    assert json.loads((reports / "dc1.json").read_text())["blocking"] == 1
    summary = Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert RUN_URL in summary and "dc1.json" in summary

    body = _comment(tmp_path, reports, dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))
    dc1 = body.split("`dc1`: this merge would also revert", 1)[1].split("this merge would also revert")[0]
    assert "written 2026-12-07 05:19 UTC" in dc1 and "| stopped |" in dc1 and "Stale" not in dc1
    dc2 = body.split("`dc2`: this merge would also revert", 1)[1].split("this merge would also revert")[0]
    assert "> **Stale:**" in dc2 and "written at 2026-12-04 05:18 UTC, more than 36 h" in dc2
    dc3 = body.split("`dc3`: this merge would also revert", 1)[1]
    assert "no drift report of dc3 from the daily drift run" in dc3


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"GH_RUNS": "[]"}, "no finished daily drift run on main"),
        ({"GH_LIST_FAILS": "1"}, "no finished daily drift run on main"),
        (
            {"GH_ARTIFACTS": "/nonexistent"},
            f"the daily drift run {RUN_URL} (2026-12-07T05:17:03Z) left no report",
        ),
    ],
)
def test_no_run_or_no_artifact_fetches_nothing_says_why_and_fails_nothing(
    tmp_path: Path, github: dict[str, str], change: dict[str, str], said: str
) -> None:
    workspace = tmp_path / "workspace"
    done = _fetch(workspace, github | change)
    assert done.returncode == 0, done.stderr
    reports = _where_the_check_reads(workspace)
    assert [p.name for p in reports.iterdir()] == ["source.txt"]  # the artifact is never empty
    assert said in (reports / "source.txt").read_text()
    summary = Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert said in summary and summary.rstrip().endswith("none")
    body = _comment(tmp_path, reports, dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))
    for stack in ("dc1", "dc2", "dc3"):
        assert f"no drift report of {stack} from the daily drift run" in body


def test_the_token_is_the_fetch_steps_alone_and_nothing_of_the_branch_runs_with_it() -> None:
    job = _jobs()["drift-reports"]
    assert job["permissions"] == {"actions": "read"} and job["runs-on"] == "ubuntu-latest"
    assert [s.get("uses", "").split("@")[0] for s in job["steps"]] == ["", "actions/upload-artifact"]
    check = _jobs()["check"]
    assert check["needs"] == "drift-reports" and check["permissions"] == {"contents": "read"}
    assert "github.token" not in json.dumps(check)
    assert shutil.which("jq"), "the replay runs gh's --jq filter with the real jq"
