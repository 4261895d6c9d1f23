"""Which service and pod each resource belongs to: from a plan when there is one, else from the URNs.

The component tree is ``Datacenter > Service > Pod > (server group, ports, instances)`` and
``Service > VolumeGroup > volumes`` (type tokens ``webex:service:Service``, ``webex:compute:Pod``), so a
resource's service and pod are its nearest ancestors of those types. Instances and volumes also carry
``metadata.service``/``metadata.pod``, which names them when the ancestors are not in the input.

Instances placed through an ``anti-affinity`` server group (the controller pair's API proxies) are
replicas kept apart on purpose: the report treats each such group as a redundancy set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webex_cloud.change.model import ControllerNode, Topology, urn_name, urn_type
from webex_cloud.plan.format import INSTANCE, POD, SERVER_GROUP, SERVICE
from webex_cloud.preview.plans import Snapshot


@dataclass(frozen=True)
class StateRecord:
    """What the topology needs of one resource, whichever source it came from."""

    urn: str
    type: str
    parent: str
    inputs: Mapping[str, Any]
    property_dependencies: Mapping[str, list[str]] = field(default_factory=dict)


def _ancestor(urn: str, parents: Mapping[str, str], wanted: str) -> str | None:
    """Name of the nearest ancestor of type ``wanted``; the parent URN itself names its own type."""
    current = parents.get(urn, "")
    seen: set[str] = set()
    while current and current not in seen:
        if urn_type(current) == wanted:
            return urn_name(current)
        seen.add(current)
        current = parents.get(current, "")
    return None


def _metadata(inputs: Mapping[str, Any], key: str) -> str | None:
    metadata = inputs.get("metadata")
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


def _anti_affinity(inputs: Mapping[str, Any]) -> bool:
    policies = inputs.get("policies", inputs.get("policy"))
    listed = policies if isinstance(policies, list) else [policies]
    return "anti-affinity" in listed


def build_topology(
    records: Iterable[StateRecord], *, source: str, controllers: tuple[ControllerNode, ...] = ()
) -> Topology:
    """Services, pods and anti-affinity sets of a set of resources."""
    items = list(records)
    parents = {r.urn: r.parent for r in items if r.parent}
    topology = Topology(source=source, controllers=controllers)
    groups = {r.urn: urn_name(r.urn) for r in items if r.type == SERVER_GROUP and _anti_affinity(r.inputs)}
    for record in items:
        if record.type in (SERVICE, POD):
            continue
        service = _ancestor(record.urn, parents, SERVICE) or _metadata(record.inputs, "service")
        if service is not None:
            topology.add(
                record.urn,
                service,
                _ancestor(record.urn, parents, POD) or _metadata(record.inputs, "pod"),
            )
        if record.type == INSTANCE:
            for group in record.property_dependencies.get("schedulerHints", []):
                if group in groups:
                    topology.redundant_sets.setdefault(groups[group], set()).add(record.urn)
    return topology


def topology_from_snapshot(snapshot: Snapshot) -> Topology:
    """The plan's (or checkpoint's) layout, with the plan's own pod list where it has one."""
    topology = build_topology(
        (
            StateRecord(r.urn, r.type, r.parent, r.inputs, r.property_dependencies)
            for r in snapshot.resources.values()
        ),
        source=snapshot.label,
        controllers=tuple(ControllerNode(name, address) for name, address in snapshot.controllers),
    )
    # Pods with no resources of their own in the walk still count towards "all pods of a service".
    for service, shapes in snapshot.pods.items():
        for shape in shapes:
            topology.pods.setdefault(service, {}).setdefault(shape.name, set())
    return topology


def merge(first: Topology, second: Topology) -> Topology:
    """Both sides of a diff: a pod that exists on either side is a pod of the service."""
    merged = Topology(
        source=" and ".join(s for s in (first.source, second.source) if s),
        controllers=first.controllers or second.controllers,
    )
    for topology in (first, second):
        for urn, (service, pod) in topology.owner.items():
            merged.add(urn, service, pod)
        for service, pods in topology.pods.items():
            for pod, urns in pods.items():
                merged.pods.setdefault(service, {}).setdefault(pod, set()).update(urns)
        for group, members in topology.redundant_sets.items():
            merged.redundant_sets.setdefault(group, set()).update(members)
    return merged
