"""A service's network: its own network and subnet on the datacenter router, and its security group."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from webex_cloud import naming
from webex_cloud.config.addressing import neutron_pool
from webex_cloud.config.resolved import IngressGrant
from webex_cloud.plan import format as tokens
from webex_cloud.tags import ownership_tags


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


def rule_slug(grant: IngressGrant) -> str:
    """``tcp-443-from-0.0.0.0_0``: unique per (protocol, ports, prefix), valid in a URN (no ``::``)."""
    ports = "" if grant.port_min is None else f"-{grant.port_min}"
    if grant.port_max is not None and grant.port_max != grant.port_min:
        ports += f"-{grant.port_max}"
    prefix = grant.remote_prefix.replace(":", "x").replace("/", "_")
    return f"{grant.protocol}{ports}-from-{prefix}"


class ServiceNetwork(pulumi.ComponentResource):
    """Network, subnet, router interface and ingress security group of one service."""

    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    rules: list[openstack.networking.SecGroupRule]

    def __init__(
        self, name: str, args: ServiceNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(tokens.SERVICE_NETWORK, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = ownership_tags(args.service, args.owner, args.datacenter)
        # The network's name is what Prometheus' OpenStack SD reports as the address pool (monitoring).
        label = naming.cloud_name(args.datacenter, args.service)

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
            # Neutron's own ports (DHCP, metadata) draw from the reserved range only, so they
            # can never take an instance's fixed IP.
            allocation_pools=[
                openstack.networking.SubnetAllocationPoolArgs(start=str(first), end=str(last))
                for first, last in [neutron_pool(args.cidr)]
            ],
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
        # Every rule input is ForceNew, and a rule has no name, so the bridge would replace it
        # create-before-delete: with only its description changed, Neutron refuses the new rule as a
        # duplicate of the old one (409; its duplicate key leaves the description out, neutron
        # db/securitygroups_db.py _rule_to_key). Deleting first costs a moment without the rule.
        rule_opts = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        # The instances of a service talk to each other (pod members, replicas) on any port.
        members = openstack.networking.SecGroupRule(
            f"{name}-from-members",
            direction="ingress",
            ethertype="IPv4",
            remote_group_id=group.id,
            description=f"any traffic between the instances of {args.service}",
            security_group_id=group.id,
            opts=rule_opts,
        )
        self.rules = [members]
        for grant in args.ingress:
            # Named by what the rule admits, not by its position: editing the list then touches
            # only the rules that changed.
            rule = openstack.networking.SecGroupRule(
                f"{name}-{rule_slug(grant)}",
                direction="ingress",
                ethertype=grant.ethertype,
                protocol=grant.protocol,
                port_range_min=grant.port_min,
                port_range_max=grant.port_max,
                remote_ip_prefix=grant.remote_prefix,
                description=grant.description,
                security_group_id=group.id,
                opts=rule_opts,
            )
            self.rules.append(rule)

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
