"""The one error type the loader raises: every problem names its file, field path and fix."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input."""

    file: str
    """Path of the file at fault, relative to the project (e.g. ``catalog/messaging.yaml``)."""
    field: str
    """Dotted field path inside the file (e.g. ``pods.members[1].count``); empty for the whole file."""
    message: str
    """What is wrong and what would be valid."""
    zone: str = dataclasses.field(default="", compare=False)
    """The availability zone a per-zone rule broke (empty for any other problem): what drift and the
    monitoring's facts match a zone's problem on, never its message (a zone's name can be part of
    another's, or of a host's). Not compared: the message names the zone too."""

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class CatalogError(Exception):
    """The catalog or a stack config is invalid; nothing has been registered or changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.field, p.message))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"invalid configuration ({count} problem{'s' if count != 1 else ''}); nothing was changed:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


_INTERNAL = re.compile(r"[a-z][a-z-]*\[.*\]", re.DOTALL)
"""How pydantic names a validator step in a location (``function-after[...]``, ``lax-or-strict[...]``)."""
KEY_MARK = "[key]"
"""The location part pydantic appends when a mapping's key, not its value, is invalid."""


def is_internal(part: int | str) -> bool:
    """True for the parts of a pydantic location that are no field of the input."""
    return isinstance(part, str) and (part == KEY_MARK or _INTERNAL.fullmatch(part) is not None)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as ``pods.members[1].count``, without pydantic's own steps."""
    out = ""
    for part in loc:
        if is_internal(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
