"""Which service and pod each resource belongs to: from a plan when there is one, else from the URNs.

The component tree is ``Datacenter > Service > Pod > (server group, ports, instances)`` and
``Service > VolumeGroup > volumes`` (type tokens ``webex:service:Service``, ``webex:compute:Pod``), so a
resource's service and pod are its nearest ancestors of those types. Instances and volumes also carry
``metadata.service``/``metadata.pod``, which names them when the ancestors are not in the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webex_cloud.preview.model import Controller, Topology, urn_name, urn_type
from webex_cloud.preview.plans import Snapshot

SERVICE_TYPE = "webex:service:Service"
POD_TYPE = "webex:compute:Pod"


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


def topology_from_states(states: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> Topology:
    """Infer services and pods from (urn, type, parent, inputs) tuples, e.g. a preview's steps."""
    items = list(states)
    parents = {urn: parent for urn, _, parent, _ in items if parent}
    topology = Topology(source="the preview's own steps")
    for urn, resource_type, _, inputs in items:
        if resource_type in (SERVICE_TYPE, POD_TYPE):
            continue
        service = _ancestor(urn, parents, SERVICE_TYPE) or _metadata(inputs, "service")
        if service is None:
            continue
        pod = _ancestor(urn, parents, POD_TYPE) or _metadata(inputs, "pod")
        topology.add(urn, service, pod)
    return topology


def topology_from_snapshot(snapshot: Snapshot) -> Topology:
    """The plan's own service layout, plus the ancestor walk for the resources it does not list."""
    parents = {r.urn: r.parent for r in snapshot.resources.values() if r.parent}
    topology = Topology(source=snapshot.label,
                        controllers=tuple(Controller(name, address) for name, address in snapshot.controllers))
    for resource in snapshot.resources.values():
        if resource.type in (SERVICE_TYPE, POD_TYPE):
            continue
        service = _ancestor(resource.urn, parents, SERVICE_TYPE) or _metadata(resource.inputs, "service")
        if service is not None:
            pod = _ancestor(resource.urn, parents, POD_TYPE) or _metadata(resource.inputs, "pod")
            topology.add(resource.urn, service, pod)
    # Pods with no resources of their own in the walk still count towards "all pods of a service".
    for service, pods in snapshot.pods.items():
        for pod in pods:
            topology.pods.setdefault(service, {}).setdefault(pod.name, set())
    return topology


def merge(first: Topology, second: Topology) -> Topology:
    """Both sides of a diff: a pod that exists on either side is a pod of the service."""
    merged = Topology(source=" and ".join(s for s in (first.source, second.source) if s),
                      controllers=first.controllers or second.controllers)
    for topology in (first, second):
        for urn, (service, pod) in topology.owner.items():
            merged.add(urn, service, pod)
        for service, pods in topology.pods.items():
            for pod, urns in pods.items():
                merged.pods.setdefault(service, {}).setdefault(pod, set()).update(urns)
    return merged
