"""The deploy job's image steps, replayed as the runner runs them (each `run:` as GitHub's `shell: bash`,
the job's and the step's env, one after the other, the job stopping at the first step that fails): the
images already verified are found, the image resources alone are applied with them, then verified,
and only then does anything else run. `pulumi` and the project's python are stand-ins that record how
they were called and exit as the test says (no cloud, no state backend)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.stacks.test_deploy_workflow import DEPLOY_STACK, RUN
from tests.workflow_replay import named_step, resolve, run_step
from webex_cloud.components.images import image_resource_name
from webex_cloud.facts.provider import IMAGE
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import DATACENTER

IMAGE_STEPS = (
    "Images already in this datacenter",
    "Import the images into this datacenter's Glance",
    "Images verified in this datacenter",
)
STACK = "dc1"
FAKE_BACKEND = "s3://fake-state-bucket"

# Records each call (argv and the image settings) and exits with the code the test put in
# $REPLAY/exit-<name>, <name> being `pulumi` or the record folder an `images` call writes to.
STAND_IN = """#!/bin/bash
name="$(basename "$0")"
key="$name"
for arg in "$@"; do
  if [ "$previous" = "--record-dir" ]; then key="$arg"; mkdir -p "$arg"; echo '{}' > "$arg/$STACK.json"; fi
  previous="$arg"
done
python3 - "$name" "$@" <<'PY' >> "$REPLAY/calls.jsonl"
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "ids": os.environ.get("WEBEX_IMAGE_IDS"),
                  "phase": os.environ.get("WEBEX_IMAGE_PHASE")}))
PY
code_file="$REPLAY/exit-$(echo "$key" | tr / _)"
if [ -f "$code_file" ]; then exit "$(cat "$code_file")"; fi
exit 0
"""


VALUES = RUN | {"inputs.stack": STACK, "secrets.PULUMI_BACKEND_URL": FAKE_BACKEND}  # the secret, faked


def _job() -> dict[str, Any]:
    job: dict[str, Any] = DEPLOY_STACK["jobs"]["up"]
    return job


def _expand(value: str) -> str:
    return resolve(value, VALUES)


def _replay(tmp_path: Path, exits: dict[str, int]) -> tuple[list[str], list[dict[str, Any]], int]:
    """Run the image steps in order: the names of those that ran, the calls they made, and the exit
    status of the last one (not 0: the job stops there, and no later step without `if:` runs)."""
    workspace, replay, bin_dir = tmp_path / "workspace", tmp_path / "replay", tmp_path / "bin"
    for folder in (workspace / ".venv" / "bin", replay, bin_dir):
        folder.mkdir(parents=True)
    for path in (workspace / ".venv" / "bin" / "python", bin_dir / "pulumi"):
        path.write_text(STAND_IN)
        path.chmod(0o755)
    for key, code in exits.items():
        (replay / f"exit-{key.replace('/', '_')}").write_text(str(code))
    ran: list[str] = []
    status = 0
    for name in IMAGE_STEPS:
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "REPLAY": str(replay)}
        step = named_step(DEPLOY_STACK, "up", name)
        done = run_step(DEPLOY_STACK, "up", step, cwd=workspace, env=env, values=VALUES, timeout=60)
        ran.append(name)
        status = done.returncode
        if status != 0:
            break
    calls = [json.loads(line) for line in (replay / "calls.jsonl").read_text().splitlines()]
    return ran, calls, status


def _targets(call: dict[str, Any]) -> list[str]:
    argv = call["argv"]
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--target"]


def _matches(glob: str, urn: str) -> bool:
    """Pulumi's --target glob (pulumi/pulumi v3.259.0 pkg/resource/deploy/deployment.go `getMatcher`):
    `**` is any text, `*` any text without `:`, the rest literal."""
    pattern = ".*".join("[^:]*".join(re.escape(p) for p in seg.split("*")) for seg in glob.split("**"))
    return re.fullmatch(pattern, urn) is not None


def test_found_then_imported_alone_then_verified_before_anything_else(tmp_path: Path) -> None:
    ran, calls, status = _replay(tmp_path, {})
    assert ran == list(IMAGE_STEPS) and status == 0
    found, imported, verified = calls
    assert found["argv"][1:] == [
        "-m",
        "webex_cloud",
        "images",
        "--stack",
        STACK,
        "--record-dir",
        "out/images-found",
        "--before-import",
        "--state",
        FAKE_BACKEND,
    ]
    assert imported["argv"][:3] == ["pulumi", "up", "--yes"] and _targets(imported)
    # The import runs the program with the ids found, in the phase whose instances are stand-ins.
    assert (imported["ids"], imported["phase"]) == (f"out/images-found/{STACK}.json", "import")
    assert verified["argv"][1:] == [
        "-m",
        "webex_cloud",
        "images",
        "--stack",
        STACK,
        "--record-dir",
        "out/images",
    ]
    # Every later step (preview, drift, `up`) boots the ids the verification recorded, in no phase.
    later = [s for s in _job()["steps"] if s.get("name") in ("Preview and risk report", "pulumi up")]
    assert all("WEBEX_IMAGE_PHASE" not in s.get("env", {}) for s in later)
    assert _expand(_job()["env"]["WEBEX_IMAGE_IDS"]) == f"out/images/{STACK}.json"
    names = [s.get("name") for s in _job()["steps"]]
    assert names.index(IMAGE_STEPS[2]) < names.index("Preview and risk report") < names.index("pulumi up")
    assert all("if" not in s for s in _job()["steps"] if s.get("name") in (*IMAGE_STEPS, "pulumi up"))


def test_the_targets_are_the_stacks_images_and_their_parent_only(tmp_path: Path) -> None:
    """Matched against the URNs of the real program's plan of dc1, with Pulumi's own glob rule."""
    _, calls, _ = _replay(tmp_path, {})
    targets = _targets(calls[1])
    resources = render_plan(STACK, project_dir=REPO)["resources"]
    urns = [r["urn"] for r in resources]
    chosen = {urn for urn in urns if any(_matches(t, urn) for t in targets)}
    images = {r["urn"] for r in resources if r["type"] == IMAGE}
    assert images and all(
        r["urn"].endswith("::" + image_resource_name(STACK, r["inputs"]["name"]))
        for r in resources
        if r["type"] == IMAGE
    )
    assert chosen == images | {f"urn:pulumi:{STACK}::webex-cloud::{DATACENTER}::{STACK}"}


@pytest.mark.parametrize("code", [1, 2, 3])
def test_any_finding_an_import_would_not_cure_stops_the_job_before_any_pulumi_call(
    tmp_path: Path, code: int
) -> None:
    """`images --before-import` exits 0 when the only findings are images absent from this Glance (the
    import creates them); 1 (other bytes, not active, an ambiguous name, not run in the canary), 2 and
    3 stop the job: nothing is imported."""
    ran, calls, status = _replay(tmp_path, {"out/images-found": code})
    assert ran == [IMAGE_STEPS[0]] and status == code
    assert [call["argv"][0] for call in calls] == ["python"]


def test_a_failed_import_stops_the_job_before_the_check_and_every_pod(tmp_path: Path) -> None:
    ran, calls, status = _replay(tmp_path, {"pulumi": 255})
    assert ran == list(IMAGE_STEPS[:2]) and calls[-1]["argv"][0] == "pulumi" and status == 255


@pytest.mark.parametrize("code", [1, 2])
def test_an_image_not_verified_after_the_import_fails_the_job(tmp_path: Path, code: int) -> None:
    """The check's step fails with the check: the preview and `up` after it (no `if:`) never run."""
    ran, _, status = _replay(tmp_path, {"out/images": code})
    assert ran == list(IMAGE_STEPS) and status == code
