"""One catalog service in one datacenter: its network, its pods and its volume groups."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

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

    anchor_group: openstack.compute.ServerGroup
    """The ``anti-affinity`` group every pod's anchor joins."""
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

        # Dynamic membership: a pod added later joins the group, and Nova reads the members on
        # every move of every anchor; no instance input names another pod.
        self.anchor_group = openstack.compute.ServerGroup(
            naming.server_group(service.name),
            name=f"{args.datacenter}-{naming.server_group(service.name)}",
            policies="anti-affinity",
            opts=child,
        )
        subnet, roles = args.deployment.subnet, len(service.pods.members)
        self.pods = []
        for index in range(service.pods.count):
            pod_name = naming.pod(service.name, index)
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
                    anchor_group_id=self.anchor_group.id,
                    after=self.pods[-1].first_instance if self.pods else None,
                ),
                child,
            )
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
                "server_group_id": self.anchor_group.id,
            }
        )
