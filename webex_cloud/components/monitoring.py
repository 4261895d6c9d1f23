"""The monitoring pair of a datacenter, when the stack deploys it (``monitoring.instances``).

Two instances in a hard ``anti-affinity`` server group (one host loss never takes both, so the
datacenter is always watched by one), spread over the zones, on the management network at the fixed
``monitoring.nodes`` addresses that the generated ``prometheus.yml`` and ``alertmanager.yml`` name.
Each boots with the generated monitoring (webex_cloud/monitoring/node.py); later changes are applied by
``monitoring --reload`` without a restart, so a change of the user data never rebuilds a node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from webex_cloud.config.models import ControllerPlane, Monitoring
from webex_cloud.facts.metrics import PROMETHEUS_PORT
from webex_cloud.monitoring.node import CLUSTER_PORT, PORTS, SSH_PORT
from webex_cloud.plan import format as tokens
from webex_cloud.tags import ROLE_KEY, ownership_metadata

SERVICE = "monitoring"
"""The ``service`` metadata of the pair's resources."""
ROLE = "monitoring"
"""Instance role the policy pack recognises as the monitoring pair's Nova members."""


@dataclass(frozen=True)
class MonitoringPairArgs:
    datacenter: str
    """Datacenter (stack) name."""
    monitoring: Monitoring
    """The validated ``monitoring`` section of the stack config (``instances`` set)."""
    plane: ControllerPlane
    """The controller section: its management network, and its owner, who owns the monitoring too."""
    availability_zones: tuple[str, ...]
    """Zones the two nodes are spread over."""
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id the nodes boot (webex_cloud/config/image_ids.py)."""
    user_data: tuple[str, ...]
    """Each node's cloud-init user data, in ``monitoring.nodes`` order (monitoring/node.py)."""
    runner_prefixes: tuple[str, ...] = ()
    """The deploy runner's ranges (the ``deploy-runner`` source): it reloads the nodes over SSH and the
    release gates query their Prometheus, so a range outside the management network is admitted on those
    two ports, and on nothing else."""


def runner_prefixes_outside(prefixes: Sequence[str], management: str) -> list[str]:
    """The runner's ranges the management rules do not already cover (a range inside it needs no rule)."""
    inside = ipaddress.ip_network(management)
    outside = []
    for prefix in prefixes:
        network = ipaddress.ip_network(prefix)
        if network.version != inside.version or not network.subnet_of(inside):  # type: ignore[arg-type]
            outside.append(prefix)
    return outside


class MonitoringPair(pulumi.ComponentResource):
    """Two monitoring nodes apart, on the management network, booted with the generated monitoring."""

    server_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringPairArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(tokens.MONITORING_PAIR, name, None, opts)
        deployed = args.monitoring.instances
        if deployed is None or len(args.user_data) != len(args.monitoring.nodes):
            raise ValueError("MonitoringPair needs monitoring.instances and one user data per node")
        dc, plane = args.datacenter, args.plane
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        network = openstack.networking.get_network_output(name=plane.management.network, opts=invoke)
        subnet = openstack.networking.get_subnet_output(
            name=plane.management.subnet, network_id=network.id, opts=invoke
        )
        tags = [f"service={SERVICE}", f"owner={plane.owner}", f"datacenter={dc}"]
        group = openstack.compute.ServerGroup(
            f"{name}-group", name=f"{dc}-monitoring", policies="anti-affinity", opts=child
        )
        security_group = openstack.networking.SecGroup(
            f"{name}-sg",
            name=f"{dc}-monitoring",
            description=f"the monitoring pair of {dc}: scraped and reloaded from the management network",
            tags=tags,
            opts=child,
        )
        management = str(plane.management.cidr)
        # SSH: the deploy runner (on the management network) reloads each node as monitoring/node.py's
        # DEPLOY_USER after `pulumi up` (monitoring --reload-nodes).
        rules = [("tcp", port) for port in (*PORTS, SSH_PORT)] + [("udp", CLUSTER_PORT)]
        for protocol, port in rules:
            openstack.networking.SecGroupRule(
                f"{name}-{protocol}-{port}",
                direction="ingress",
                ethertype="IPv4",
                protocol=protocol,
                port_range_min=port,
                port_range_max=port,
                remote_ip_prefix=management,
                description=f"monitoring {protocol} {port} from the management network",
                security_group_id=security_group.id,
                opts=child,
            )
        for prefix in runner_prefixes_outside(args.runner_prefixes, management):
            runner = ipaddress.ip_network(prefix)
            for port in (SSH_PORT, PROMETHEUS_PORT):
                openstack.networking.SecGroupRule(
                    f"{name}-tcp-{port}-from-{runner.with_prefixlen.replace('/', '_')}",
                    direction="ingress",
                    ethertype=f"IPv{runner.version}",
                    protocol="tcp",
                    port_range_min=port,
                    port_range_max=port,
                    remote_ip_prefix=runner.with_prefixlen,
                    description=f"monitoring tcp {port} from the deploy runner (reload, gates' queries)",
                    security_group_id=security_group.id,
                    opts=child,
                )
        previous: openstack.compute.Instance | None = None
        for index, (address, user_data) in enumerate(zip(args.monitoring.nodes, args.user_data, strict=True)):
            node = f"{name}-{index}"
            nic = openstack.networking.Port(
                f"{node}-port",
                name=f"{dc}-monitoring-{index}",
                network_id=network.id,
                fixed_ips=[
                    openstack.networking.PortFixedIpArgs(subnet_id=subnet.id, ip_address=str(address))
                ],
                security_group_ids=[security_group.id],
                tags=tags,
                opts=child,
            )
            # One node at a time: a replacement (its port is reused, so delete first) never takes both
            # nodes, and with them the watch over the datacenter, down together.
            previous = openstack.compute.Instance(
                node,
                name=f"{dc}-monitoring-{index}",
                flavor_name=deployed.flavor,
                image_id=args.image_ids[deployed.image],
                availability_zone=args.availability_zones[index % len(args.availability_zones)],
                networks=[openstack.compute.InstanceNetworkArgs(port=nic.id)],
                metadata={**ownership_metadata(SERVICE, plane.owner, dc), ROLE_KEY: ROLE},
                scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=group.id)],
                user_data=user_data,
                force_delete=True,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    delete_before_replace=True,
                    depends_on=[previous] if previous is not None else None,
                    # The first boot's configuration; `monitoring --reload` applies every later one
                    # (the provider replaces a server whose user data changes).
                    ignore_changes=["userData"],
                ),
            )
        self.server_group_id = group.id
        self.register_outputs({"server_group_id": group.id})
