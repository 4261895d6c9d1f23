"""What a pull request changes in the image catalog, for its check and its comment: images added, removed,
or kept under their name with other bytes (blocking), each with its size and where it runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from webex_cloud.config.image_catalog import ImageCatalog
from webex_cloud.images.usage import StackImages

Kind = Literal["added", "removed", "other bytes"]


@dataclass(frozen=True)
class ImageChange:
    name: str
    kind: Kind
    size_bytes: int | None
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Stack -> the services (or ``controllers``, ``monitoring``) that boot the image there, on this
    branch."""

    @property
    def blocking(self) -> bool:
        return self.kind == "other bytes"


def image_changes(base: ImageCatalog, head: ImageCatalog, stacks: Sequence[StackImages]) -> list[ImageChange]:
    def users(name: str) -> dict[str, tuple[str, ...]]:
        return {s.stack: s.used[name] for s in stacks if name in s.used}

    changes: list[ImageChange] = []
    for entry in head.entries:
        old = base.get(entry.name)
        if old is None:
            changes.append(ImageChange(entry.name, "added", entry.size_bytes, users(entry.name)))
        elif old.sha256 != entry.sha256:
            changes.append(ImageChange(entry.name, "other bytes", entry.size_bytes, users(entry.name)))
    changes += [
        ImageChange(old.name, "removed", old.size_bytes, users(old.name))
        for old in base.entries
        if head.get(old.name) is None
    ]
    return sorted(changes, key=lambda c: (not c.blocking, c.kind, c.name))


@dataclass(frozen=True)
class DatacenterImport:
    """What one datacenter's Glance imports for a change: every added image something boots there."""

    stack: str
    images: tuple[str, ...]
    size_bytes: int
    """The sum of the sizes the catalog pins (``size_bytes``)."""
    unpinned: tuple[str, ...]
    """The added images whose size the catalog does not pin: not in :attr:`size_bytes`."""


def imports_per_datacenter(changes: Sequence[ImageChange]) -> list[DatacenterImport]:
    """Per stack, the added images it boots: each is a web-download into that datacenter's Glance
    (an image kept for other bytes is blocking and imports nothing)."""
    added: dict[str, list[ImageChange]] = {}
    for change in changes:
        if change.kind == "added":
            for stack in change.users:
                added.setdefault(stack, []).append(change)
    return [
        DatacenterImport(
            stack,
            tuple(c.name for c in found),
            sum(c.size_bytes for c in found if c.size_bytes is not None),
            tuple(c.name for c in found if c.size_bytes is None),
        )
        for stack, found in sorted(added.items())
    ]


def imports_record(changes: Sequence[ImageChange]) -> dict[str, dict[str, object]]:
    """:func:`imports_per_datacenter` as the JSON report's ``catalog_imports`` (read by the comment)."""
    return {
        found.stack: {
            "images": list(found.images),
            "size_bytes": found.size_bytes,
            "unpinned": list(found.unpinned),
        }
        for found in imports_per_datacenter(changes)
    }


def _size(size: int | None) -> str:
    return "size not pinned" if size is None else f"{size / 2**30:.2f} GiB"


def _imported(found: DatacenterImport) -> str:
    count = f"{len(found.images)} image{'s' if len(found.images) != 1 else ''}"
    unpinned = f", {len(found.unpinned)} of them of a size not pinned" if found.unpinned else ""
    return f"{found.stack} {_size(found.size_bytes)} ({count}{unpinned})"


def to_text(changes: Sequence[ImageChange], base: str) -> str:
    if not changes:
        return f"image changes against {base}: none\n"
    lines = [f"image changes against {base}:"]
    for change in changes:
        where = "; ".join(f"{stack}: {', '.join(users)}" for stack, users in sorted(change.users.items()))
        where = where or "booted by no pod"
        if change.blocking:
            lines.append(
                f"  BLOCKING {change.name}: the name is kept for other bytes; a new image needs a new name "
                f"({_size(change.size_bytes)}; {where})"
            )
        else:
            lines.append(f"  {change.kind:<8} {change.name} ({_size(change.size_bytes)}; {where})")
    imports = imports_per_datacenter(changes)
    if imports:
        lines.append(f"  each Glance imports: {'; '.join(_imported(found) for found in imports)}")
    return "\n".join(lines) + "\n"


def to_records(changes: Sequence[ImageChange]) -> list[dict[str, object]]:
    return [
        {
            "name": c.name,
            "change": c.kind,
            "blocking": c.blocking,
            "size_bytes": c.size_bytes,
            "used_by": {stack: list(users) for stack, users in sorted(c.users.items())},
        }
        for c in changes
    ]
