"""What the catalog expects in the cloud, read from a stack's offline plan.

Instances and replica volumes are matched on the name they are created with in Nova and Cinder
(:func:`webex_cloud.components.naming.cloud_name`, the one definition the components use too): the plan's
IDs are the mock engine's, never the cloud's.
"""

from __future__ import annotations

from dataclasses import dataclass

from webex_cloud.components.naming import cloud_name
from webex_cloud.placement.plan import Plan


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


def expected_from_plan(plan: Plan) -> Expected:
    return Expected(
        stack=plan.stack,
        hosts=tuple(h.name for h in plan.hosts),
        failure_domains={d: tuple(b) for d, b in plan.failure_domains.items()},
        pods=tuple(
            ExpectedPod(service.name, pod.name, tuple(cloud_name(plan.stack, i.name) for i in pod.instances))
            for service in plan.services
            for pod in service.pods
        ),
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
