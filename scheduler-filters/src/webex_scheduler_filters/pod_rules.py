"""Pure decision logic for keeping the pods of one service on different hosts.

No OpenStack import: the Nova adapter (:mod:`webex_scheduler_filters.nova_filter`) and the
plan-time placement proof both call these functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from webex_scheduler_filters.hints import split_list


class HintStatus(Enum):
    """How a request's sibling-group hint reads."""

    ABSENT = "absent"
    """No hint: the request is not a pod instance, every host passes."""
    MALFORMED = "malformed"
    """The hint is there but cannot be honoured: no host passes (fail closed)."""
    VALID = "valid"
    """The hint names sibling server groups (possibly none once the own group is dropped)."""


@dataclass(frozen=True)
class SiblingHint:
    """The decoded ``webex_sibling_pod_groups`` hint of one request."""

    status: HintStatus
    groups: frozenset[str] = frozenset()
    problem: str = ""


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def parse_sibling_hint(raw: object, own_group: object = None) -> SiblingHint:
    """Decode the sibling-group hint as Nova hands it over (a string or a list of strings).

    A request that carries the key but whose value cannot be read is ``MALFORMED``: placing
    it anywhere could co-locate two pods of a service, and a clean "no valid host" is visible
    and fixable where a silent co-location is not. The request's own server group is dropped
    from the siblings, so a component bug that lists it cannot make a pod repel itself.
    """
    if raw is None or raw == "" or raw == [] or raw == ():
        return SiblingHint(HintStatus.ABSENT)
    if not isinstance(raw, (str, list, tuple)):
        return SiblingHint(HintStatus.MALFORMED, problem=f"expected a string, got {type(raw).__name__}")
    if isinstance(raw, (list, tuple)) and not all(isinstance(item, str) for item in raw):
        return SiblingHint(HintStatus.MALFORMED, problem="list entries must be strings")
    entries = split_list(raw)
    if not entries:
        return SiblingHint(HintStatus.MALFORMED, problem="no server-group UUID in the hint")
    groups: set[str] = set()
    for entry in entries:
        canonical = _canonical_uuid(entry)
        if canonical is None:
            return SiblingHint(HintStatus.MALFORMED, problem=f"{entry[:64]!r} is not a server-group UUID")
        groups.add(canonical)
    own = _canonical_uuid(own_group) if isinstance(own_group, str) else None
    groups.discard(own or "")
    return SiblingHint(HintStatus.VALID, frozenset(groups))


def forbidden_hosts(member_hosts: Iterable[object]) -> frozenset[str]:
    """The hosts that run a member of a sibling pod (members not scheduled yet have no host)."""
    return frozenset(host for host in member_hosts if isinstance(host, str) and host)


def host_passes(host: object, forbidden: frozenset[str]) -> bool:
    """A host is eligible unless it runs a sibling pod; a host state without a name never is."""
    return isinstance(host, str) and bool(host) and host not in forbidden
