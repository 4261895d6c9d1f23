"""What the catalog expects in the cloud, read from a stack's offline plan (webex_cloud/plan/format.py).

Instances and replica volumes are matched on the name the plan gives them in Nova and Cinder (their
``inputs.name``): the plan's IDs are the mock engine's, never the cloud's.

Instances outside pods (the controller pair's proxies) count as one-member pods of their ``service``: the
pair's hard anti-affinity is the same rule as two pods of a service never sharing a host.
"""

from __future__ import annotations

from dataclasses import dataclass

from webex_cloud.plan.format import INSTANCE, Plan, PlanError, PlanResource
from webex_cloud.tags import SERVICE_KEY


@dataclass(frozen=True)
class ExpectedPod:
    service: str
    name: str
    instances: tuple[str, ...]
    """Cloud names of the pod's instances, in member order."""


@dataclass(frozen=True)
class ExpectedGroup:
    service: str
    name: str
    key: str
    """The group's metadata value (``<datacenter>/<service>/<group>``)."""
    replicas: tuple[str, ...]
    """Cloud names of the replica volumes, replica 0 first."""


@dataclass(frozen=True)
class Expected:
    stack: str
    hosts: tuple[str, ...]
    """The stack's compute host inventory, in the stack file's order."""
    failure_domains: dict[str, tuple[str, ...]]
    """Storage failure domain -> its Cinder backends (``host@backend``)."""
    pods: tuple[ExpectedPod, ...]
    groups: tuple[ExpectedGroup, ...]

    def domain_of(self, backend: str) -> str | None:
        """The failure domain of a backend ``host@backend`` (a pool suffix ``#pool`` is ignored)."""
        bare = backend.partition("#")[0]
        return next((d for d, members in self.failure_domains.items() if bare in members), None)


def _cloud_name(resource: PlanResource | None, urn: str, where: str, source: str) -> str:
    name = resource.inputs.get("name") if resource is not None else None
    if not isinstance(name, str) or not name:
        raise PlanError(
            source,
            f"{where} names {urn}, which is not a resource of the plan with an inputs.name; "
            "re-render the plan with `python -m webex_cloud plan`",
        )
    return name


def expected_from_plan(plan: Plan, source: str) -> Expected:
    """The expectations of a read plan; ``source`` names the plan file in errors."""
    by_urn = plan.by_urn()
    pods: list[ExpectedPod] = []
    groups: list[ExpectedGroup] = []
    for service, spec in sorted(plan.services.items()):
        for i, pod in enumerate(spec.pods):
            where = f"services.{service}.pods[{i}].instances"
            names = tuple(_cloud_name(by_urn.get(urn), urn, where, source) for urn in pod.instances)
            pods.append(ExpectedPod(service, pod.name, names))
        for i, group in enumerate(spec.volume_groups):
            where = f"services.{service}.volume_groups[{i}].replicas"
            names = tuple(_cloud_name(by_urn.get(urn), urn, where, source) for urn in group.replicas)
            groups.append(ExpectedGroup(service, group.name, group.key, names))
    in_pods = {urn for spec in plan.services.values() for pod in spec.pods for urn in pod.instances}
    others = []
    for resource in plan.resources:
        if resource.type == INSTANCE and resource.urn not in in_pods:
            name = _cloud_name(resource, resource.urn, "resources", source)
            metadata = resource.inputs.get("metadata")
            owner = metadata.get(SERVICE_KEY) if isinstance(metadata, dict) else None
            others.append(ExpectedPod(str(owner or "?"), name, (name,)))
    pods += sorted(others, key=lambda p: (p.service, p.name))
    datacenter = plan.datacenter
    return Expected(
        stack=plan.stack,
        hosts=tuple(h.name for h in datacenter.hosts),
        failure_domains={d: tuple(b) for d, b in datacenter.failure_domains.items()},
        pods=tuple(pods),
        groups=tuple(groups),
    )
