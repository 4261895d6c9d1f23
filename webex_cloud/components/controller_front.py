"""The API front of the controller pair: HAProxy + keepalived proxies, or an Octavia load balancer.

The resources are children of the ControllerPair component itself (no component of their own), so
their URNs are the ones deployed stacks already have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from webex_cloud.config.models import ControllerPlane
from webex_cloud.controller.front_config import proxy_user_data

SERVICE = "controller-plane"
"""The ``service`` metadata of the front's resources."""
PROXY_ROLE = "controller"
"""Instance role the policy pack recognises as the controller pair's Nova members."""
VRRP_PROTOCOL = "112"
"""IP protocol number of VRRP, which keepalived uses to move the VIP between the proxies."""


@dataclass(frozen=True)
class FrontArgs:
    datacenter: str
    """Datacenter (stack) name."""
    plane: ControllerPlane
    """The validated controller section of the stack config."""
    prefixes: Sequence[str]
    """Prefixes that may reach the APIs (the VIP's IP version only)."""
    availability_zones: tuple[str, ...]
    """Zones the two proxies are spread over."""
    tags: list[str]
    """Neutron/Octavia tags of every front resource."""
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id the proxies boot."""


def proxy_front(
    pair: pulumi.Resource,
    name: str,
    front: FrontArgs,
    network_id: pulumi.Output[str],
    subnet_id: pulumi.Output[str],
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """Two HAProxy + keepalived proxies holding the VIP; (their server group id, the VIP)."""
    plane, dc, prefixes, tags = front.plane, front.datacenter, front.prefixes, front.tags
    if plane.proxies is None:
        raise ValueError("proxy_front needs controllers.proxies (the model requires them unless octavia)")
    child = pulumi.ResourceOptions(parent=pair)
    group = openstack.compute.ServerGroup(
        f"{name}-proxy-group", name=f"{dc}-controller-api", policies="anti-affinity", opts=child
    )
    security_group = openstack.networking.SecGroup(
        f"{name}-api-sg",
        name=f"{dc}-controller-api",
        description=f"controller APIs on the VIP of {dc}",
        tags=tags,
        opts=child,
    )
    for port in plane.api_ports:
        for prefix in prefixes:
            openstack.networking.SecGroupRule(
                f"{name}-api-{port}-{prefix.replace('/', '-')}",
                direction="ingress",
                ethertype=f"IPv{plane.vip.version}",
                protocol="tcp",
                port_range_min=port,
                port_range_max=port,
                remote_ip_prefix=prefix,
                description=f"API port {port}",
                security_group_id=security_group.id,
                opts=child,
            )
    openstack.networking.SecGroupRule(
        f"{name}-vrrp",
        direction="ingress",
        ethertype="IPv4",
        protocol=VRRP_PROTOCOL,
        remote_group_id=security_group.id,
        description="keepalived between the proxies",
        security_group_id=security_group.id,
        opts=child,
    )
    # The VIP's own port reserves the address, so Neutron never hands it to another port.
    vip_port = openstack.networking.Port(
        f"{name}-vip",
        name=f"{dc}-controller-vip",
        network_id=network_id,
        fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=subnet_id, ip_address=str(plane.vip))],
        security_group_ids=[security_group.id],
        tags=tags,
        opts=child,
    )
    previous: openstack.compute.Instance | None = None
    for index, address in enumerate(plane.proxies.addresses):
        proxy = f"{name}-proxy-{index}"
        nic = openstack.networking.Port(
            f"{proxy}-port",
            name=f"{dc}-controller-proxy-{index}",
            network_id=network_id,
            fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=subnet_id, ip_address=str(address))],
            allowed_address_pairs=[
                openstack.networking.PortAllowedAddressPairArgs(ip_address=str(plane.vip))
            ],
            security_group_ids=[security_group.id],
            tags=tags,
            opts=child,
        )
        # One proxy at a time: a replacement (its port is reused, so delete first) never takes both
        # proxies, and with them the VIP, down together.
        previous = openstack.compute.Instance(
            proxy,
            name=f"{dc}-controller-proxy-{index}",
            flavor_name=plane.proxies.flavor,
            image_id=front.image_ids[plane.proxies.image],
            availability_zone=front.availability_zones[index % len(front.availability_zones)],
            networks=[openstack.compute.InstanceNetworkArgs(port=nic.id)],
            metadata={"service": SERVICE, "owner": plane.owner, "datacenter": dc, "role": PROXY_ROLE},
            scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=group.id)],
            user_data=proxy_user_data(plane, index),
            # Its port is reused by the replacement: a soft-deleted server would still hold it (see pod.py).
            force_delete=True,
            opts=pulumi.ResourceOptions(
                parent=pair,
                delete_before_replace=True,
                depends_on=[previous] if previous is not None else None,
            ),
        )
    # Known once the port holds it: consumers of the output wait for the reservation.
    return group.id, vip_port.id.apply(lambda _: str(plane.vip))


def octavia_front(
    pair: pulumi.Resource, name: str, front: FrontArgs, subnet_id: pulumi.Output[str]
) -> pulumi.Output[str]:
    """An Octavia load balancer on the VIP, one listener, pool and monitor per API port; the VIP."""
    plane, dc, prefixes, tags = front.plane, front.datacenter, front.prefixes, front.tags
    child = pulumi.ResourceOptions(parent=pair)
    balancer = openstack.loadbalancer.LoadBalancer(
        f"{name}-lb",
        name=f"{dc}-controller-api",
        vip_subnet_id=subnet_id,
        vip_address=str(plane.vip),
        description=f"controller APIs of {dc}",
        tags=tags,
        opts=child,
    )
    for port in plane.api_ports:
        listener = openstack.loadbalancer.Listener(
            f"{name}-api-{port}",
            name=f"{dc}-controller-api-{port}",
            loadbalancer_id=balancer.id,
            protocol="TCP",
            protocol_port=port,
            allowed_cidrs=list(prefixes),
            tags=tags,
            opts=child,
        )
        pool = openstack.loadbalancer.Pool(
            f"{name}-api-{port}-pool",
            name=f"{dc}-controller-api-{port}",
            listener_id=listener.id,
            protocol="TCP",
            lb_method="ROUND_ROBIN",
            opts=child,
        )
        openstack.loadbalancer.Members(
            f"{name}-api-{port}-members",
            pool_id=pool.id,
            members=[
                openstack.loadbalancer.MembersMemberArgs(
                    address=str(h.address), protocol_port=port, name=h.name, subnet_id=subnet_id
                )
                for h in plane.hosts
            ],
            opts=child,
        )
        openstack.loadbalancer.Monitor(
            f"{name}-api-{port}-monitor",
            name=f"{dc}-controller-api-{port}",
            pool_id=pool.id,
            type="TCP",
            delay=5,
            timeout=3,
            max_retries=3,
            opts=child,
        )
    return balancer.vip_address
