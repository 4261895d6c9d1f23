"""The placement rules, as pure functions over where things are: shared by the audit and the pictures.

A *where* is whatever names a host or a failure domain consistently within one call (a host name, a
per-project ``hostId``, a failure domain name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Final

POD_SPLIT: Final = "pod-split"
PODS_SHARE_HOST: Final = "pods-share-host"
REPLICAS_SHARE_DOMAIN: Final = "replicas-share-domain"
UNKNOWN_BACKEND: Final = "backend-not-in-failure-domains"
MISSING_INSTANCE: Final = "missing-instance"
MISSING_VOLUME: Final = "missing-volume"
UNPLACED: Final = "not-placed"
DUPLICATE: Final = "duplicate-name"
UNEXPECTED_INSTANCE: Final = "unexpected-instance"
UNEXPECTED_VOLUME: Final = "unexpected-volume"
FORCED_MOVE: Final = "forced-move"
"""A move that put a server where the scheduler's PodFilter never sends one (it named its host)."""
FAILED_EVACUATION: Final = "failed-evacuation"
"""A pod instance left in ERROR on its old host by an evacuation that found no host (run alongside its
anchor's, it had no host to follow)."""


@dataclass(frozen=True)
class Finding:
    kind: str
    service: str
    message: str
    uuids: tuple[str, ...] = ()
    """The servers or volumes at fault."""
    items: tuple[str, ...] = ()
    """The pods, replicas or resources at fault (plan names, or the cloud name of an unexpected one)."""
    where: tuple[str, ...] = ()
    """The hosts or failure domains at fault (empty: nowhere, e.g. missing)."""


def pod_rules(service: str, pods: Mapping[str, Mapping[str, Iterable[str]]]) -> list[Finding]:
    """A pod's instances share one host; two pods of a service never share one.

    ``pods``: pod -> where -> the UUIDs of its instances there (or nothing, for a plan's placement)."""
    found = []
    for pod, hosts in pods.items():
        if len(hosts) > 1:
            found.append(
                Finding(
                    POD_SPLIT,
                    service,
                    f"pod {pod} is split over {len(hosts)} hosts: "
                    + "; ".join(f"{h}: {', '.join(ids) or '-'}" for h, ids in sorted(_lists(hosts).items())),
                    tuple(sorted(u for ids in hosts.values() for u in ids)),
                    (pod,),
                    tuple(sorted(hosts)),
                )
            )
    for (one, one_hosts), (other, other_hosts) in combinations(sorted(pods.items()), 2):
        for host in sorted(set(one_hosts) & set(other_hosts)):
            uuids = tuple(sorted([*one_hosts[host], *other_hosts[host]]))
            found.append(
                Finding(
                    PODS_SHARE_HOST,
                    service,
                    f"pods {one} and {other} of {service} share host {host} ({', '.join(uuids) or '-'})",
                    uuids,
                    (one, other),
                    (host,),
                )
            )
    return found


def _lists(hosts: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return {h: sorted(ids) for h, ids in hosts.items()}


def replica_rules(service: str, key: str, replicas: Iterable[tuple[str, str, str]]) -> list[Finding]:
    """Two replicas of a volume group never share a failure domain. ``replicas``: (name, uuid, domain)."""
    by_domain: dict[str, list[tuple[str, str]]] = {}
    for name, uuid, domain in replicas:
        by_domain.setdefault(domain, []).append((name, uuid))
    return [
        Finding(
            REPLICAS_SHARE_DOMAIN,
            service,
            f"volume group {key}: replicas {', '.join(f'{n} ({u})' if u else n for n, u in members)} "
            f"share failure domain {domain}",
            tuple(u for _, u in members if u),
            tuple(n for n, _ in members),
            (domain,),
        )
        for domain, members in sorted(by_domain.items())
        if len(members) > 1
    ]
