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
    """Stack -> the services (or ``controllers``) that boot the image there, on this branch."""

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


def _size(size: int | None) -> str:
    return "size not pinned" if size is None else f"{size / 2**30:.2f} GiB"


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
