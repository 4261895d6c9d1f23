"""The controller pair of a datacenter: its API front and the rolling deployment of the scheduler filters.

The two controllers are physical nodes (not Nova instances) named by the stack config. What OpenStack
models is the front: by default two HAProxy + keepalived proxies in a hard ``anti-affinity`` server group,
whose ports may carry the VIP (allowed address pairs) and a reserved VIP port; with ``octavia: true`` an
Octavia load balancer instead. The filters reach the controllers through SSH: per controller, the release
files are copied and the deploy script is run, controller 2 only after controller 1 came back healthy.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from pulumi_command import remote

from webex_cloud.config.api_sources import api_prefixes
from webex_cloud.config.models import Controller, ControllerPlane, SchedulerUnit
from webex_cloud.controller.release import FilterRelease, project_relative
from webex_cloud.plan import format as tokens

SERVICE = "controller-plane"
"""The ``service`` metadata of the front's resources."""
PROXY_ROLE = "controller"
"""Instance role the policy pack recognises as the controller pair's Nova members."""
VRRP_PROTOCOL = "112"
"""IP protocol number of VRRP, which keepalived uses to move the VIP between the proxies."""
SSH_HOSTS_KEY = "sshHosts"
"""Input (and output) of the ControllerPair component: each controller's address and pinned host key."""
FILTER_OPTIONS = {"nova": "filter_scheduler.enabled_filters", "cinder": "scheduler_default_filters"}
"""Option of each fragment that lists the enabled filters (what the health check expects loaded)."""


@dataclass(frozen=True)
class ControllerPairArgs:
    datacenter: str
    """Datacenter (stack) name."""
    plane: ControllerPlane
    """The validated controller section of the stack config."""
    sources: dict[str, list[str]]
    """Named source ranges of the datacenter (prefix strings), for the API ingress rules."""
    availability_zones: tuple[str, ...]
    """Zones the two proxies are spread over."""
    release: FilterRelease
    """The filter wheel, fragments and deploy script to roll out."""
    ssh_private_key: pulumi.Input[str] | None
    """Deploy key (a Pulumi secret); None leaves authentication to the operator's ssh-agent."""


def haproxy_config(plane: ControllerPlane) -> str:
    """HAProxy: each API port on the VIP, balanced over both controllers with TCP health checks."""
    lines = [
        "global",
        "  daemon",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 300s",
        "  timeout server 300s",
    ]
    for port in plane.api_ports:
        lines += [f"listen api-{port}", f"  bind {plane.vip}:{port}", "  balance roundrobin"]
        lines += [f"  server {h.name} {h.address}:{port} check inter 2s fall 3 rise 2" for h in plane.hosts]
    return "\n".join(lines) + "\n"


def keepalived_config(plane: ControllerPlane, index: int, virtual_router_id: int) -> str:
    """keepalived: unicast VRRP between the two proxies; proxy 0 is preferred, the VIP follows HAProxy."""
    assert plane.proxies is not None
    me, peer = plane.proxies.addresses[index], plane.proxies.addresses[1 - index]
    return (
        'vrrp_script haproxy { script "/usr/bin/killall -0 haproxy" interval 2 fall 2 rise 2 }\n'
        "vrrp_instance api {\n"
        f"  state BACKUP\n  interface eth0\n  virtual_router_id {virtual_router_id}\n"
        f"  priority {150 - 50 * index}\n  nopreempt\n"
        f"  unicast_src_ip {me}\n  unicast_peer {{ {peer} }}\n"
        f"  virtual_ipaddress {{ {plane.vip} }}\n  track_script {{ haproxy }}\n"
        "}\n"
    )


def proxy_user_data(plane: ControllerPlane, index: int) -> str:
    """cloud-init of proxy ``index``: the two configs, then both daemons started."""
    files = {
        "/etc/haproxy/haproxy.cfg": haproxy_config(plane),
        "/etc/keepalived/keepalived.conf": keepalived_config(plane, index, int(plane.vip) % 255 + 1),
        # HAProxy binds the VIP on the backup proxy too, before keepalived has moved it there.
        "/etc/sysctl.d/60-vip.conf": "net.ipv4.ip_nonlocal_bind = 1\n",
    }
    document = {
        "write_files": [{"path": path, "content": content} for path, content in files.items()],
        "runcmd": [["sysctl", "--system"], ["systemctl", "restart", "haproxy", "keepalived"]],
    }
    return "#cloud-config\n" + json.dumps(document, indent=1, sort_keys=True) + "\n"


def deploy_profile(plane: ControllerPlane, controller: Controller) -> str:
    """The deploy script's profile of one controller (JSON; see rolling_deploy.py)."""
    deploy = plane.deploy

    def service(name: str, fragment: str, unit: SchedulerUnit) -> dict[str, object]:
        return {
            "name": name,
            "fragment": fragment,
            "path": unit.fragment_path,
            "filters_option": FILTER_OPTIONS[fragment],
            "restart": unit.restart,
            "health": unit.health,
        }

    profile = {
        "controller": controller.name,
        "python": deploy.python,
        "site_dir": deploy.site_dir,
        "state_dir": deploy.state_dir,
        "health_timeout": deploy.health_timeout_s,
        "services": [
            service("nova-scheduler", "nova", deploy.nova),
            service("cinder-scheduler", "cinder", deploy.cinder),
        ],
    }
    return json.dumps(profile, indent=1, sort_keys=True) + "\n"


class ControllerPair(pulumi.ComponentResource):
    """The API front of the controller pair and the rolling, health-gated filter rollout to it."""

    vip_address: pulumi.Output[str]
    server_group_id: pulumi.Output[str] | None
    """The proxies' anti-affinity group (None with Octavia, which runs its own amphorae)."""
    rollouts: list[remote.Command]
    """The rollout command of each controller, in rollout order."""

    def __init__(
        self, name: str, args: ControllerPairArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        plane = args.plane
        # The controllers the deploy connects to, with their pinned SSH host keys ("" when unset). Public
        # keys, not secrets: the rollout's own `connection` is always a secret (pulumi-command makes it
        # one), so this is where the policy pack (controller-ssh-host-keys) and the plan can see them.
        ssh_hosts = [
            {"name": h.name, "address": str(h.address), "hostKey": h.host_key or ""} for h in plane.hosts
        ]
        super().__init__(tokens.CONTROLLER_PAIR, name, {SSH_HOSTS_KEY: ssh_hosts}, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        network = openstack.networking.get_network_output(name=plane.management.network, opts=invoke)
        subnet = openstack.networking.get_subnet_output(
            name=plane.management.subnet, network_id=network.id, opts=invoke
        )
        # The VIP's IP version only (an IPv6 prefix cannot reach an IPv4 VIP; Octavia refuses it);
        # a source without any such prefix is rejected before anything is registered.
        prefixes = api_prefixes(plane, args.sources)
        tags = [f"service={SERVICE}", f"owner={plane.owner}", f"datacenter={args.datacenter}"]

        if plane.octavia:
            self.server_group_id = None
            self.vip_address = self._octavia(name, args, subnet.id, prefixes, tags)
        else:
            self.server_group_id, self.vip_address = self._proxies(
                name, args, network.id, subnet.id, prefixes, tags, child
            )

        self.rollouts = self._rollout(name, args)
        self.register_outputs(
            {
                "vip_address": self.vip_address,
                "release_id": args.release.release_id,
                "wheel_sha256": args.release.wheel.sha256,
                "rollouts": [c.id for c in self.rollouts],
                SSH_HOSTS_KEY: ssh_hosts,
            }
        )

    def _proxies(
        self,
        name: str,
        args: ControllerPairArgs,
        network_id: pulumi.Output[str],
        subnet_id: pulumi.Output[str],
        prefixes: Sequence[str],
        tags: list[str],
        child: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        plane, dc = args.plane, args.datacenter
        assert plane.proxies is not None  # the model requires proxies unless octavia is set
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
                fixed_ips=[
                    openstack.networking.PortFixedIpArgs(subnet_id=subnet_id, ip_address=str(address))
                ],
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
                image_name=plane.proxies.image,
                availability_zone=args.availability_zones[index % len(args.availability_zones)],
                networks=[openstack.compute.InstanceNetworkArgs(port=nic.id)],
                metadata={"service": SERVICE, "owner": plane.owner, "datacenter": dc, "role": PROXY_ROLE},
                scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=group.id)],
                user_data=proxy_user_data(plane, index),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    delete_before_replace=True,
                    depends_on=[previous] if previous is not None else None,
                ),
            )
        # Known once the port holds it: consumers of the output wait for the reservation.
        return group.id, vip_port.id.apply(lambda _: str(plane.vip))

    def _octavia(
        self,
        name: str,
        args: ControllerPairArgs,
        subnet_id: pulumi.Output[str],
        prefixes: Sequence[str],
        tags: list[str],
    ) -> pulumi.Output[str]:
        plane, dc = args.plane, args.datacenter
        child = pulumi.ResourceOptions(parent=self)
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

    def _rollout(self, name: str, args: ControllerPairArgs) -> list[remote.Command]:
        plane, release, deploy = args.plane, args.release, args.plane.deploy
        staging = f"{deploy.staging_dir}/{release.release_id}"
        wheel_remote = f"{staging}/{release.wheel.filename}"
        fragment_names = sorted(release.fragments)
        argv = [
            *(["sudo", "-n"] if deploy.sudo else []),
            deploy.python,
            f"{staging}/rolling_deploy.py",
            "apply",
            "--profile",
            f"{staging}/profile.json",
            "--wheel",
            wheel_remote,
            "--sha256",
            release.wheel.sha256,
        ]
        argv += [arg for n in fragment_names for arg in ("--fragment", f"{n}={staging}/{n}.conf")]
        command = shlex.join(argv)
        rollouts: list[remote.Command] = []
        for controller in plane.hosts:
            prefix = f"{name}-{controller.name}"
            connection = remote.ConnectionArgs(
                host=str(controller.address),
                port=plane.ssh_port,
                user=plane.ssh_user,
                private_key=args.ssh_private_key,
                host_key=controller.host_key,
            )
            profile = deploy_profile(plane, controller)
            # Nothing reaches controller N (not even its staging files) before controller N-1 is healthy.
            after = pulumi.ResourceOptions(parent=self, depends_on=rollouts[-1:])
            files: list[tuple[str, pulumi.Asset, str, str]] = [
                (
                    "wheel",
                    pulumi.FileAsset(project_relative(release.wheel.path)),
                    wheel_remote,
                    release.wheel.sha256,
                ),
                (
                    "script",
                    pulumi.FileAsset(project_relative(release.deploy_script)),
                    f"{staging}/rolling_deploy.py",
                    release.deploy_script_sha256,
                ),
                ("profile", pulumi.StringAsset(profile), f"{staging}/profile.json", _sha256(profile)),
            ]
            files += [
                (
                    f"fragment-{n}",
                    pulumi.StringAsset(release.fragments[n]),
                    f"{staging}/{n}.conf",
                    release.fragment_sha256(n),
                )
                for n in fragment_names
            ]
            copies = [
                remote.CopyToRemote(
                    f"{prefix}-{label}",
                    connection=connection,
                    source=source,
                    remote_path=path,
                    triggers=[digest],
                    opts=after,
                )
                for label, source, path, digest in files
            ]
            rollouts.append(
                remote.Command(
                    f"{prefix}-rollout",
                    connection=connection,
                    create=command,
                    update=command,
                    # The hashes, not the paths: an unchanged release never runs again.
                    triggers=[digest for _, _, _, digest in files],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[*copies, *rollouts[-1:]]),
                )
            )
        return rollouts


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
