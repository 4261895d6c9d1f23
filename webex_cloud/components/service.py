"""One catalog service in one datacenter: its network, its pods and its volume groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi

from webex_cloud.components import naming
from webex_cloud.components.network import ServiceNetwork, ServiceNetworkArgs
from webex_cloud.components.pod import Pod, PodArgs
from webex_cloud.components.volume_group import VolumeGroup, VolumeGroupArgs
from webex_cloud.config.addressing import instance_address
from webex_cloud.config.resolved import ServiceDeployment
from webex_cloud.plan import format as tokens


@dataclass(frozen=True)
class ServiceArgs:
    deployment: ServiceDeployment
    """The validated service with its allocated subnet."""
    datacenter: str
    """Datacenter (stack) name."""
    availability_zones: tuple[str, ...]
    """Zones the pods are spread over, pod N in zone N modulo their number."""
    router_id: pulumi.Input[str]
    """The datacenter router."""


class Service(pulumi.ComponentResource):
    """Network, pods and volume groups of one service."""

    pods: list[Pod]
    volume_groups: list[VolumeGroup]
    network: ServiceNetwork

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.SERVICE, name, None, opts)
        service = args.deployment.service
        child = pulumi.ResourceOptions(parent=self)
        self.network = ServiceNetwork(
            name,
            ServiceNetworkArgs(
                service=service.name,
                owner=service.owner,
                datacenter=args.datacenter,
                cidr=args.deployment.subnet,
                router_id=args.router_id,
                ingress=args.deployment.ingress,
            ),
            child,
        )

        # Every pod's hint names the server groups of all the others, which exist only once the
        # pods are constructed: deferred outputs break that cycle without creating anything in apply().
        deferred: list[tuple[pulumi.Output[str], Callable[[pulumi.Output[str]], None]]] = [
            pulumi.deferred_output() for _ in range(service.pods.count)
        ]
        subnet, roles = args.deployment.subnet, len(service.pods.members)
        self.pods = []
        for index in range(service.pods.count):
            pod_name = naming.pod(service.name, index)
            siblings = [out for other, (out, _) in enumerate(deferred) if other != index]
            pod = Pod(
                pod_name,
                PodArgs(
                    service=service.name,
                    owner=service.owner,
                    datacenter=args.datacenter,
                    pod_name=pod_name,
                    members=service.pods.members,
                    availability_zone=args.availability_zones[index % len(args.availability_zones)],
                    network_id=self.network.network_id,
                    subnet_id=self.network.subnet_id,
                    security_group_id=self.network.security_group_id,
                    fixed_ips=[
                        str(instance_address(subnet, roles, index, role, ordinal))
                        for role, member in enumerate(service.pods.members)
                        for ordinal in range(member.count)
                    ],
                    sibling_group_ids=pulumi.Output.all(*siblings),
                    after=self.pods[-1].first_instance if self.pods else None,
                ),
                child,
            )
            deferred[index][1](pod.server_group_id)
            self.pods.append(pod)

        self.volume_groups = []
        for group in service.volume_groups:
            attach = (
                [pod.instances[group.attach_to][0].id for pod in self.pods[: group.replicas]]
                if group.attach_to
                else []
            )
            self.volume_groups.append(
                VolumeGroup(
                    naming.volume_group(service.name, group.name),
                    VolumeGroupArgs(
                        service=service.name,
                        owner=service.owner,
                        datacenter=args.datacenter,
                        group=group.name,
                        size_gb=group.size_gb,
                        volume_type=group.type,
                        replicas=group.replicas,
                        attach_to=attach,
                    ),
                    child,
                )
            )
        self.register_outputs(
            {
                "subnet": str(args.deployment.subnet),
                "server_group_ids": [pod.server_group_id for pod in self.pods],
            }
        )
