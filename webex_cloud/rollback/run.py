"""One stack's automatic rollback, in named steps a test can call alone: decide, restore, hold.

``decide``: the failed release's preview, classified (:mod:`reversible`); any change of another kind
stops here and pages. ``restore``: the last good record's data laid over ``main``'s checkout in a
fresh folder and deployed there with `pulumi up` (the policy pack, the same gates). ``hold``: every
service whose catalog file differs from the last good one is held at it (config/holds.py), so the
repository stops naming the release that failed.

Why a new `up` and not `--continue-on-error` leftovers: after a failed gate, the checkpoint holds every
step that finished (wave 1's rebuilt instances, with the new image) and nothing of the failed step
(pulumi/pulumi ``pkg/resource/deploy/step_executor.go``: a step's results are saved by its post-step
event, a failed create returns no state; ``cancelDueToError`` with ``ContinueOnError`` only marks the
step failed and goes on; ``deployment_executor.go`` ``doesStepDependOn`` skips what depends on it;
read at the stored snapshot, CHANGELOG top 3.259.0, CLI pinned 3.272.0 in constraints/pulumi-cli.txt).
So an `up` of the last good data sees exactly the changed waves as changes, and leaves the skipped
ones alone. The rollback's own `up` runs *without* ``--continue-on-error``: the engine then starts no
new step after the first error (``cancelDueToError`` cancels), so a rollback gate that fails stops the
rollback where it is instead of going on around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from webex_cloud.atomic import write_text
from webex_cloud.change.model import ChangeSet
from webex_cloud.config.holds import Hold, digest, write_hold
from webex_cloud.config.image_ids import ENVIRONMENT as IMAGE_IDS
from webex_cloud.config.image_ids import RECORD_FORMAT
from webex_cloud.paths import PROJECT
from webex_cloud.rollback.last_good import LastGood, materialise
from webex_cloud.rollback.reversible import Verdict, classify, gates_to_rerun

Runner = Callable[[Sequence[str], Path], int]
"""Runs a command in a folder, its output going to the job's log; returns its exit status."""


def run_here(command: Sequence[str], cwd: Path) -> int:
    return subprocess.run(list(command), cwd=cwd, check=False).returncode


@dataclass
class Outcome:
    """What the rollback did, for the job summary and the hold pull request."""

    stack: str
    failed_commit: str
    """The commit whose deploy failed."""
    verdict: Verdict
    reasons: tuple[str, ...]
    """The failed gates' and bake's lines: why it was rolled back."""
    rolled_back: bool = False
    failure: str = ""
    """Why it stopped and paged instead, when it did."""
    held: list[str] = field(default_factory=list)
    last_good_commit: str = ""


def failure_reasons(logs: Sequence[Path]) -> tuple[str, ...]:
    """The ``[gate] ... FAILED`` and ``NOT serving`` lines of the failed step's logs (release/probe.py)."""
    lines: list[str] = []
    for log in logs:
        if not log.is_file():
            continue
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if ("[gate]" in line or "[bake]" in line) and ("FAILED" in line or "NOT serving" in line):
                lines.append(line.strip())
    return tuple(lines)


def decide(changes: ChangeSet) -> Verdict:
    return classify(changes)


def verified_ids(deployed: Path, stack: str, project: Path) -> Path | str:
    """A verification record for the last good data, in ``project``: every image the deploy's record
    (``deployed``, the job's WEBEX_IMAGE_IDS) verified, the release's images and the ``previous`` each
    rolls back to. Returns its path, or what is missing (the rollback then pages)."""
    try:
        document = json.loads(deployed.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return (
            f"no readable image verification record of the failed deploy ({IMAGE_IDS}={str(deployed)!r}): "
            "the last good data's image ids cannot be known without it"
        )
    if not isinstance(document, dict) or document.get("stack") != stack:
        return f"{deployed} is no image verification record of {stack}"
    # Retiring images too: the last good data's rollback images are the release's retiring ones, which
    # the rollback's program registers and must adopt (by their verified id), not import again.
    entries = [
        *(document.get("images") or []),
        *(document.get("rollback") or {}).values(),
        *(document.get("retiring") or {}).values(),
    ]
    verified = {
        entry["name"]: entry
        for entry in entries
        if isinstance(entry, dict) and entry.get("verified") is True and isinstance(entry.get("name"), str)
    }
    path = project / "out" / "images" / f"{stack}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": RECORD_FORMAT, "stack": stack, "images": [verified[n] for n in sorted(verified)]}
    write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path.resolve()


def restore(
    record: LastGood, changes: ChangeSet, code_dir: Path, workdir: Path, run: Runner = run_here
) -> str:
    """Deploy the last good data with the checkout's code; returns "" on success, else what failed."""
    project = materialise(record, code_dir, workdir).root
    images = verified_ids(Path(os.environ.get(IMAGE_IDS, "")), record.stack, project)
    if isinstance(images, str):
        return images
    # The last good data boots the images the deploy's own verification found (its images and each
    # one's `previous`): the ids come from that record, never from a name (docs/images.md).
    with_ids = ["env", f"{IMAGE_IDS}={images}"]
    config = project / "out" / "policy-config.json"
    policy = [
        *with_ids,
        sys.executable,
        "-m",
        "webex_cloud",
        "policy",
        "--stack",
        record.stack,
        "--write-config",
        str(config),
    ]
    if run(policy, project) != 0:
        return "the last good data does not pass main's policy check (`python -m webex_cloud policy`)"
    up = [
        *with_ids,
        "pulumi",
        "up",
        "--yes",
        "--policy-pack",
        "policies",
        "--policy-pack-config",
        str(config),
        "--stack",
        f"organization/{PROJECT}/{record.stack}",
    ]
    for urn in gates_to_rerun(changes):
        up += ["--replace", urn]
    status = run(up, project)
    return (
        "" if status == 0 else f"the rollback's `pulumi up` failed (exit {status}); see its gate lines above"
    )


def hold(record: LastGood, code_dir: Path, outcome: Outcome, now: datetime | None = None) -> list[str]:
    """Hold every service whose catalog file is not the last good one; returns their names."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reason = (
        outcome.reasons[0]
        if outcome.reasons
        else "its `pulumi up` or bake failed (no gate line; see the run)"
    )
    held: list[str] = []
    for relative, good in sorted(record.catalog_texts().items()):
        current = code_dir / relative
        if not current.is_file():
            continue
        text = current.read_text(encoding="utf-8")
        if text == good:
            continue
        service = Path(relative).stem
        write_hold(
            code_dir,
            service,
            Hold(
                held=digest(good),
                refused=digest(text),
                catalog=good,
                stack=record.stack,
                commit=outcome.failed_commit,
                last_good_commit=record.commit,
                since=moment,
                reason=reason[:500],
            ),
        )
        held.append(service)
    return held


def summary(outcome: Outcome) -> str:
    """The job summary: what was rolled back, why, and what happens next (issue style when it pages)."""
    why = "\n".join(f"    {line}" for line in outcome.reasons) or "    (no gate line found; see the job log)"
    changes = "\n".join(f"- {line}" for line in outcome.verdict.reversible) or "- (none)"
    if not outcome.rolled_back:
        blockers = "\n".join(f"- {line}" for line in outcome.verdict.blockers) or f"- {outcome.failure}"
        return (
            f"## PAGE: `{outcome.stack}` needs a person — the failed release was NOT rolled back\n\n"
            f"**What:** the deploy of commit `{outcome.failed_commit[:12]}` failed in `{outcome.stack}`; "
            "later waves do not start.\n\n"
            f"**Why no automatic rollback:** {outcome.failure}\n\n{blockers}\n\n"
            f"**Why it failed:**\n\n{why}\n\n"
            "**Next:** read the job log, decide between fixing forward and a manual rollback "
            "(docs/releasing.md section 6), and freeze the fleet (deployments/freeze.yaml) if in doubt.\n"
        )
    held = ", ".join(f"`{s}`" for s in outcome.held) or "none (the failed commit changed no catalog file)"
    return (
        f"## Rolled back: `{outcome.stack}` is at its last good deploy "
        f"(`{outcome.last_good_commit[:12]}`)\n\n"
        f"**Why:**\n\n{why}\n\n**What went back:**\n\n{changes}\n\n"
        f"**Held at the last good release:** {held}. The release's one hold pull request (every stack "
        "that rolled it back) is opened or updated by this run's `hold` job after the waves (its link "
        "is in that job's summary); later waves do not start.\n"
    )
