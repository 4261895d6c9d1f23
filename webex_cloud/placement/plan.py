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

from webex_cloud.config.capacity import usable
from webex_cloud.plan import format as plan_format
from webex_cloud.plan.format import Plan, PlanError, PlanResource, read_plan


@dataclass(frozen=True)
class Host:
    name: str
    vcpus: float
    """What Placement offers: ``(total - reserved) * allocation_ratio``."""
    ram_mb: float
    availability_zone: str
    disk_gb: float = 0
    """0: disk is not counted on this host."""


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
    metadata: dict[str, str] = field(default_factory=dict)
    disk_gb: int = 0


@dataclass(frozen=True)
class VolumeRequest:
    """One replica volume as the components ask Cinder for it."""

    name: str
    uuid: str
    volume_type: str | None
    metadata_group: str | None
    hints: dict[str, object]
    attached_pod: str | None = None
    """The pod whose instance the replica is attached to (impaired while the replica is lost)."""


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
    max_unavailable: int = 1
    """The catalog's ``rollout.max_unavailable``: pods the service may lose and still serve."""


@dataclass(frozen=True)
class PlacementPlan:
    """The datacenter's hosts and failure domains, and every service's requests in creation order."""

    stack: str
    path: Path
    hosts: list[Host]
    failure_domains: dict[str, list[str]]
    services: list[ServiceRequest]
    n_plus_one: bool = True
    """The stack's ``placement.n_plus_one``: placing everything again after a single loss is required."""


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
                metadata = inst.inputs.get("metadata")
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
                        metadata=(
                            {str(k): str(v) for k, v in metadata.items()}
                            if isinstance(metadata, dict)
                            else {}
                        ),
                        disk_gb=flavor.disk_gb,
                    )
                )
            pods.append(PodRequest(pod.name, instances))
        groups = []
        for i, vg in enumerate(spec.volume_groups):
            where = f"services.{service_name}.volume_groups[{i}]"
            replicas = []
            attached = _attachments(plan, pods, vg.replicas)
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
                        attached.get(vol.id or vol.urn),
                    )
                )
            groups.append(ReplicaGroupRequest(vg.name, vg.key, replicas))
        services.append(ServiceRequest(service_name, pods, groups, spec.max_unavailable))
    return PlacementPlan(
        plan.stack,
        path,
        [
            Host(
                h.name,
                usable(h.vcpus, h.cpu_allocation_ratio),
                usable(h.ram_mb, h.ram_allocation_ratio, h.reserved_host_memory_mb),
                h.availability_zone,
                usable(h.disk_gb, h.disk_allocation_ratio),
            )
            for h in plan.datacenter.hosts
        ],
        {name: list(backends) for name, backends in plan.datacenter.failure_domains.items()},
        services,
        plan.datacenter.placement.n_plus_one,
    )


def _attachments(plan: Plan, pods: list[PodRequest], replicas: list[str]) -> dict[str, str]:
    """Replica id -> the pod whose instance it is attached to (the plan's VolumeAttach inputs)."""
    pod_of = {i.uuid: pod.name for pod in pods for i in pod.instances}
    by_urn = plan.by_urn()
    ids = {by_urn[urn].id or urn for urn in replicas if urn in by_urn}
    out: dict[str, str] = {}
    for resource in plan.resources:
        if resource.type != plan_format.VOLUME_ATTACH:
            continue
        volume, instance = resource.inputs.get("volumeId"), resource.inputs.get("instanceId")
        if isinstance(volume, str) and volume in ids and isinstance(instance, str) and instance in pod_of:
            out[volume] = pod_of[instance]
    return out


def load_placement(path: Path) -> PlacementPlan:
    """Read a plan file (through the plan format) and resolve its placement view."""
    return placement_view(read_plan(path), path)
