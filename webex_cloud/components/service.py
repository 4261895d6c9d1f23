"""One catalog service in one datacenter: its network, its pods and its volume groups."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from pulumi_command import local

from webex_cloud import naming
from webex_cloud.components.network import ServiceNetwork, ServiceNetworkArgs
from webex_cloud.components.pod import Pod, PodArgs
from webex_cloud.components.volume_group import VolumeGroup, VolumeGroupArgs
from webex_cloud.config.addressing import instance_address
from webex_cloud.config.capacity import Footprint
from webex_cloud.config.resolved import ServiceDeployment
from webex_cloud.facts.rollout import PROBE_INTERPRETER
from webex_cloud.plan import format as tokens
from webex_cloud.release import rollout


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
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id the pods boot (webex_cloud/config/image_ids.py)."""
    runner_prefixes: tuple[str, ...] = ()
    """Address ranges of the deploy runner (the ``deploy-runner`` source), admitted on the checked ports."""
    anchor_room: Footprint | None = None
    """What a pod's members need on its anchor's host beyond the anchor, written on every anchor
    (``webex_pod_room``) so ``PodFilter`` places an anchor only where its whole pod fits."""
    prometheus: tuple[str, ...] = ()
    """The datacenter's Prometheus nodes (``release.rollout.prometheus_urls``): each wave's gate judges the
    wave's metrics through them; none, the gates only wait for the instances to serve."""
    user_data: str | None = None
    """Every pod instance's first-boot cloud-config (``monitoring.logs``); None: none."""
    filters_ready: tuple[pulumi.Resource, ...] = ()
    """The controllers' scheduler-filter rollout: the first pod waits for it, so no pod is placed (or moved
    to a new pod design) by a scheduler that runs another version of the filters."""


class Service(pulumi.ComponentResource):
    """Network, pods and volume groups of one service."""

    anchor_group: openstack.compute.ServerGroup
    """The ``anti-affinity`` group every pod's anchor joins."""
    pods: list[Pod]
    volume_groups: list[VolumeGroup]
    network: ServiceNetwork
    gates: list[local.Command]
    """The health gate of each release wave, in release order."""

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
                ingress=(*args.deployment.ingress, *rollout.runner_grants(service, args.runner_prefixes)),
            ),
            child,
        )

        # Dynamic membership: a pod added later joins the group, and Nova reads the members on
        # every move of every anchor; no instance input names another pod.
        # Create-before-delete, set explicitly: the bridge would delete this named group first
        # (pulumi-terraform-bridge v3.135.0 pkg/tfbridge/schema.go nameRequiresDeleteBeforeReplace), and
        # the engine then deletes every anchor that depends on it in the group's own step, all at once and
        # ahead of every gate (pulumi/pulumi pkg/resource/deploy/step_generator.go,
        # calculateDependentReplacements). A defined option wins over the provider's choice (same file:
        # `if goal.DeleteBeforeReplace != nil`); Nova allows two groups of one name, so the new group is
        # created first, each anchor moves to it in its own wave, and the old group goes last.
        self.anchor_group = openstack.compute.ServerGroup(
            naming.server_group(service.name),
            name=f"{args.datacenter}-{naming.server_group(service.name)}",
            policies="anti-affinity",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        subnet, roles = args.deployment.subnet, len(service.pods.members)
        # A release changes one wave of pods at a time: the first pod of wave N+1 waits for wave N's
        # health gate, which waits for every instance (and volume attachment) of wave N. The gates are
        # registered last (they wait for the attachments), so the pods wait on them through deferred
        # outputs; the engine starts a step only once every resource it depends on finished its own.
        release_waves = rollout.waves(service.pods.count, service.rollout.max_unavailable)
        gate_outputs: list[
            tuple[pulumi.Output[pulumi.Resource], Callable[[pulumi.Output[pulumi.Resource]], None]]
        ]
        gate_outputs = [pulumi.deferred_output() for _ in release_waves]
        wave_of = {index: number for number, pods in enumerate(release_waves) for index in pods}
        self.pods = []
        for index in range(service.pods.count):
            wave = wave_of[index]
            after: list[pulumi.Input[pulumi.Resource]] = [] if index else list(args.filters_ready)
            if index == release_waves[wave][0] and wave > 0:
                after.append(gate_outputs[wave - 1][0])
            elif self.pods:
                after.append(self.pods[-1].first_instance)
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
                    after=after,
                    anchor_room=args.anchor_room,
                    image_ids=args.image_ids,
                    user_data=args.user_data,
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
        self.gates = []
        for number, pods in enumerate(release_waves):
            members = [self.pods[i] for i in pods]
            facts = [fact for pod in members for fact in pod.facts]
            instances = [i for pod in members for group_ in pod.instances.values() for i in group_]
            attachments = [
                attachment
                for group in self.volume_groups
                for replica, attachment in enumerate(group.attachments)
                if replica in pods
            ]
            spec = rollout.gate_spec(
                service, args.datacenter, number + 1, len(release_waves), facts, args.prometheus
            )
            gate = local.Command(
                naming.gate(service.name, number + 1),
                interpreter=list(PROBE_INTERPRETER),
                create=spec.to_json(),
                # pulumi-command marks `triggers` replaceOnChanges (provider/pkg/provider/common/inputs.go
                # v1.2.1): a changed instance of the wave replaces the gate, and its create runs the probe
                # again once the wave's instances finished their steps.
                triggers=rollout.gate_triggers(facts),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*instances, *attachments]),
            )
            gate_outputs[number][1](pulumi.Output.from_input(gate))
            self.gates.append(gate)
        self.register_outputs(
            {
                "subnet": str(args.deployment.subnet),
                "server_group_id": self.anchor_group.id,
            }
        )
