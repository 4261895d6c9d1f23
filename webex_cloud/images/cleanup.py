"""Which Glance images of a stack's project may go: a report, never a deletion.

An image is a cleanup candidate when no catalog entry names it (current images and the ``previous`` ones a
rollback boots are all entries), no instance of the project boots it (read live: Nova's ``image.id`` of
every server), no verification record of the stack holds its id (the last verified deploy's images and
their rollback images, build/images/<stack>.json), it is not protected, it belongs to the project, and it
is older than the age given. Deleting one is an operator's act (``openstack image delete ID``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from webex_cloud.cloud.images import GlanceImage
from webex_cloud.config.image_catalog import ImageCatalog


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    created_at: str
    age_days: int
    size: int | None


def _created(image: GlanceImage) -> datetime | None:
    try:
        created = datetime.fromisoformat(image.created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def cleanup_candidates(
    catalog: ImageCatalog,
    images: Iterable[GlanceImage],
    *,
    project: str,
    in_use: set[str],
    recorded: set[str],
    now: datetime,
    min_age: timedelta,
) -> list[Candidate]:
    names = set(catalog.names)
    found: list[Candidate] = []
    for image in images:
        created = _created(image)
        if (
            image.name in names
            or image.id in in_use
            or image.id in recorded
            or image.protected
            or image.owner != project
            or created is None  # an age that cannot be read is never old enough
            or now - created < min_age
        ):
            continue
        found.append(Candidate(image.id, image.name, image.created_at, (now - created).days, image.size))
    return sorted(found, key=lambda c: (c.created_at, c.id))


def to_text(stack: str, candidates: Sequence[Candidate], min_age: timedelta) -> str:
    head = (
        f"{stack}: {len(candidates)} image{'s' if len(candidates) != 1 else ''} no catalog entry names, no "
        f"instance boots, no record keeps, older than {min_age.days} days"
    )
    lines = [head + (":" if candidates else "")]
    for c in candidates:
        size = "size ?" if c.size is None else f"{c.size / 2**30:.2f} GiB"
        lines.append(f"  cleanup candidate {c.id} {c.name or '(no name)'} ({c.age_days} days, {size})")
    if candidates:
        lines.append("  (nothing was deleted: an operator deletes with `openstack image delete ID`)")
    return "\n".join(lines) + "\n"
