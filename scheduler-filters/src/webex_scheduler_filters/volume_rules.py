"""Pure decision logic for spreading the replicas of a volume group over failure domains.

No OpenStack import: the Cinder adapter (:mod:`webex_scheduler_filters.cinder_filter`) and
the plan-time placement proof both call these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from webex_scheduler_filters.hints import FAILURE_DOMAIN_CAPABILITY
from webex_scheduler_filters.pod_rules import HintStatus


@dataclass(frozen=True)
class GroupHint:
    """The decoded ``webex_volume_group`` hint of one request."""

    status: HintStatus
    key: str = ""
    problem: str = ""


def parse_group_hint(raw: object) -> GroupHint:
    """Decode the volume-group hint: one non-empty string (a one-element list is accepted).

    An unreadable value fails closed (``MALFORMED``): the request says it is a replica, and
    placing a replica blind may put two copies of the data behind one failure domain.
    """
    if raw is None or raw == "" or raw == [] or raw == ():
        return GroupHint(HintStatus.ABSENT)
    if isinstance(raw, (list, tuple)) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, str):
        return GroupHint(HintStatus.MALFORMED, problem=f"expected one string, got {type(raw).__name__}")
    key = raw.strip()
    if not key:
        return GroupHint(HintStatus.MALFORMED, problem="blank volume-group key")
    return GroupHint(HintStatus.VALID, key)


def backend_of(host: str) -> str:
    """``host@backend`` of a Cinder host string (``host@backend#pool`` or ``host@backend``)."""
    return host.partition("#")[0]


def failure_domain(capabilities: object, host: str) -> str:
    """The failure domain a backend declares, or the backend itself (not the pool) if none.

    Pools of one backend share its controller and disks, so they never count as distinct.
    """
    if isinstance(capabilities, Mapping):
        label = capabilities.get(FAILURE_DOMAIN_CAPABILITY)
        if isinstance(label, str) and label.strip():
            return label.strip()
    return backend_of(host)


def domains_by_backend(states: Iterable[tuple[str, object]]) -> dict[str, frozenset[str]]:
    """Each backend's failure domains, from its pools' ``(host, capabilities)``.

    Pools of one backend normally agree; if their reports disagree (a label changed and
    not every pool has reported since), the backend counts as being in all of them.
    """
    found: dict[str, set[str]] = {}
    for host, capabilities in states:
        found.setdefault(backend_of(host), set()).add(failure_domain(capabilities, host))
    return {backend: frozenset(domains) for backend, domains in found.items()}


def used_domains(sibling_hosts: Iterable[object], known: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Failure domains already holding a replica, from the siblings' Cinder hosts.

    A sibling on a backend that is not among the known backend states (for example its
    volume service is down) counts as its own backend: its label is not known any more.
    """
    used: set[str] = set()
    for host in sibling_hosts:
        if isinstance(host, str) and host:
            backend = backend_of(host)
            used.update(known.get(backend, frozenset({backend})))
    return frozenset(used)


def domains_pass(domains: frozenset[str], used: frozenset[str]) -> bool:
    """A backend is eligible when none of its failure domains holds a replica of the group."""
    return domains.isdisjoint(used)
