"""A pod: instances that share one compute host, kept off the hosts of the service's other pods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from webex_scheduler_filters import hints

from webex_cloud.components import naming
from webex_cloud.components.tags import ownership_metadata
from webex_cloud.config.models import PodMember
from webex_cloud.plan import format as tokens

# Scheduler hints force replacement: without this, adding a pod would change every existing
# instance's sibling list and recreate the whole service at once. Existing instances keep the
# list they were placed with (their pod already holds its own host); new instances get the full one.
SIBLING_HINT_PATH = f"schedulerHints[0].additionalProperties.{hints.NOVA_SIBLING_GROUPS_HINT}"


@dataclass(frozen=True)
class PodArgs:
    service: str
    """Catalog name of the service."""
    owner: str
    """Owning team."""
    datacenter: str
    """Datacenter (stack) name."""
    pod_name: str
    """Name of the pod, unique in the datacenter (``<service>-pod-<n>``)."""
    members: Sequence[PodMember]
    """Instance roles of the pod."""
    availability_zone: str
    """Nova availability zone of every instance of the pod."""
    network_id: pulumi.Input[str]
    """Service network the instances' ports are on."""
    subnet_id: pulumi.Input[str]
    """Service subnet the fixed IPs are taken from."""
    security_group_id: pulumi.Input[str]
    """Security group of the instances' ports."""
    fixed_ips: Sequence[str]
    """One fixed IP per instance, in member order."""
    sibling_group_ids: pulumi.Input[Sequence[str]]
    """Server groups of the service's other pods: their hosts are off limits."""
    after: pulumi.Resource | None = None
    """Resource whose creation must finish before this pod's first instance is scheduled."""


class Pod(pulumi.ComponentResource):
    """An ``affinity`` server group and its instances, each on an explicit port."""

    server_group_id: pulumi.Output[str]
    instances: dict[str, list[openstack.compute.Instance]]
    """Instances by role, in order."""
    first_instance: openstack.compute.Instance

    def __init__(self, name: str, args: PodArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.POD, name, None, opts)
        group = openstack.compute.ServerGroup(
            naming.server_group(name),
            name=f"{args.datacenter}-{args.pod_name}",
            policies="affinity",
            opts=pulumi.ResourceOptions(parent=self),
        )
        hint = openstack.compute.InstanceSchedulerHintArgs(
            group=group.id,
            additional_properties={
                hints.NOVA_SERVICE_HINT: f"{args.datacenter}/{args.service}",
                hints.NOVA_POD_HINT: args.pod_name,
                hints.NOVA_SIBLING_GROUPS_HINT: pulumi.Output.from_input(args.sibling_group_ids).apply(
                    hints.join_list
                ),
            },
        )
        self.instances = {}
        addresses = iter(args.fixed_ips)
        first: openstack.compute.Instance | None = None
        for member in args.members:
            for ordinal in range(member.count):
                instance_name = naming.instance(name, member.role, ordinal)
                port = openstack.networking.Port(
                    f"{instance_name}-port",
                    name=f"{args.datacenter}-{instance_name}",
                    network_id=args.network_id,
                    fixed_ips=[
                        openstack.networking.PortFixedIpArgs(
                            subnet_id=args.subnet_id, ip_address=next(addresses)
                        )
                    ],
                    security_group_ids=[args.security_group_id],
                    opts=pulumi.ResourceOptions(parent=self),
                )
                # Chaining keeps concurrent creation race-free: the filters only see placed siblings.
                after = first if first is not None else args.after
                instance = openstack.compute.Instance(
                    instance_name,
                    name=f"{args.datacenter}-{instance_name}",
                    flavor_name=member.flavor,
                    image_name=member.image,
                    availability_zone=args.availability_zone,
                    networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
                    metadata={
                        **ownership_metadata(args.service, args.owner, args.datacenter),
                        "pod": args.pod_name,
                        "role": member.role,
                    },
                    scheduler_hints=[hint],
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=[after] if after is not None else None,
                        ignore_changes=[SIBLING_HINT_PATH],
                        # The replacement boots on the same fixed-IP port, which the old server
                        # holds until it is gone (Nova refuses a port in use).
                        delete_before_replace=True,
                    ),
                )
                self.instances.setdefault(member.role, []).append(instance)
                first = first or instance
        if first is None:
            raise ValueError(f"pod {args.pod_name} has no members")
        self.first_instance = first
        self.server_group_id = group.id
        self.register_outputs(
            {
                "server_group_id": group.id,
                "instance_ids": [i.id for group_ in self.instances.values() for i in group_],
            }
        )
