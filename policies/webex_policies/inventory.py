"""One pass over a stack's resources: its services, their pods and volume groups, and their shape.

Stack rules and the cross-datacenter rule read this view instead of re-scanning the resource list,
so a stack policy costs one linear pass however many services it checks. The harness builds the
same view from each other datacenter's plan to hand the pack that datacenter's shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from webex_scheduler_filters import hints

from webex_policies.model import INSTANCE, VOLUME, Resource
from webex_policies.params import DEFAULT_CONTROLLER_ROLES, DEFAULT_PAIR_ROLES, ServiceShape
from webex_policies.values import get_path, known


@dataclass
class ServiceView:
    """The members of one service found in the stack."""

    pods: dict[str, list[Resource]] = field(default_factory=dict)
    """Pod name -> its instances (controller instances are not in any pod)."""
    roles: Counter[str] = field(default_factory=Counter)
    """Role -> instances with that role, over all pods."""
    volume_groups: dict[str, list[Resource]] = field(default_factory=dict)
    """Volume group name (the last part of its key) -> its replicas."""
    pods_uncertain: bool = False
    """Some instance of the service has an unknown pod or role: pod counts are lower bounds."""
    groups_uncertain: bool = False
    """Some volume of the service has an unknown group: replica counts are lower bounds."""

    def shape(self) -> ServiceShape:
        return ServiceShape(
            pods=len(self.pods),
            roles=dict(self.roles),
            volume_groups={name: len(replicas) for name, replicas in self.volume_groups.items()},
        )


@dataclass
class StackView:
    services: dict[str, ServiceView] = field(default_factory=dict)
    controllers: list[Resource] = field(default_factory=list)
    """Instances whose role is a controller role."""
    unattributed: int = 0
    """Instances and volumes whose service is unknown: any service's counts may be too low."""

    def certain(self, service: str, *, pods: bool = False, groups: bool = False) -> bool:
        """True when the counts of ``service`` cannot grow once the unknowns are resolved."""
        view = self.services.get(service)
        if self.unattributed or view is None:
            return False
        return not ((pods and view.pods_uncertain) or (groups and view.groups_uncertain))


def _group_name(key: str, service: str) -> str:
    """``dc1/messaging/messages`` -> ``messages`` (the datacenter prefix differs between stacks)."""
    prefix_end = key.find(f"/{service}/")
    return key[prefix_end + len(service) + 2 :] if prefix_end >= 0 else key


def build(
    resources: Iterable[Resource],
    controller_roles: frozenset[str] = frozenset(DEFAULT_CONTROLLER_ROLES),
    pair_roles: frozenset[str] = frozenset(DEFAULT_PAIR_ROLES),
) -> StackView:
    """Sort instances and volumes into services, pods and volume groups (one pass). Instances of the
    platform's other pairs (``pair_roles``: the monitoring pair) are no service's pods."""
    view = StackView()
    for resource in resources:
        if resource.type not in (INSTANCE, VOLUME):
            continue
        metadata = resource.props.get("metadata")
        service = get_path(metadata, "service")
        if not known(service):
            view.unattributed += 1
            continue
        role = get_path(metadata, "role")
        if resource.type == INSTANCE and isinstance(role, str) and role in controller_roles:
            view.controllers.append(resource)
            continue
        if resource.type == INSTANCE and isinstance(role, str) and role in pair_roles:
            continue
        if not isinstance(service, str) or not service:
            continue  # no service at all: the required-metadata policy reports it
        entry = view.services.setdefault(service, ServiceView())
        if resource.type == INSTANCE:
            pod = get_path(metadata, "pod")
            if not (known(pod) and known(role)):
                entry.pods_uncertain = True
                continue
            if isinstance(pod, str) and pod:
                entry.pods.setdefault(pod, []).append(resource)
                entry.roles[role if isinstance(role, str) else ""] += 1
        else:
            key = get_path(metadata, hints.VOLUME_GROUP_METADATA_KEY)
            if not known(key):
                entry.groups_uncertain = True
                continue
            if isinstance(key, str) and key:
                entry.volume_groups.setdefault(_group_name(key, service), []).append(resource)
    return view


def shapes(view: StackView) -> dict[str, ServiceShape]:
    """Service -> shape, for every service of the view."""
    return {name: service.shape() for name, service in sorted(view.services.items())}
