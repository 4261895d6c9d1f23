"""The controller pair of a datacenter: its API front and the rolling deployment of the scheduler filters.

The two controllers are physical nodes (not Nova instances) named by the stack config. What OpenStack
models is the front: by default two HAProxy + keepalived proxies in a hard ``anti-affinity`` server group,
whose ports may carry the VIP (allowed address pairs) and a reserved VIP port; with ``octavia: true`` an
Octavia load balancer instead. The filters reach the controllers through SSH: per controller, the release
files are copied and the deploy script is run, controller 2 only after controller 1 came back healthy;
then, when the stack names one, drift's read-only login is installed on each (controller_reader.py), and with
``monitoring.logs`` the rsyslog drop-in, one controller at a time (controller_logs.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from pulumi_command import remote

from webex_cloud.components.controller_front import SERVICE, FrontArgs, octavia_front, proxy_front
from webex_cloud.components.controller_logs import controller_logs
from webex_cloud.components.controller_reader import drift_reader
from webex_cloud.components.controller_rollout import filter_rollout
from webex_cloud.config.api_sources import api_prefixes
from webex_cloud.config.models import ControllerPlane, LogShipping
from webex_cloud.controller.filter_release import FilterRelease
from webex_cloud.plan import format as tokens

SSH_HOSTS_KEY = "sshHosts"
"""Input (and output) of the ControllerPair component: each controller's address and pinned host key."""


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
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id the proxies boot (webex_cloud/config/image_ids.py)."""
    logs: LogShipping | None = None
    """``monitoring.logs``: the controllers' rsyslog drop-in is installed after each rollout; None: none."""


class ControllerPair(pulumi.ComponentResource):
    """The API front of the controller pair and the rolling, health-gated filter rollout to it."""

    vip_address: pulumi.Output[str]
    server_group_id: pulumi.Output[str] | None
    """The proxies' anti-affinity group (None with Octavia, which runs its own amphorae)."""
    rollouts: list[remote.Command]
    """The rollout command of each controller, in rollout order."""
    drift_readers: list[remote.Command]
    """The drift reader's install on each controller (none without ``controllers.drift_reader``)."""
    log_installs: list[remote.Command]
    """The rsyslog drop-in's install on each controller, in rollout order (none without
    ``monitoring.logs``)."""

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
        invoke = pulumi.InvokeOutputOptions(parent=self)
        network = openstack.networking.get_network_output(name=plane.management.network, opts=invoke)
        subnet = openstack.networking.get_subnet_output(
            name=plane.management.subnet, network_id=network.id, opts=invoke
        )
        front = FrontArgs(
            datacenter=args.datacenter,
            plane=plane,
            # The VIP's IP version only (an IPv6 prefix cannot reach an IPv4 VIP; Octavia refuses it);
            # the loader rejects a source without any such prefix before anything is registered.
            prefixes=api_prefixes(plane, args.sources),
            availability_zones=args.availability_zones,
            tags=[f"service={SERVICE}", f"owner={plane.owner}", f"datacenter={args.datacenter}"],
            image_ids=args.image_ids,
        )
        if plane.octavia:
            self.server_group_id = None
            self.vip_address = octavia_front(self, name, front, subnet.id)
        else:
            self.server_group_id, self.vip_address = proxy_front(self, name, front, network.id, subnet.id)

        self.rollouts = filter_rollout(self, name, plane, args.release)
        self.drift_readers = drift_reader(self, name, plane, args.release, self.rollouts)
        self.log_installs = controller_logs(
            self, name, args.datacenter, plane, args.logs, args.release, self.rollouts
        )
        self.register_outputs(
            {
                "vip_address": self.vip_address,
                "release_id": args.release.release_id,
                "wheel_sha256": args.release.wheel.sha256,
                "rollouts": [c.id for c in self.rollouts],
                SSH_HOSTS_KEY: ssh_hosts,
            }
        )
