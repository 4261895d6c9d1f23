"""Plain views of resource properties in which preview-time unknowns are explicit.

During `pulumi preview` a property that depends on another resource's output (a server group id,
an allocated address) is not known yet. The analyzer protocol carries such a value as one of a few
sentinel strings, and `pulumi_policy` wraps the properties in proxies that raise
`UnknownValueError` when one is read. A policy that lets that exception escape is reported by the
SDK as "can't run policy during preview"; a policy that compares the sentinel as if it were data
reports something false. So every rule here works on *thawed* values: plain dicts, lists and
scalars where an unknown is the single object :data:`UNKNOWN`, and decides explicitly what an
unknown means (almost always: this value cannot prove a violation, so say nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy.proxy import UnknownValueError

#: The sentinels the engine writes for unknown values (pulumi/sdk/go/common/resource/plugin/rpc.go),
#: one per kind of value. Any of them means "not known during this preview".
UNKNOWN_SENTINELS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
#: The string sentinel, the one a computed id or address carries; tests use it to fake a preview.
UNKNOWN_STRING: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class Unknown:
    """The type of :data:`UNKNOWN`: a value the engine cannot know before the update runs."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()


def thaw(value: Any) -> Any:
    """Copy ``value`` (SDK proxies or plain data) into plain dicts/lists, unknowns as :data:`UNKNOWN`."""
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                out[str(key)] = UNKNOWN
                continue
            out[str(key)] = thaw(item)
        return out
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                items.append(UNKNOWN)
                continue
            items.append(thaw(item))
        return items
    return value


def known(value: Any) -> bool:
    """True when ``value`` is not :data:`UNKNOWN` (``None`` is known: the property is absent)."""
    return value is not UNKNOWN


def get_path(value: Any, *path: str | int) -> Any:
    """Follow ``path`` through dicts and lists: :data:`UNKNOWN` if a step is unknown, ``None`` if absent."""
    current = value
    for step in path:
        if current is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return None
            current = current[step]
        else:
            if not isinstance(current, dict):
                return None
            current = current.get(step)
    return current


def contains_unknown(value: Any) -> bool:
    """True when ``value`` or anything nested in it is unknown."""
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False
