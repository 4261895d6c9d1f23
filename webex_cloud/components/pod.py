"""A pod: instances that share one compute host, kept off the hosts of the service's other pods.

The pod's first instance (its anchor) is in the service's ``anti-affinity`` server group; the
others (members) follow it. Every instance names only its pod, in one hint value, and carries
the metadata the Nova filter reads (docs/scheduler-filters.md, "Design").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from webex_scheduler_filters import hints

from webex_cloud import naming
from webex_cloud.config.capacity import Footprint
from webex_cloud.config.models import PodMember
from webex_cloud.facts.rollout import GENERATION_KEY
from webex_cloud.plan import format as tokens
from webex_cloud.release.rollout import InstanceFacts, pod_generation
from webex_cloud.tags import POD_KEY, ROLE_KEY, ownership_metadata


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
    anchor_group_id: pulumi.Input[str]
    """The service's ``anti-affinity`` server group, which the pod's anchor joins."""
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id a member boots (never the name: Glance names are not unique)."""
    anchor_room: Footprint | None = None
    """What the members need on the anchor's host beyond the anchor: the anchor's ``webex_pod_room``."""
    user_data: str | None = None
    """First-boot cloud-config of every instance (the log shipping, webex_cloud/monitoring/logs.py);
    None: none."""
    after: Sequence[pulumi.Input[pulumi.Resource]] = ()
    """Resources whose step must finish before this pod changes: the previous pod's anchor (creation
    stays race-free), or the previous release wave's health gate."""


class Pod(pulumi.ComponentResource):
    """The pod's instances, each on an explicit port: the anchor first, the members after it."""

    instances: dict[str, list[openstack.compute.Instance]]
    """Instances by role, in order."""
    first_instance: openstack.compute.Instance
    facts: list[InstanceFacts]
    """Each instance as the release's health gate sees it, in member order."""

    def __init__(self, name: str, args: PodArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.POD, name, None, opts)
        pod = hints.pod_key(args.datacenter, args.service, args.pod_name)
        # One value per hint map: the provider's set hash ranges over the map (see hints.py).
        pod_hint = {hints.NOVA_POD_HINT: pod}
        anchor_hint = openstack.compute.InstanceSchedulerHintArgs(
            group=args.anchor_group_id, additional_properties=pod_hint
        )
        member_hint = openstack.compute.InstanceSchedulerHintArgs(additional_properties=pod_hint)
        # The same hints as the gate's triggers see them (the inputs' wire names and shape).
        anchor_trigger: dict[str, object] = {"group": args.anchor_group_id, "additionalProperties": pod_hint}
        member_trigger: dict[str, object] = {"additionalProperties": pod_hint}
        self.instances = {}
        self.facts = []
        generation = pod_generation(args.members)
        addresses = iter(args.fixed_ips)
        first: openstack.compute.Instance | None = None
        room = (
            {
                hints.INSTANCE_POD_ROOM_METADATA_KEY: hints.room_value(
                    args.anchor_room.vcpus, args.anchor_room.ram_mb, args.anchor_room.disk_gb
                )
            }
            if args.anchor_room is not None
            else {}
        )
        for member in args.members:
            for ordinal in range(member.count):
                instance_name = naming.instance(name, member.role, ordinal)
                address = next(addresses)
                port = openstack.networking.Port(
                    f"{instance_name}-port",
                    name=f"{args.datacenter}-{instance_name}",
                    network_id=args.network_id,
                    fixed_ips=[
                        openstack.networking.PortFixedIpArgs(subnet_id=args.subnet_id, ip_address=address)
                    ],
                    security_group_ids=[args.security_group_id],
                    # Named, so the bridge replaces the port delete-first, and the engine deletes the
                    # instance on it in the port's own step (pulumi/pulumi 3.260.0-dev
                    # pkg/resource/deploy/step_generator.go calculateDependentReplacements): that step
                    # must wait for the previous wave's gate like the instance does, or a change that
                    # replaces every port takes every pod down at once, ahead of the gates.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after) or None),
                )
                # Chaining keeps creation race-free: a member needs its anchor on a host, and
                # the filter sees only placed instances.
                after = [first] if first is not None else list(args.after)
                instance = openstack.compute.Instance(
                    instance_name,
                    name=naming.cloud_name(args.datacenter, instance_name),
                    flavor_name=member.flavor,
                    image_id=args.image_ids[member.image],
                    availability_zone=args.availability_zone,
                    networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
                    metadata={
                        **ownership_metadata(args.service, args.owner, args.datacenter),
                        POD_KEY: args.pod_name,
                        ROLE_KEY: member.role,
                        hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key(args.datacenter, args.service),
                        hints.INSTANCE_POD_METADATA_KEY: pod,
                        hints.INSTANCE_POD_ROLE_METADATA_KEY: (
                            hints.MEMBER_ROLE if first is not None else hints.ANCHOR_ROLE
                        ),
                        GENERATION_KEY: generation,
                        **(room if first is None else {}),
                    },
                    scheduler_hints=[member_hint if first is not None else anchor_hint],
                    user_data=args.user_data,
                    # Deleted for real, never soft-deleted: the replacement boots on this port, which a
                    # SOFT_DELETED server keeps while the provider already counts it gone
                    # (terraform-provider-openstack v3.4.0 resource_openstack_compute_instance_v2.go:
                    # Delete waits for "DELETED" or "SOFT_DELETED"; force_delete calls ForceDelete).
                    force_delete=True,
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=after or None,
                        # A flavor change replaces the whole pod (see pod_generation), not a resize.
                        replace_on_changes=[f"metadata.{GENERATION_KEY}"],
                        # The replacement boots on the same fixed-IP port, which the old server
                        # holds until it is gone (Nova refuses a port in use).
                        delete_before_replace=True,
                        # The first boot's configuration only. The provider replaces a server whose
                        # user data changes (terraform-provider-openstack v3.4.0
                        # resource_openstack_compute_instance_v2.go :85, ForceNew; facts/provider.py):
                        # without this, adding or editing `monitoring.logs` would rebuild every pod.
                        # The engine keeps the recorded value instead (an instance deployed without
                        # user data keeps none, its replacements too: pulumi/pulumi
                        # pkg/resource/deploy/step_generator.go processIgnoreChanges resets each ignored
                        # path to the old inputs, deleting it when they had none; read in the stored
                        # source, not at the 3.272.0 tag); docs/monitoring.md
                        # "Logs" says how those instances get the drop-in.
                        ignore_changes=["userData"],
                    ),
                )
                self.instances.setdefault(member.role, []).append(instance)
                self.facts.append(
                    InstanceFacts(
                        pod=args.pod_name,
                        name=instance_name,
                        role=member.role,
                        address=address,
                        # Every input the program sets that the provider replaces, rebuilds or resizes
                        # the instance on (webex_cloud/facts/provider.py TABLE), plus the
                        # replace_on_changes path: any change of them replaces the wave's gate, so the
                        # wave is probed again (tests/release/test_gate_triggers.py holds this).
                        disruptive_inputs={
                            "imageId": args.image_ids[member.image],
                            "flavorName": member.flavor,
                            "availabilityZone": args.availability_zone,
                            "networks": [{"port": port.id}],
                            "schedulerHints": [member_trigger if first is not None else anchor_trigger],
                            f"metadata.{GENERATION_KEY}": generation,
                        },
                    )
                )
                first = first or instance
        if first is None:
            raise ValueError(f"pod {args.pod_name} has no members")
        self.first_instance = first
        self.register_outputs(
            {
                "instance_ids": [i.id for group_ in self.instances.values() for i in group_],
            }
        )
