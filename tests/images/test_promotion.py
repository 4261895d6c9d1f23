"""Promotion: a datacenter outside the canary wave is refused an image the canary's last good deploy
did not boot with the same bytes. The command (`images --state`), and the deploy's image steps through
`pulumi up` replayed as the runner runs them (a stand-in `pulumi`), against a Glance on 127.0.0.1 and a
file:// state backend: promotion is judged before anything is imported into the datacenter."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.fake_cloud import fake_cloud
from tests.conftest import REPO, ProjectCopy
from tests.images.helpers import entry
from tests.images.test_images_cli import at
from tests.stacks.test_deploy_workflow import DEPLOY_STACK, RUN
from tests.stacks.test_rollback_replay import Job, run_job
from webex_cloud.commands import images as cli
from webex_cloud.config.image_catalog import IMAGE_CATALOG, ImageCatalog, ImageEntry, load_catalog
from webex_cloud.exit_codes import ExitCode
from webex_cloud.images.promotion import CanaryRun, promotion_problems
from webex_cloud.images.usage import StackImages
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import build, record_key

STEPS = (
    "Images already in this datacenter",
    "Import the images into this datacenter's Glance",
    "Images verified in this datacenter",
    "pulumi up",
)
NEW = "webex-store-2026.12"
OFFER = "stacks/Pulumi.dc2.yaml: config.webex-cloud:datacenter.images"


@pytest.fixture
def state(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'state'}"


def canary_deployed(root: Path, state: str, commit: str = "a" * 40) -> None:
    """dc1's deploy and bake succeeded: its job records this checkout as its last good deploy."""
    store.put(state, build(root, "dc1", commit))


def release_new_store_image(project: ProjectCopy) -> None:
    """A release: a new store image (new name, new bytes), offered everywhere, booted by messaging."""
    project.edit(
        IMAGE_CATALOG,
        lambda doc: doc["images"].append(entry(NEW, sha256="c" * 64, digests={"sha512": "c" * 128})),
    )
    for stack in ("dc1", "dc2"):
        project.edit_datacenter(stack, lambda dc: dc["images"].append(NEW))
    project.edit("catalog/messaging.yaml", lambda doc: doc["pods"]["members"][1].update(image=NEW))


def check(project: ProjectCopy, state: str, *stacks: str) -> list[str]:
    return ["--offline", "--state", state, *(a for s in stacks for a in ("--stack", s)), *at(project)]


def test_the_fleet_waits_for_the_canary_to_run_a_new_image(
    project: ProjectCopy, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    canary_deployed(project.root, state)
    assert cli.main(check(project, state, "dc2")) == ExitCode.OK
    assert "dc2: promotion: every image ran in the canary with these bytes" in capsys.readouterr().out

    release_new_store_image(project)
    assert cli.main(check(project, state, "dc1", "dc2")) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert "dc1: promotion: a canary (wave 1)" in out
    assert (
        f"{OFFER}[3]: image '{NEW}' (booted here by messaging) has not run in the canary (dc1's last good "
        f"deploy (commit aaaaaaaaaaaa) boots no {NEW}); an image reaches the fleet only after the canary ran "
        "these bytes: deploy it to dc1 first" in out
    )
    canary_deployed(project.root, state, "b" * 40)  # wave 1 deployed the release
    assert cli.main(check(project, state, "dc2")) == ExitCode.OK


def test_other_bytes_under_the_name_the_canary_ran_are_refused(
    project: ProjectCopy, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    canary_deployed(project.root, state)

    def rebuild(doc: dict[str, Any]) -> None:
        next(e for e in doc["images"] if e["name"] == "webex-base-2026.11").update(sha256="d" * 64)

    project.edit(IMAGE_CATALOG, rebuild)
    assert cli.main(check(project, state, "dc2")) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert (
        f"{OFFER}[0]: image 'webex-base-2026.11'" in out
        and "booted webex-base-2026.11 with other bytes" in out
    )


def test_no_canary_record_blocks_and_a_broken_one_is_unusable(
    project: ProjectCopy, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(check(project, state, "dc2")) == ExitCode.BLOCKING
    assert "(dc1 has no last good deploy)" in capsys.readouterr().out
    path = Path(state.removeprefix("file://")) / record_key("dc1")
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert cli.main(check(project, state, "dc2")) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err


def glance_record(image: ImageEntry, number: int) -> dict[str, Any]:
    """A Glance image holding exactly the catalog's bytes (its own sha512 is the catalog's digest)."""
    return {
        "id": f"9c0d0000-0000-4000-8000-{number:012d}",
        "name": image.name,
        "status": "active",
        "os_hash_algo": "sha512",
        "os_hash_value": image.digests["sha512"],
        "size": image.size_bytes,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "min_disk": image.min_disk_gb,
        "min_ram": image.min_ram_mb,
        "visibility": "private",
        "protected": False,
        "created_at": "2026-11-20T10:00:00Z",
        "owner": "p1",
        **image.signature,
    }


# Records each call of `pulumi` (its arguments, one line) and succeeds: it imports nothing.
PULUMI = """#!/bin/bash
printf '%s\\n' "$*" >> "$PULUMI_CALLS"
"""


@dataclass
class Runner:
    """What the deploy runner of dc2 checks out (the code, the catalog, the stacks, the deploy key's
    wrapper) with its venv, the job's environment, and the Glance on 127.0.0.1 it reads as dc2's reader
    identity (its images: every catalog entry's exact bytes, until a test changes them)."""

    root: Path
    env: dict[str, str]
    glance: list[dict[str, Any]]
    calls: Path
    """Where the stand-in `pulumi` records its calls."""
    key: str
    """A fresh ed25519 key: the secret CONTROLLER_SSH_KEY the `pulumi up` step loads into its agent."""

    def pulumi_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    root = tmp_path / "checkout"
    for name in ("webex_cloud", "catalog", "stacks"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "with-deploy-key.sh", root / "scripts")
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / ".venv").symlink_to(Path(sys.prefix))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    key = tmp_path / "deploy-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fake", "-f", str(key)], check=True)
    images = [glance_record(e, n) for n, e in enumerate(load_catalog(root).entries, 1)]
    with fake_cloud(["reader"], images=images) as glance:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(glance.clouds_yaml(tmp_path, "webex-dc2-reader"))
        env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        env["PULUMI_CALLS"] = str(tmp_path / "pulumi-calls")
        yield Runner(root, env, images, tmp_path / "pulumi-calls", key.read_text())


def replay(runner: Runner, state: str) -> Job:
    """The deploy job of dc2 (wave 2) from its first image step through `pulumi up`, as the runner runs
    it (the preview and drift steps between are not the subject: they are left out)."""
    values = RUN | {
        "inputs.stack": "dc2",
        "inputs.wave": "2",
        "inputs.timeout_minutes": "60",
        "secrets.PULUMI_BACKEND_URL": state,
        # The steps read the clouds.yaml the job wrote (OS_CLIENT_CONFIG_FILE here: the stand-in's).
        "secrets.OPENSTACK_CLOUDS_YAML": "clouds: {}",
        "secrets.PULUMI_CONFIG_PASSPHRASE": "fake-passphrase",
        "secrets.STATE_ACCESS_KEY_ID": "fake-id",
        "secrets.STATE_SECRET_ACCESS_KEY": "fake-secret",
        "secrets.CONTROLLER_SSH_KEY": runner.key,
    }
    return run_job(
        DEPLOY_STACK, "up", cwd=runner.root, env=runner.env, values=values, context={}, only=set(STEPS)
    )


def ran(job: Job) -> list[str]:
    """The steps of STEPS that ran, in order (a job's outcomes are keyed by step id, else name)."""
    keys = {s["name"]: s.get("id", s["name"]) for s in DEPLOY_STACK["jobs"]["up"]["steps"] if "name" in s}
    return [name for name in STEPS if job.outcomes.get(keys[name]) not in (None, "skipped")]


def test_an_image_the_canary_has_not_run_never_reaches_a_later_waves_glance(
    runner: Runner, state: str, tmp_path: Path
) -> None:
    """Promotion is judged before the targeted import: refused, the job stops at its first image step,
    and `pulumi` is never called (no `up --target`, no `up`)."""
    job = replay(runner, state)
    assert job.failed and f"--- {STEPS[0]} (exit 1)" in job.log, job.log[-3000:]
    assert "dc2: every image verified" in job.log  # Glance holds the bytes; the canary never ran them
    assert "has not run in the canary (dc1 has no last good deploy)" in job.log
    assert ran(job) == [STEPS[0]] and runner.pulumi_calls() == [] and "Traceback" not in job.log


def test_a_promoted_image_is_imported_then_verified_then_deployed(
    runner: Runner, state: str, tmp_path: Path
) -> None:
    canary_deployed(runner.root, state)
    job = replay(runner, state)
    assert not job.failed, job.log[-3000:]
    assert ran(job) == list(STEPS)
    assert "dc2: promotion: every image ran in the canary with these bytes" in job.log
    imported, up = runner.pulumi_calls()
    assert imported.startswith("up --yes --stack organization/webex-cloud/dc2 --target ")
    assert up.startswith("up --yes --continue-on-error --policy-pack policies")
    assert json.loads((runner.root / "out" / "images" / "dc2.json").read_text())["verified"] is True


def test_only_an_image_not_there_yet_is_imported_any_other_finding_stops_first(
    runner: Runner, state: str, tmp_path: Path
) -> None:
    """Absent from dc2's Glance: imported (the stand-in imports nothing, so the check after the import
    blocks and `up` never runs). Other bytes under the name: importing would only add a second image of
    that name, so the job stops before the import."""
    canary_deployed(runner.root, state)
    media = next(i for i in runner.glance if i["name"] == "webex-media-2026.11")
    runner.glance.remove(media)
    job = replay(runner, state)
    assert "  import   webex-media-2026.11 (used by meetings-media): not in this Glance yet" in job.log
    assert f"--- {STEPS[0]} (exit 0)" in job.log and f"--- {STEPS[2]} (exit 1)" in job.log, job.log[-3000:]
    assert ran(job) == list(STEPS[:3]) and [c.split(" --target")[0] for c in runner.pulumi_calls()] == [
        "up --yes --stack organization/webex-cloud/dc2"
    ]

    runner.calls.unlink()
    runner.glance.append({**media, "os_hash_value": "e" * 128})
    job = replay(runner, state)
    assert f"--- {STEPS[0]} (exit 1)" in job.log and "its bytes are not the catalog's" in job.log
    assert ran(job) == [STEPS[0]] and runner.pulumi_calls() == []


def test_any_canary_that_ran_the_same_bytes_promotes_and_every_digest_must_agree() -> None:
    """Judged alone: two canaries (wave 1 may hold several); a digest both entries give must match."""
    base = ImageEntry(
        "webex-base-2026.11", "https://a/x", "1" * 64, "qcow2", "bare", 20, 2048, {"sha512": "2" * 128}
    )
    stack = StackImages(
        "dc2", {base.name: ("messaging",)}, ipaddress.IPv4Network("10.0.0.0/24"), (base.name,)
    )
    catalog = ImageCatalog("catalog/images/images.yaml", ("a",), (base,))
    never = CanaryRun("dc1", None, {})
    ran = CanaryRun("dc3", "e" * 40, {base.name: base})
    assert promotion_problems(stack, catalog, [never, ran]) == []
    other_sha512 = CanaryRun("dc3", "e" * 40, {base.name: replace(base, digests={"sha512": "3" * 128})})
    [problem] = promotion_problems(stack, catalog, [never, other_sha512])
    assert problem.field == "config.webex-cloud:datacenter.images[0]"
    assert (
        "dc1 has no last good deploy; dc3's last good deploy (commit eeeeeeeeeeee) booted" in problem.message
    )
    assert "deploy it to dc1, dc3 first" in problem.message
