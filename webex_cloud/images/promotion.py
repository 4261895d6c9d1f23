"""Promotion: an image reaches a datacenter outside the canary wave only after the canary ran it.

"Ran it" is read from the canary's last good deploy (deployments/<canary>/last-good.json: written
after its `up` and its bake succeeded): that deploy booted the image, and its catalog pinned the same
bytes as this checkout's (sha256 and every digest both record). A stack of wave 1 is a canary itself
and is not judged. Pure: the command reads the records (webex_cloud/rollback/images.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webex_cloud.config.errors import Problem
from webex_cloud.config.image_catalog import ImageCatalog, ImageEntry
from webex_cloud.config.loader import DATACENTER_KEY
from webex_cloud.images.usage import StackImages
from webex_cloud.paths import stack_file


@dataclass(frozen=True)
class CanaryRun:
    stack: str
    commit: str | None
    """The commit of its last good deploy; None when it has none."""
    booted: Mapping[str, ImageEntry]
    """Image -> the catalog entry (the bytes) its last good deploy booted."""


def same_bytes(one: ImageEntry, other: ImageEntry) -> bool:
    common = one.digests.keys() & other.digests.keys()
    return one.sha256 == other.sha256 and all(one.digests[a] == other.digests[a] for a in common)


def _why_not(name: str, entry: ImageEntry, run: CanaryRun) -> str:
    if run.commit is None:
        return f"{run.stack} has no last good deploy"
    ran = run.booted.get(name)
    if ran is None:
        return f"{run.stack}'s last good deploy (commit {run.commit[:12]}) boots no {name}"
    return (
        f"{run.stack}'s last good deploy (commit {run.commit[:12]}) booted {name} with other bytes "
        f"(sha256 {ran.sha256[:16]}..., the catalog now pins {entry.sha256[:16]}...)"
    )


def promotion_problems(
    images: StackImages, catalog: ImageCatalog, canaries: Sequence[CanaryRun]
) -> list[Problem]:
    """One blocking problem per image this stack boots that no canary's last good deploy booted with
    the same bytes (file, field, fix)."""
    problems: list[Problem] = []
    names = ", ".join(run.stack for run in canaries)
    for name, users in images.used.items():
        entry = catalog.get(name)
        if entry is None:  # the loader refuses an unpinned image before this runs
            continue
        if any((ran := r.booted.get(name)) is not None and same_bytes(ran, entry) for r in canaries):
            continue
        where = (
            f"config.{DATACENTER_KEY}.images[{images.offered.index(name)}]"
            if name in images.offered
            else f"config.{DATACENTER_KEY}.images"
        )
        reasons = "; ".join(_why_not(name, entry, run) for run in canaries) or "no stack is in wave 1"
        problems.append(
            Problem(
                stack_file(images.stack),
                where,
                f"image {name!r} (booted here by {', '.join(users)}) has not run in the canary ({reasons}); "
                f"an image reaches the fleet only after the canary ran these bytes: deploy it to "
                f"{names or 'a wave 1 stack'} first (its deploy and bake must succeed), or keep "
                f"{images.stack} on the image the canary runs",
            )
        )
    return problems
