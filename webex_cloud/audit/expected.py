"""What the catalog expects in the cloud, read from a stack's offline plan.

Instances and replica volumes are matched on the name they are created with in Nova and Cinder
(:func:`webex_cloud.components.naming.cloud_name`, the one definition the components use too): the plan's
IDs are the mock engine's, never the cloud's.

Instances outside pods (the controller pair's proxies) count as one-member pods of their ``service``: the
pair's hard anti-affinity is the same rule as two pods of a service never sharing a host. The placement
reader (webex_cloud/placement/plan.py) does not read them, so their names and metadata come from the plan's
resources here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webex_cloud.components.naming import cloud_name
from webex_cloud.components.tags import SERVICE_KEY
from webex_cloud.placement.plan import Plan, PlanError
from webex_cloud.plan.document import INSTANCE_TYPE


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


def _instances_outside_pods(plan: Plan, in_pods: set[str]) -> list[ExpectedPod]:
    try:
        resources: Any = json.loads(plan.path.read_text(encoding="utf-8")).get("resources", [])
    except (OSError, ValueError, AttributeError) as error:
        raise PlanError(f"{plan.path}: cannot read its resources again ({error})") from None
    found = []
    for resource in resources if isinstance(resources, list) else []:
        inputs = resource.get("inputs") if isinstance(resource, dict) else None
        if resource.get("type") != INSTANCE_TYPE or not isinstance(inputs, dict):
            continue
        name, metadata = inputs.get("name"), inputs.get("metadata") or {}
        if isinstance(name, str) and name not in in_pods and isinstance(metadata, dict):
            found.append(ExpectedPod(str(metadata.get(SERVICE_KEY, "?")), name, (name,)))
    return sorted(found, key=lambda p: (p.service, p.name))


def expected_from_plan(plan: Plan) -> Expected:
    pods = [
        ExpectedPod(service.name, pod.name, tuple(cloud_name(plan.stack, i.name) for i in pod.instances))
        for service in plan.services
        for pod in service.pods
    ]
    pods += _instances_outside_pods(plan, {name for pod in pods for name in pod.instances})
    return Expected(
        stack=plan.stack,
        hosts=tuple(h.name for h in plan.hosts),
        failure_domains={d: tuple(b) for d, b in plan.failure_domains.items()},
        pods=tuple(pods),
        groups=tuple(
            ExpectedGroup(
                service.name,
                group.name,
                group.key,
                tuple(cloud_name(plan.stack, r.name) for r in group.replicas),
            )
            for service in plan.services
            for group in service.volume_groups
        ),
    )
