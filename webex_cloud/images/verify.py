"""Judge one datacenter's Glance images against the image catalog: pure, on parsed Glance records.

An image is verified in a datacenter when its name resolves to exactly one Glance image, that image is
``active``, Glance's own digest of the stored bytes (``os_hash_algo``/``os_hash_value``) equals the
catalog's digest for that algorithm, and its formats, minimums and signature properties are the
catalog's. Every datacenter is compared with the same catalog digests, so verified images are
byte-identical across datacenters. Glance's import takes no expected hash: this comparison, after the
image is active and before any pod's wave, is the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from webex_cloud.cloud.images import GlanceImage
from webex_cloud.config.image_catalog import ImageCatalog, ImageEntry
from webex_cloud.config.image_ids import image_roles


@dataclass(frozen=True)
class ImageVerdict:
    name: str
    users: tuple[str, ...]
    """What boots from it here (service names, ``controllers``); empty for a rollback image."""
    image_id: str | None
    """The verified Glance image id; None unless verified."""
    findings: tuple[str, ...]
    """Why it is not verified (each names the fix); empty when verified."""
    size: int | None = None
    os_hash_algo: str = ""
    os_hash_value: str = ""
    absent: bool = False
    """No Glance image carries its name here: not imported yet (the deploy's targeted import creates it).
    Any other finding (other bytes, not active, an ambiguous name) an import would not cure."""

    @property
    def verified(self) -> bool:
        return self.image_id is not None and not self.findings


@dataclass(frozen=True)
class StackVerdict:
    stack: str
    images: tuple[ImageVerdict, ...]
    """Every image a pod or the controllers boot here; each one must be verified."""
    rollback: dict[str, ImageVerdict] = field(default_factory=dict)
    """Used image -> the verdict of the image it replaces (``previous``): what a rollback boots. A
    rollback image that is not verified does not block a deployment; it is reported."""
    retiring: dict[str, ImageVerdict] = field(default_factory=dict)
    """Rollback image -> the verdict of its own ``previous``, when that is neither used nor a rollback
    image here: the stack keeps it registered, unprotected, while it is in this datacenter
    (webex_cloud/config/image_ids.py ``registered_images``). Never blocking, not reported."""

    @property
    def blocking(self) -> list[ImageVerdict]:
        return [v for v in self.images if not v.verified]

    @property
    def to_import(self) -> list[ImageVerdict]:
        """The blocking images that are only absent: what the deploy's targeted import creates."""
        return [v for v in self.blocking if v.absent]

    def blocking_before_import(self, before_import: bool) -> list[ImageVerdict]:
        """:attr:`blocking`, less what an import cures when judged ``before_import``."""
        return [v for v in self.blocking if not (before_import and v.absent)]


def _mismatches(entry: ImageEntry, image: GlanceImage) -> list[str]:
    found: list[str] = []
    if image.disk_format != entry.disk_format or image.container_format != entry.container_format:
        found.append(
            f"formats {image.disk_format or '-'}/{image.container_format or '-'} are not the catalog's "
            f"{entry.disk_format}/{entry.container_format}"
        )
    if image.min_disk != entry.min_disk_gb or image.min_ram != entry.min_ram_mb:
        found.append(
            f"min_disk/min_ram {image.min_disk} GB/{image.min_ram} MB are not the catalog's "
            f"{entry.min_disk_gb} GB/{entry.min_ram_mb} MB"
        )
    if entry.size_bytes is not None and image.size != entry.size_bytes:
        found.append(f"size {image.size} bytes is not the catalog's {entry.size_bytes}")
    for key, value in sorted(entry.signature.items()):
        if image.properties.get(key) != value:
            found.append(f"signature property {key} is {image.properties.get(key)!r}, not the catalog's")
    return found


def _digest_problem(entry: ImageEntry, image: GlanceImage) -> str | None:
    if image.status != "active":
        state = image.status or "in no state"
        return f"{image.id} is {state}, not active (its import has not finished, or it failed)"
    if not image.os_hash_algo or not image.os_hash_value:
        return f"{image.id} has no os_hash_value: Glance has not hashed its data"
    expected = entry.digests.get(image.os_hash_algo)
    if expected is None:
        return (
            f"{image.id}: Glance hashes with {image.os_hash_algo}, for which the catalog records no digest; "
            f"add digests.{image.os_hash_algo} (`{image.os_hash_algo}sum` of the file whose sha256 is the "
            "catalog's) to its entry"
        )
    if image.os_hash_value != expected:
        return (
            f"{image.id}: its bytes are not the catalog's ({image.os_hash_algo} "
            f"{image.os_hash_value[:16]}... != {expected[:16]}...); delete it and import the source again"
        )
    return None


def judge(
    entry: ImageEntry, candidates: Iterable[GlanceImage], users: tuple[str, ...], stack: str
) -> ImageVerdict:
    """The verdict of ``entry`` in one datacenter, from the Glance images carrying its name."""
    named = sorted((c for c in candidates if c.name == entry.name), key=lambda c: c.id)
    if not named:
        return ImageVerdict(
            entry.name,
            users,
            None,
            (
                f"not in Glance of {stack}: import it (web-download of {entry.source}) and run this "
                "check again once it is active",
            ),
            absent=True,
        )
    problems = {c.id: _digest_problem(entry, c) for c in named}
    good = [c for c in named if problems[c.id] is None]
    findings: list[str] = [p for p in problems.values() if p is not None]
    if len(named) > 1:
        findings.insert(
            0,
            f"the name resolves to {len(named)} images ({', '.join(c.id for c in named)}); a name must "
            "mean one image: delete or rename the others",
        )
    if len(good) == 1:
        findings.extend(f"{good[0].id}: {m}" for m in _mismatches(entry, good[0]))
    chosen = good[0] if len(good) == 1 else None
    return ImageVerdict(
        name=entry.name,
        users=users,
        image_id=chosen.id if chosen is not None and not findings else None,
        findings=tuple(findings),
        size=chosen.size if chosen is not None else None,
        os_hash_algo=chosen.os_hash_algo if chosen is not None else "",
        os_hash_value=chosen.os_hash_value if chosen is not None else "",
    )


def judge_stack(
    stack: str,
    catalog: ImageCatalog,
    used: Mapping[str, tuple[str, ...]],
    glance: Mapping[str, Iterable[GlanceImage]],
) -> StackVerdict:
    """Every used image of ``stack`` (name -> its users), and the rollback image of each, judged from
    ``glance`` (name -> the Glance images of that name). Names missing from the catalog are the
    offline check's (usage.missing_from_catalog) and are skipped here."""
    verdicts: list[ImageVerdict] = []
    rollback: dict[str, ImageVerdict] = {}
    for name, users in sorted(used.items()):
        entry = catalog.get(name)
        if entry is None:
            continue
        verdicts.append(judge(entry, glance.get(name, ()), users, stack))
        previous = catalog.get(entry.previous) if entry.previous else None
        if previous is not None:
            rollback[name] = judge(previous, glance.get(previous.name, ()), (), stack)
    retiring_names = image_roles(used, catalog).retiring
    retiring: dict[str, ImageVerdict] = {}
    for verdict in rollback.values():
        entry = catalog.get(verdict.name)
        older = catalog.get(entry.previous) if entry is not None and entry.previous else None
        if older is not None and older.name in retiring_names:
            retiring[verdict.name] = judge(older, glance.get(older.name, ()), (), stack)
    return StackVerdict(stack, tuple(verdicts), rollback, retiring)
