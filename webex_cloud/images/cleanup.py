"""Which Glance images of a stack's project may go, and their deletion, each re-checked live first.

An image is kept, whatever its age, when it belongs to another project, is ``protected``, is a
snapshot or backup Nova made of a server (a shelved server's disk is one, and only Nova knows it), a
catalog entry names it or pins its bytes (current images and the ``previous`` ones a rollback boots
are all entries), a stack's last good deploy names it or pins its bytes (what its rollback deploys
again), the stack's last verification record holds its id, or an instance boots it; otherwise it is
a cleanup candidate once it is older than the age given (an unreadable date is never old enough).

Deleting is an operator's act (``images --cleanup-after DAYS --delete``): each candidate is read again
from Glance and Nova immediately before its deletion and judged again, so an image that a server
started to boot, or that someone protected, since the listing is kept. The first failure stops the
run: what was deleted until then is reported, the rest is left for the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage
from webex_cloud.config.image_catalog import ImageCatalog

GOING = ("deleted", "pending_delete")
"""Glance statuses of an image already being deleted (``pending_delete`` with delayed delete on)."""
NOVA_IMAGE_TYPES = ("snapshot", "backup")
"""``image_type`` of the images Nova makes of a server (nova/compute/api.py ``API._create_image``)."""


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    created_at: str
    age_days: int
    size: int | None


@dataclass(frozen=True)
class Keep:
    """What keeps an image of the project, read once per run."""

    project: str
    now: datetime
    min_age: timedelta
    names: Mapping[str, str] = field(default_factory=dict)
    """Image name -> what names it (the catalog, a stack's last good deploy)."""
    digests: Mapping[str, str] = field(default_factory=dict)
    """Hex digest of pinned bytes -> what pins them."""
    ids: Mapping[str, str] = field(default_factory=dict)
    """Glance id -> what holds it (the verification record, a server that boots it)."""


def catalog_pins(catalog: ImageCatalog, why: str) -> tuple[dict[str, str], dict[str, str]]:
    """Every name of ``catalog`` and every digest of its entries' bytes, each kept because of ``why``."""
    names = {entry.name: why for entry in catalog.entries}
    digests = {d: why for entry in catalog.entries for d in (entry.sha256, *entry.digests.values())}
    return names, digests


def _created(image: GlanceImage) -> datetime | None:
    try:
        created = datetime.fromisoformat(image.created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def keep_reason(image: GlanceImage, keep: Keep) -> str | None:
    """Why ``image`` must stay, or None when it may be deleted."""
    created = _created(image)
    if image.status in GOING:
        return f"already {image.status} in Glance"
    if image.owner != keep.project:
        return f"owned by project {image.owner or '(none)'}, not this one"
    if image.protected:
        return "protected"
    if image.image_type in NOVA_IMAGE_TYPES:
        return f"a server {image.image_type} Nova made (a shelved server may need it)"
    if image.name in keep.names:
        return f"named by {keep.names[image.name]}"
    if image.os_hash_value and image.os_hash_value in keep.digests:
        return f"its bytes are pinned by {keep.digests[image.os_hash_value]}"
    if image.id in keep.ids:
        return keep.ids[image.id]
    if created is None:
        return f"its creation date {image.created_at!r} cannot be read"
    if keep.now - created < keep.min_age:
        return f"{(keep.now - created).days} days old, not older than {keep.min_age.days} days"
    return None


def judge(images: Iterable[GlanceImage], keep: Keep) -> tuple[list[Candidate], dict[str, str]]:
    """The cleanup candidates (oldest first), and every other image's id -> why it is kept."""
    found: list[Candidate] = []
    kept: dict[str, str] = {}
    for image in images:
        reason = keep_reason(image, keep)
        if reason is not None:
            kept[image.id] = reason
            continue
        created = _created(image)
        assert created is not None  # keep_reason keeps an image whose date cannot be read
        found.append(Candidate(image.id, image.name, image.created_at, (keep.now - created).days, image.size))
    return sorted(found, key=lambda c: (c.created_at, c.id)), kept


class Live(Protocol):
    """The cloud as the deletion sees it, one call each (webex_cloud/cloud/: Glance and Nova)."""

    def image(self, image_id: str) -> GlanceImage | None: ...

    def booting(self, image_id: str) -> list[str]: ...

    def delete(self, image_id: str) -> bool: ...


Result = Literal["deleted", "kept", "gone", "failed", "not attempted"]


@dataclass(frozen=True)
class Outcome:
    id: str
    name: str
    result: Result
    reason: str


def _delete_one(candidate: Candidate, live: Live, keep: Keep) -> Outcome:
    def outcome(result: Result, reason: str) -> Outcome:
        return Outcome(candidate.id, candidate.name, result, reason)

    image = live.image(candidate.id)
    if image is None or image.status in GOING:
        return outcome("gone", f"Glance {'no longer has it' if image is None else 'is deleting it'}")
    reason = keep_reason(image, keep)
    if reason is None and (servers := live.booting(candidate.id)):
        reason = f"booted by {', '.join(servers)} (since the listing)"
    if reason is not None:
        return outcome("kept", f"{reason} (re-checked before deleting)")
    if not live.delete(candidate.id):
        return outcome("gone", "Glance no longer had it when it was deleted")
    return outcome("deleted", f"{candidate.age_days} days old, nothing keeps it")


def delete_candidates(candidates: Sequence[Candidate], live: Live, keep: Keep) -> list[Outcome]:
    """Re-check and delete each candidate in turn; a failure stops the run (nothing after it is tried)."""
    outcomes: list[Outcome] = []
    for index, candidate in enumerate(candidates):
        try:
            outcomes.append(_delete_one(candidate, live, keep))
        except CloudError as error:
            outcomes.append(Outcome(candidate.id, candidate.name, "failed", str(error)))
            outcomes.extend(
                Outcome(c.id, c.name, "not attempted", "the run stopped at the failure above")
                for c in candidates[index + 1 :]
            )
            break
    return outcomes


def _size(size: int | None) -> str:
    return "size ?" if size is None else f"{size / 2**30:.2f} GiB"


def to_text(stack: str, candidates: Sequence[Candidate], min_age: timedelta, last_good: bool) -> str:
    """The report; ``last_good``: whether the last good deploys were read (--state)."""
    head = (
        f"{stack}: {len(candidates)} image{'s' if len(candidates) != 1 else ''} no catalog entry names, no "
        f"instance boots, no record keeps, older than {min_age.days} days"
    )
    lines = [head + (":" if candidates else "")]
    for c in candidates:
        lines.append(
            f"  cleanup candidate {c.id} {c.name or '(no name)'} ({c.age_days} days, {_size(c.size)})"
        )
    if candidates:
        lines.append(
            "  (nothing was deleted: the operator deletes them with --delete, which checks each again first)"
        )
    if candidates and not last_good:
        lines.append(
            "  (the last good deploys were not read: give --state to keep what a rollback would boot)"
        )
    return "\n".join(lines) + "\n"


def stopped(outcomes: Sequence[Outcome]) -> Outcome | None:
    """The failure that stopped a deletion run, or None when it ran to the end."""
    return next((o for o in outcomes if o.result == "failed"), None)


def deletion_text(
    stack: str, outcomes: Sequence[Outcome], kept: Mapping[str, str], names: Mapping[str, str]
) -> str:
    deleted = sum(1 for o in outcomes if o.result == "deleted")
    plural = "s" if len(outcomes) != 1 else ""
    others = f"{len(kept)} other image{'s' if len(kept) != 1 else ''} kept"
    failure = stopped(outcomes)
    if failure is None:
        lines = [f"{stack}: deleted {deleted} of {len(outcomes)} cleanup candidate{plural}; {others}"]
    else:
        untried = sum(1 for o in outcomes if o.result == "not attempted")
        lines = [
            f"{stack}: cleanup STOPPED, not finished: deleting {failure.id} {failure.name or '(no name)'} "
            f"failed; {deleted} of {len(outcomes)} cleanup candidate{plural} deleted before it, {untried} "
            f"not attempted; {others}",
            "  (fix the failure below and run it again: every image is judged again from the start)",
        ]
    lines.extend(f"  {o.result:<13} {o.id} {o.name or '(no name)'}: {o.reason}" for o in outcomes)
    lines.extend(
        f"  {'kept':<13} {image_id} {names.get(image_id) or '(no name)'}: {reason}"
        for image_id, reason in sorted(kept.items(), key=lambda item: (names.get(item[0], ""), item[0]))
    )
    return "\n".join(lines) + "\n"
