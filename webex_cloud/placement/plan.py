"""What the placement proof reads from an offline plan (docs/plan-format.md), validated once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webex_scheduler_filters import hints as contract

from webex_cloud.config.capacity import usable

PLAN_FORMAT = "webex-cloud.plan/v1"
ATTACH_TYPE = "openstack:compute/volumeAttach:VolumeAttach"


class PlanError(Exception):
    """The plan file cannot be used; the message names the file and what to do."""


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
    """The pod whose instance the replica is attached to (impaired when the replica is lost)."""


@dataclass(frozen=True)
class Pod:
    name: str
    instances: list[InstanceRequest]


@dataclass(frozen=True)
class VolumeGroup:
    name: str
    key: str
    replicas: list[VolumeRequest]


@dataclass(frozen=True)
class Service:
    name: str
    pods: list[Pod] = field(default_factory=list)
    volume_groups: list[VolumeGroup] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    stack: str
    path: Path
    hosts: list[Host]
    failure_domains: dict[str, list[str]]
    services: list[Service]
    n_plus_one: bool = True
    """The stack's ``placement.n_plus_one``: re-placement after a single loss is required."""


def _require(value: Any, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PlanError(
            f"{path}: {where} must be a {names}, got {type(value).__name__}; "
            "re-render the plan with `python -m webex_cloud plan` (format: docs/plan-format.md)"
        )
    return value


def _first_hints(inputs: dict[str, Any]) -> tuple[str | None, dict[str, object]]:
    hints = inputs.get("schedulerHints") or []
    first = hints[0] if isinstance(hints, list) and hints and isinstance(hints[0], dict) else {}
    extra = first.get("additionalProperties")
    group = first.get("group")
    return (group if isinstance(group, str) else None), (dict(extra) if isinstance(extra, dict) else {})


def load_plan(path: Path) -> Plan:
    """Read and validate the parts of a plan that placement needs."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(
            f"{path}: no such plan; render it with `python -m webex_cloud plan --stack "
            f"{path.stem}` or pass --plan PATH"
        ) from None
    except OSError as error:
        raise PlanError(f"{path}: cannot read the plan ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(
            f"{path}: not a plan (invalid JSON: {error}); re-render it with `python -m webex_cloud plan`"
        ) from None
    _require(document, dict, "the document", path)
    if document.get("format") != PLAN_FORMAT:
        raise PlanError(
            f"{path}: format is {document.get('format')!r}, expected {PLAN_FORMAT!r} (docs/plan-format.md)"
        )
    datacenter = _require(document.get("datacenter"), dict, "datacenter", path)
    resources = _require(document.get("resources"), list, "resources", path)
    by_urn = {r.get("urn"): r for r in resources if isinstance(r, dict)}
    flavors = _require(datacenter.get("flavors"), dict, "datacenter.flavors", path)
    try:
        hosts = [
            Host(
                str(h["name"]),
                usable(int(h["vcpus"]), float(h.get("cpu_allocation_ratio", 1.0))),
                usable(
                    int(h["ram_mb"]),
                    float(h.get("ram_allocation_ratio", 1.0)),
                    int(h.get("reserved_host_memory_mb", 0)),
                ),
                str(h["availability_zone"]),
                usable(int(h.get("disk_gb", 0)), float(h.get("disk_allocation_ratio", 1.0))),
            )
            for h in _require(datacenter.get("hosts"), list, "datacenter.hosts", path)
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise PlanError(
            f"{path}: datacenter.hosts entries need name, vcpus, ram_mb and availability_zone ({error!r})"
        ) from None
    placement = datacenter.get("placement")
    n_plus_one = not (isinstance(placement, dict) and placement.get("n_plus_one") is False)
    domains = _require(datacenter.get("failure_domains", {}), dict, "datacenter.failure_domains", path)

    def resource(urn: object, where: str) -> dict[str, Any]:
        found = by_urn.get(urn)
        if found is None:
            raise PlanError(f"{path}: {where} names {urn!r}, which is not among the plan's resources")
        inputs = _require(found.get("inputs", {}), dict, f"inputs of {urn}", path)
        return {"id": str(found.get("id") or urn), "name": str(found.get("name")), "inputs": inputs}

    services = []
    for service_name, spec in sorted(_require(document.get("services"), dict, "services", path).items()):
        spec = _require(spec, dict, f"services.{service_name}", path)
        pods = []
        for i, pod in enumerate(_require(spec.get("pods", []), list, f"services.{service_name}.pods", path)):
            where = f"services.{service_name}.pods[{i}]"
            pod = _require(pod, dict, where, path)
            group = resource(pod.get("server_group"), f"{where}.server_group")
            policy = group["inputs"].get("policies")
            policy = policy[0] if isinstance(policy, list) and policy else policy
            instances = []
            for urn in _require(pod.get("instances"), list, f"{where}.instances", path):
                inst = resource(urn, f"{where}.instances")
                flavor_name = inst["inputs"].get("flavorName")
                flavor = flavors.get(flavor_name)
                if not isinstance(flavor, dict):
                    raise PlanError(
                        f"{path}: instance {inst['name']} uses flavor {flavor_name!r}, which "
                        f"datacenter.flavors does not define"
                    )
                hint_group, hints = _first_hints(inst["inputs"])
                metadata = inst["inputs"].get("metadata")
                instances.append(
                    InstanceRequest(
                        name=inst["name"],
                        uuid=inst["id"],
                        vcpus=int(flavor.get("vcpus", 0)),
                        ram_mb=int(flavor.get("ram_mb", 0)),
                        availability_zone=inst["inputs"].get("availabilityZone"),
                        group=hint_group,
                        group_policy=policy if hint_group == group["id"] else None,
                        hints=hints,
                        metadata=(
                            {str(k): str(v) for k, v in metadata.items()}
                            if isinstance(metadata, dict)
                            else {}
                        ),
                        disk_gb=int(flavor.get("disk_gb", 0)),
                    )
                )
            pods.append(Pod(str(pod.get("name")), instances))
        groups = []
        for i, vg in enumerate(
            _require(spec.get("volume_groups", []), list, f"services.{service_name}.volume_groups", path)
        ):
            where = f"services.{service_name}.volume_groups[{i}]"
            vg = _require(vg, dict, where, path)
            replicas = []
            attached = _attachments(by_urn, pods, vg)
            for urn in _require(vg.get("replicas"), list, f"{where}.replicas", path):
                vol = resource(urn, f"{where}.replicas")
                _, hints = _first_hints(vol["inputs"])
                metadata = vol["inputs"].get("metadata") or {}
                label = (
                    metadata.get(contract.VOLUME_GROUP_METADATA_KEY) if isinstance(metadata, dict) else None
                )
                replicas.append(
                    VolumeRequest(
                        vol["name"],
                        vol["id"],
                        vol["inputs"].get("volumeType"),
                        label if isinstance(label, str) else None,
                        hints,
                        attached.get(vol["id"]),
                    )
                )
            groups.append(VolumeGroup(str(vg.get("name")), str(vg.get("key")), replicas))
        services.append(Service(service_name, pods, groups))
    return Plan(
        str(document.get("stack")),
        path,
        hosts,
        {str(k): [str(b) for b in v] for k, v in domains.items() if isinstance(v, list)},
        services,
        n_plus_one,
    )


def _attachments(by_urn: dict[Any, Any], pods: list[Pod], group: dict[str, Any]) -> dict[str, str]:
    """Replica id -> the pod its attachment's instance belongs to (the plan's VolumeAttach inputs)."""
    pod_of = {i.uuid: pod.name for pod in pods for i in pod.instances}
    replica_ids = {str((by_urn.get(urn) or {}).get("id") or urn) for urn in group.get("replicas") or []}
    out: dict[str, str] = {}
    for resource in by_urn.values():
        if not isinstance(resource, dict) or resource.get("type") != ATTACH_TYPE:
            continue
        inputs = resource.get("inputs") or {}
        volume, instance = inputs.get("volumeId"), inputs.get("instanceId")
        if volume in replica_ids and instance in pod_of:
            out[str(volume)] = pod_of[str(instance)]
    return out
