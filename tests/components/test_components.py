"""Components under the SDK mocks, checked through resolved outputs (pulumi/examples testing-unit-py)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings

from webex_cloud.config.capacity import Footprint
from webex_cloud.config.models import PodMember
from webex_cloud.config.resolved import IngressGrant


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {"id": "ext-net-id"}, []


@pytest.fixture
def mocks() -> Mocks:
    settings.ROOT.set(None)
    mock = Mocks()
    pulumi.runtime.set_mocks(mock, project="webex-cloud", stack="dc1", preview=False)
    return mock


@pulumi.runtime.test
def test_pod_anchor_joins_the_service_group_and_members_follow_it(mocks: Mocks) -> pulumi.Output[None]:
    from webex_cloud.components.pod import Pod, PodArgs

    pod = Pod(
        "chat-pod-1",
        PodArgs(
            service="chat",
            owner="team",
            datacenter="dc1",
            pod_name="chat-pod-1",
            members=[PodMember(role="app", flavor="m1.small", image="img", count=2)],
            availability_zone="az1",
            network_id="net",
            subnet_id="sub",
            security_group_id="sg",
            fixed_ips=["10.0.0.20", "10.0.0.21"],
            anchor_group_id="service-group",
            anchor_room=Footprint(2, 4096, 20),
            image_ids={"img": "0b8c1f7e-img"},
        ),
    )

    def check(_: list[Any]) -> None:
        assert not [a for a in mocks.created if a.typ == "openstack:compute/serverGroup:ServerGroup"]
        anchor, member = [a for a in mocks.created if a.typ == "openstack:compute/instance:Instance"]
        pod_hint = {"webex_pod": "dc1/chat/chat-pod-1"}
        assert anchor.inputs["schedulerHints"] == [
            {"group": "service-group", "additionalProperties": pod_hint}
        ]
        assert member.inputs["schedulerHints"] == [{"additionalProperties": pod_hint}]
        for instance, role in ((anchor, "anchor"), (member, "member")):
            metadata = instance.inputs["metadata"]
            assert (metadata["webex_service"], metadata["webex_pod"]) == ("dc1/chat", "dc1/chat/chat-pod-1")
            assert metadata["webex_pod_role"] == role
            # Deleted for real: the replacement reuses the fixed-IP port a soft-deleted server would keep.
            assert instance.inputs["forceDelete"] is True
            # Booted by the verified id, never by name (Glance names are not unique: docs/images.md).
            assert instance.inputs["imageId"] == "0b8c1f7e-img" and "imageName" not in instance.inputs
        # Only the anchor says what its members need beside it (PodFilter sizes the anchor's host).
        assert anchor.inputs["metadata"]["webex_pod_room"] == "2,4096,20"
        assert "webex_pod_room" not in member.inputs["metadata"]
        ports = [a for a in mocks.created if a.typ == "openstack:networking/port:Port"]
        assert sorted(p.inputs["fixedIps"][0]["ipAddress"] for p in ports) == ["10.0.0.20", "10.0.0.21"]

    return pulumi.Output.all(*[i.id for i in pod.instances["app"]]).apply(check)


@pulumi.runtime.test
def test_volume_group_protects_replicas_and_attaches_them(mocks: Mocks) -> pulumi.Output[None]:
    from webex_cloud.components.volume_group import VolumeGroup, VolumeGroupArgs

    group = VolumeGroup(
        "chat-store",
        VolumeGroupArgs(
            service="chat",
            owner="team",
            datacenter="dc1",
            group="store",
            size_gb=10,
            volume_type="ssd",
            replicas=3,
            attach_to=["vm-0", "vm-1"],
        ),
    )

    def check(ids: list[str]) -> None:
        assert ids == ["chat-store-0-id", "chat-store-1-id", "chat-store-2-id"]
        volumes = [a for a in mocks.created if a.typ == "openstack:blockstorage/volume:Volume"]
        assert {v.inputs["metadata"]["webex_volume_group"] for v in volumes} == {"dc1/chat/store"}
        assert sorted(v.inputs["metadata"]["webex_replica"] for v in volumes) == ["0", "1", "2"]
        # One value per hint map: the provider hashes the map in Go's random order (hints.py).
        assert {tuple(v.inputs["schedulerHints"][0]["additionalProperties"].items()) for v in volumes} == {
            (("webex_volume_group", "dc1/chat/store"),)
        }
        attaches = [a for a in mocks.created if a.typ == "openstack:compute/volumeAttach:VolumeAttach"]
        assert sorted((a.inputs["instanceId"], a.inputs["volumeId"]) for a in attaches) == [
            ("vm-0", "chat-store-0-id"),
            ("vm-1", "chat-store-1-id"),
        ]

    # Wait for the attachments too: the check reads what the mocks registered.
    return pulumi.Output.all(group.volume_ids, *[a.id for a in group.attachments]).apply(
        lambda values: check(values[0])
    )


@pulumi.runtime.test
def test_service_network_has_one_rule_per_grant(mocks: Mocks) -> pulumi.Output[None]:
    from webex_cloud.components.network import ServiceNetwork, ServiceNetworkArgs

    grants = [
        IngressGrant("tcp", 443, 443, "0.0.0.0/0", "IPv4", "api"),
        IngressGrant("icmp", None, None, "10.0.0.0/8", "IPv4", "ping"),
    ]
    network = ServiceNetwork(
        "chat",
        ServiceNetworkArgs(
            service="chat",
            owner="team",
            datacenter="dc1",
            cidr=ipaddress.IPv4Network("10.1.2.0/24"),
            router_id="router",
            ingress=grants,
        ),
    )

    def check(_: list[Any]) -> None:
        rules = [a for a in mocks.created if a.typ == "openstack:networking/secGroupRule:SecGroupRule"]
        # One per grant, named by what it admits, plus the service's own instances to each other.
        assert sorted(r.name for r in rules) == [
            "chat-from-members",
            "chat-icmp-from-10.0.0.0_8",
            "chat-tcp-443-from-0.0.0.0_0",
        ]
        subnet = next(a for a in mocks.created if a.typ == "openstack:networking/subnet:Subnet")
        assert (subnet.inputs["cidr"], subnet.inputs["gatewayIp"]) == ("10.1.2.0/24", "10.1.2.1")
        # Neutron's own ports stay below the instances' fixed IPs (.10 and up).
        assert subnet.inputs["allocationPools"] == [{"start": "10.1.2.2", "end": "10.1.2.9"}]
        assert "owner=team" in subnet.inputs["tags"]

    return pulumi.Output.all(network.subnet_id, *[rule.id for rule in network.rules]).apply(check)
