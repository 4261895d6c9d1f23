"""What the placement proof reads from an offline plan: the placement view of a :class:`Plan`.

The document itself is read and validated by ``webex_cloud.plan.format``; this module resolves what
placement needs from it (each instance's flavor size, hints and server group policy, each replica's
volume type and group label), and names the plan's field when something does not resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webex_scheduler_filters.hints import VOLUME_GROUP_METADATA_KEY

from webex_cloud.plan.format import Plan, PlanError, PlanResource, read_plan


@dataclass(frozen=True)
class Host:
    name: str
    vcpus: int
    ram_mb: int
    availability_zone: str


@dataclass(frozen=True)
class InstanceRequest:
    """One pod instance as the components ask Nova for it."""

    name: str
    uuid: str
    vcpus: int
    ram_mb: int
    availability_zone: str | None
    group: str | None
    group_policy: str | None
    hints: dict[str, object]


@dataclass(frozen=True)
class VolumeRequest:
    """One replica volume as the components ask Cinder for it."""

    name: str
    uuid: str
    volume_type: str | None
    metadata_group: str | None
    hints: dict[str, object]


@dataclass(frozen=True)
class PodRequest:
    """One pod: its instances, placed together."""

    name: str
    instances: list[InstanceRequest]


@dataclass(frozen=True)
class ReplicaGroupRequest:
    """One volume group: its replicas, placed apart."""

    name: str
    key: str
    replicas: list[VolumeRequest]


@dataclass(frozen=True)
class ServiceRequest:
    """What one service of the plan asks the schedulers for."""

    name: str
    pods: list[PodRequest] = field(default_factory=list)
    volume_groups: list[ReplicaGroupRequest] = field(default_factory=list)


@dataclass(frozen=True)
class PlacementPlan:
    """The datacenter's hosts and failure domains, and every service's requests in creation order."""

    stack: str
    path: Path
    hosts: list[Host]
    failure_domains: dict[str, list[str]]
    services: list[ServiceRequest]


def _first_hints(inputs: dict[str, Any]) -> tuple[str | None, dict[str, object]]:
    hints = inputs.get("schedulerHints") or []
    first = hints[0] if isinstance(hints, list) and hints and isinstance(hints[0], dict) else {}
    extra = first.get("additionalProperties")
    group = first.get("group")
    return (group if isinstance(group, str) else None), (dict(extra) if isinstance(extra, dict) else {})


def placement_view(plan: Plan, path: Path) -> PlacementPlan:
    """Resolve the requests of every service; ``path`` names the plan in errors."""
    source = str(path)
    by_urn = plan.by_urn()
    flavors = plan.datacenter.flavors

    def resource(urn: str, where: str) -> PlanResource:
        found = by_urn.get(urn)
        if found is None:
            raise PlanError(source, f"{where} names {urn!r}, which is not among the plan's resources")
        return found

    services = []
    for service_name, spec in sorted(plan.services.items()):
        pods = []
        for i, pod in enumerate(spec.pods):
            where = f"services.{service_name}.pods[{i}]"
            group = resource(pod.server_group, f"{where}.server_group")
            group_id = group.id or group.urn
            policies = group.inputs.get("policies")
            first = policies[0] if isinstance(policies, list) and policies else policies
            policy = first if isinstance(first, str) else None
            instances = []
            for urn in pod.instances:
                inst = resource(urn, f"{where}.instances")
                flavor_name = inst.inputs.get("flavorName")
                flavor = flavors.get(flavor_name) if isinstance(flavor_name, str) else None
                if flavor is None:
                    raise PlanError(
                        source,
                        f"instance {inst.name} uses flavor {flavor_name!r}, "
                        "which datacenter.flavors does not define",
                    )
                hint_group, hints = _first_hints(inst.inputs)
                instances.append(
                    InstanceRequest(
                        name=inst.name,
                        uuid=inst.id or inst.urn,
                        vcpus=flavor.vcpus,
                        ram_mb=flavor.ram_mb,
                        availability_zone=inst.inputs.get("availabilityZone"),
                        group=hint_group,
                        group_policy=policy if hint_group == group_id else None,
                        hints=hints,
                    )
                )
            pods.append(PodRequest(pod.name, instances))
        groups = []
        for i, vg in enumerate(spec.volume_groups):
            where = f"services.{service_name}.volume_groups[{i}]"
            replicas = []
            for urn in vg.replicas:
                vol = resource(urn, f"{where}.replicas")
                _, hints = _first_hints(vol.inputs)
                metadata = vol.inputs.get("metadata") or {}
                label = metadata.get(VOLUME_GROUP_METADATA_KEY) if isinstance(metadata, dict) else None
                replicas.append(
                    VolumeRequest(
                        vol.name,
                        vol.id or vol.urn,
                        vol.inputs.get("volumeType"),
                        label if isinstance(label, str) else None,
                        hints,
                    )
                )
            groups.append(ReplicaGroupRequest(vg.name, vg.key, replicas))
        services.append(ServiceRequest(service_name, pods, groups))
    return PlacementPlan(
        plan.stack,
        path,
        [Host(h.name, h.vcpus, h.ram_mb, h.availability_zone) for h in plan.datacenter.hosts],
        {name: list(backends) for name, backends in plan.datacenter.failure_domains.items()},
        services,
    )


def load_placement(path: Path) -> PlacementPlan:
    """Read a plan file (through the plan format) and resolve its placement view."""
    return placement_view(read_plan(path), path)
