"""A service's network: its own network and subnet on the datacenter router, and its security group."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.tags import ownership_tags
from webex_cloud.config.resolved import IngressGrant


@dataclass(frozen=True)
class ServiceNetworkArgs:
    service: str
    """Catalog name of the service."""
    owner: str
    """Owning team, written as a tag."""
    datacenter: str
    """Datacenter (stack) name."""
    cidr: ipaddress.IPv4Network
    """Subnet allocated to the service from the datacenter pool."""
    router_id: pulumi.Input[str]
    """The datacenter router the subnet is attached to."""
    ingress: Sequence[IngressGrant]
    """Inbound rules, one security group rule each."""


class ServiceNetwork(pulumi.ComponentResource):
    """Network, subnet, router interface and ingress security group of one service."""

    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("webex:network:ServiceNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = ownership_tags(args.service, args.owner, args.datacenter)
        label = f"{args.datacenter}-{args.service}"

        network = openstack.networking.Network(
            f"{name}-net", name=label, admin_state_up=True, port_security_enabled=True, tags=tags, opts=child
        )
        subnet = openstack.networking.Subnet(
            f"{name}-subnet",
            name=label,
            network_id=network.id,
            cidr=str(args.cidr),
            ip_version=4,
            gateway_ip=str(args.cidr.network_address + 1),
            enable_dhcp=True,
            tags=tags,
            opts=child,
        )
        openstack.networking.RouterInterface(
            f"{name}-router-interface", router_id=args.router_id, subnet_id=subnet.id, opts=child
        )
        group = openstack.networking.SecGroup(
            f"{name}-sg",
            name=label,
            description=f"ingress of {args.service} in {args.datacenter}",
            tags=tags,
            opts=child,
        )
        for index, grant in enumerate(args.ingress):
            openstack.networking.SecGroupRule(
                f"{name}-ingress-{index}",
                direction="ingress",
                ethertype=grant.ethertype,
                protocol=grant.protocol,
                port_range_min=grant.port_min,
                port_range_max=grant.port_max,
                remote_ip_prefix=grant.remote_prefix,
                description=grant.description,
                security_group_id=group.id,
                opts=child,
            )

        self.network_id = network.id
        self.subnet_id = subnet.id
        self.security_group_id = group.id
        self.register_outputs(
            {
                "network_id": network.id,
                "subnet_id": subnet.id,
                "security_group_id": group.id,
                "cidr": str(args.cidr),
            }
        )
