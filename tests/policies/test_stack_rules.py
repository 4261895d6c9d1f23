"""Stack rules and the cross-datacenter rule as plain functions over small hand-made stacks."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from webex_policies import inventory
from webex_policies import stack_rules as rules
from webex_policies.model import (
    CONTROLLER_PAIR,
    INSTANCE,
    LB_MEMBERS,
    LOAD_BALANCER,
    PORT,
    REMOTE_COMMAND,
    SERVER_GROUP,
    SUBNET,
    VOLUME,
    Resource,
)
from webex_policies.params import (
    ControllerPairParams,
    CrossDatacenterParams,
    FailureDomainParams,
    InventoryParams,
    RedundancyParams,
    ServiceShape,
)
from webex_policies.values import UNKNOWN

U = UNKNOWN


def urn(kind: str, name: str) -> str:
    return f"urn:pulumi:dc1::webex-cloud::{kind}::{name}"


def server_group(name: str, policy: Any = "affinity", parent: str = "") -> Resource:
    return Resource(
        SERVER_GROUP,
        urn(SERVER_GROUP, name),
        name,
        {"policies": policy, "id": f"id-{name}"},
        parent=parent or urn("webex:compute:Pod", name),
    )


def vm(
    service: str,
    pod: Any,
    role: Any = "app",
    group: Any = None,
    *,
    name: str = "",
    siblings: tuple[str, ...] = (),
    pod_role: str = "anchor",
) -> Resource:
    """A pod instance whose hints name ``group`` (a server group name) and depend on ``siblings``' groups."""
    name = name or f"{pod}-{role}-{id(object())}"
    hints: Any = []
    deps: tuple[str, ...] = ()
    if group is not None:
        hints = [{"group": f"id-{group}", "additionalProperties": {"webex_pod": pod}}]
        deps = tuple(urn(SERVER_GROUP, g) for g in (group, *siblings))
    return Resource(
        INSTANCE,
        urn(INSTANCE, name),
        name,
        {
            "metadata": {"service": service, "pod": pod, "role": role, "webex_pod_role": pod_role},
            "schedulerHints": hints,
        },
        parent=urn("webex:compute:Pod", str(group)),
        property_dependencies={"schedulerHints": deps},
    )


def disk(service: str, group: Any, index: int = 0) -> Resource:
    name = f"{service}-{group}-{index}"
    key = group if group is U else f"dc1/{service}/{group}"
    return Resource(
        VOLUME,
        urn(VOLUME, name),
        name,
        {"metadata": {"service": service, "webex_volume_group": key}},
        protect=True,
        parent=urn("webex:storage:VolumeGroup", f"{service}-{group}"),
    )


def service(
    name: str, pods: int = 2, per_pod: int = 1, groups: dict[str, int] | None = None
) -> list[Resource]:
    out: list[Resource] = []
    for p in range(pods):
        out += [vm(name, f"{name}-pod-{p}", group=f"{name}-pod-{p}") for _ in range(per_pod)]
        out.append(server_group(f"{name}-pod-{p}"))
    for group, replicas in (groups or {}).items():
        out += [disk(name, group, i) for i in range(replicas)]
    return out


class TestReplicasWithinFailureDomains:
    def test_within_passes(self) -> None:
        view = inventory.build(service("messaging", groups={"messages": 3}))
        assert rules.replicas_within_failure_domains(view, FailureDomainParams(3)) == []

    def test_more_replicas_than_domains_fails(self) -> None:
        view = inventory.build(service("messaging", groups={"messages": 3}))
        [(message, where)] = rules.replicas_within_failure_domains(view, FailureDomainParams(2))
        assert "has 3 replicas but the datacenter has 2" in message
        assert where == urn("webex:storage:VolumeGroup", "messaging-messages")

    def test_unknown_group_of_another_volume_still_reports_a_certain_excess(self) -> None:
        view = inventory.build([*service("messaging", groups={"messages": 3}), disk("messaging", U, 9)])
        assert rules.replicas_within_failure_domains(view, FailureDomainParams(2))


class TestServiceRedundancy:
    params = RedundancyParams.parse({})

    def test_two_pods_two_replicas_pass(self) -> None:
        assert rules.service_redundancy(inventory.build(service("s", 2, groups={"g": 2})), self.params) == []

    def test_one_pod_fails(self) -> None:
        [(message, _)] = rules.service_redundancy(inventory.build(service("s", 1)), self.params)
        assert "service s has 1 pod(s)" in message

    def test_one_replica_fails(self) -> None:
        [(message, _)] = rules.service_redundancy(
            inventory.build(service("s", 2, groups={"g": 1})), self.params
        )
        assert "volume group s/g has 1 replica(s)" in message

    def test_configured_minimum(self) -> None:
        params = RedundancyParams.parse({"minPods": 3})
        assert rules.service_redundancy(inventory.build(service("s", 2)), params)

    @pytest.mark.parametrize(
        "extra",
        [
            lambda: vm("s", U, group=None),  # a member whose pod is unknown
            lambda: vm("s", "s-pod-x", role=U),  # or whose role is unknown
            lambda: Resource(INSTANCE, urn(INSTANCE, "q"), "q", {"metadata": {"service": U}}),  # unattributed
        ],
    )
    def test_unknowns_keep_a_low_count_unproven(self, extra: Any) -> None:
        view = inventory.build([*service("s", 1), extra()])
        assert rules.service_redundancy(view, self.params) == []

    def test_unknown_volume_group_keeps_replica_count_unproven(self) -> None:
        view = inventory.build([*service("s", 2, groups={"g": 1}), disk("s", U, 5)])
        assert rules.service_redundancy(view, self.params) == []


class TestPodsFitInventory:
    def test_fitting_passes(self) -> None:
        assert rules.pods_fit_inventory(inventory.build(service("s", 4)), InventoryParams(4)) == []

    def test_more_pods_than_hosts_fails(self) -> None:
        [(message, _)] = rules.pods_fit_inventory(inventory.build(service("s", 5)), InventoryParams(4))
        assert "5 pods but the datacenter has 4 compute hosts" in message


def subnet(name: str, cidr: Any) -> Resource:
    return Resource(SUBNET, urn(SUBNET, name), name, {"cidr": cidr})


class TestSubnetsDisjoint:
    def test_disjoint_pass(self) -> None:
        subnets = [
            subnet("a", "10.10.0.0/24"),
            subnet("b", "10.10.1.0/24"),
            subnet("c", "10.20.0.0/24"),
            subnet("v6", "fd00::/64"),
        ]
        assert rules.subnets_disjoint(subnets) == []

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("10.10.0.0/24", "10.10.0.0/24"),
            ("10.10.0.0/16", "10.10.5.0/24"),
            ("10.10.5.0/24", "10.10.0.0/16"),
            ("fd00::/48", "fd00:0:0:1::/64"),
        ],
    )
    def test_overlap_fails(self, first: str, second: str) -> None:
        [(message, _)] = rules.subnets_disjoint([subnet("a", first), subnet("b", second)])
        assert "overlaps" in message

    def test_every_subnet_inside_a_large_one_is_reported(self) -> None:
        subnets = [subnet("big", "10.0.0.0/8"), subnet("x", "10.1.0.0/24"), subnet("y", "10.2.0.0/24")]
        assert len(rules.subnets_disjoint(subnets)) == 2

    def test_unknown_and_malformed_cidrs_are_skipped(self) -> None:
        assert (
            rules.subnets_disjoint([subnet("a", U), subnet("b", "10.0.0.0/24"), subnet("c", "nonsense")])
            == []
        )

    def test_one_overlap_among_many_is_found(self) -> None:
        # Speed (the sweep is linear, all pairs would be 2e8 comparisons) is measured in
        # benchmarks/bench_policies.py; here only that a sweep over many finds the one overlap.
        many = [subnet(f"s{i}", f"10.{i // 256}.{i % 256}.0/24") for i in range(20000)]
        assert rules.subnets_disjoint(many) == []
        [(message, _)] = rules.subnets_disjoint([*many, subnet("late", "10.40.7.128/25")])
        assert "10.40.7.0/24" in message and "10.40.7.128/25" in message


class TestPodAnchorGroups:
    def check(self, resources: list[Resource]) -> list[rules.Violation]:
        groups = [r for r in resources if r.type == SERVER_GROUP]
        return rules.pod_anchor_groups(inventory.build(resources), groups)

    def test_anchors_in_one_anti_affinity_group_members_in_none_passes(self) -> None:
        resources = [
            vm("s", "p0", group="s-pods"),
            vm("s", "p0", pod_role="member"),
            vm("s", "p1", group="s-pods"),
            server_group("s-pods", "anti-affinity"),
        ]
        assert self.check(resources) == []

    def test_affinity_group_of_anchors_fails(self) -> None:
        [(message, _)] = self.check([vm("s", "p0", group="g"), server_group("g", "affinity")])
        assert "need 'anti-affinity' (hard)" in message

    def test_anchors_over_two_groups_fail(self) -> None:
        resources = [
            vm("s", "p0", group="g1"),
            vm("s", "p1", group="g2"),
            server_group("g1", "anti-affinity"),
            server_group("g2", "anti-affinity"),
        ]
        assert any("spread over 2 server groups" in m for m, _ in self.check(resources))

    def test_member_in_a_group_fails(self) -> None:
        resources = [
            vm("s", "p0", group="g"),
            vm("s", "p0", group="g", pod_role="member"),
            server_group("g", "anti-affinity"),
        ]
        assert any("members follow their anchor" in m for m, _ in self.check(resources))

    def test_group_shared_by_two_services_fails(self) -> None:
        resources = [vm("s", "p0", group="g"), vm("t", "q0", group="g"), server_group("g", "anti-affinity")]
        assert any("shared by services" in m for m, _ in self.check(resources))

    def test_unknown_ids_resolve_by_the_only_group_the_hint_depends_on(self) -> None:
        # In a first preview every id is unknown; an anchor's hints depend on its service group only.
        def preview(r: Resource) -> Resource:
            props = dict(r.props)
            if r.type == SERVER_GROUP:
                props["id"] = U
            else:
                props["schedulerHints"] = [{"group": U, "additionalProperties": {"webex_pod": "p0"}}]
            return Resource(
                r.type, r.urn, r.name, props, parent=r.parent, property_dependencies=r.property_dependencies
            )

        good = [vm("s", "p0", group="g"), server_group("g", "anti-affinity", parent="svc")]
        bad = [vm("s", "p0", group="g"), server_group("g", "affinity", parent="svc")]
        assert self.check([preview(r) for r in good]) == []
        assert self.check([preview(r) for r in bad])

    def test_unknown_policy_reports_nothing(self) -> None:
        assert self.check([vm("s", "p0", group="p0"), server_group("p0", U)]) == []


def controller(name: str, group: str | None = "ctl") -> Resource:
    return vm("control", "", role="controller", group=group, name=name)


class TestControllerPair:
    params = ControllerPairParams.parse({"vip": "10.250.1.10"})

    def check(
        self, resources: list[Resource], params: ControllerPairParams | None = None
    ) -> list[rules.Violation]:
        params = params or self.params
        view = inventory.build(resources, params.controller_roles)
        groups = [r for r in resources if r.type == SERVER_GROUP]
        frontends = [r for r in resources if r.type in (LOAD_BALANCER, PORT, LB_MEMBERS)]
        return rules.controller_pair(view, groups, frontends, params)

    @staticmethod
    def vip(address: Any = "10.250.1.10") -> Resource:
        return Resource(PORT, urn(PORT, "vip"), "vip", {"fixedIps": [{"ipAddress": address}]})

    def good(self) -> list[Resource]:
        return [
            controller("ctl-1"),
            controller("ctl-2"),
            server_group("ctl", "anti-affinity", parent="x"),
            self.vip(),
        ]

    def test_pair_in_hard_anti_affinity_behind_vip_passes(self) -> None:
        assert self.check(self.good()) == []

    def test_octavia_load_balancer_counts_as_the_vip(self) -> None:
        lb = Resource(LOAD_BALANCER, urn(LOAD_BALANCER, "api"), "api", {"vipAddress": "10.250.1.10"})
        assert self.check([*self.good()[:3], lb]) == []

    def test_soft_anti_affinity_fails(self) -> None:
        resources = [
            controller("ctl-1"),
            controller("ctl-2"),
            server_group("ctl", "soft-anti-affinity"),
            self.vip(),
        ]
        assert any("must be 'anti-affinity' (hard)" in m for m, _ in self.check(resources))

    def test_missing_vip_fails(self) -> None:
        assert any(
            "no load balancer or port holds the VIP 10.250.1.10" in m for m, _ in self.check(self.good()[:3])
        )

    def test_three_controllers_fail(self) -> None:
        assert any("needs exactly 2" in m for m, _ in self.check([*self.good(), controller("ctl-3")]))

    def test_ungrouped_controller_fails(self) -> None:
        resources = [controller("ctl-1"), controller("ctl-2", group=None), *self.good()[2:]]
        assert any("is in no server group" in m for m, _ in self.check(resources))

    def test_no_controllers_is_not_applicable(self) -> None:
        with pytest.raises(rules.NotApplicable):
            self.check(service("s"))

    def test_vip_port_not_allowed_on_the_pair_fails(self) -> None:
        own = Resource(
            PORT, urn(PORT, "ctl-1-port"), "ctl-1-port", {"fixedIps": [{"ipAddress": "10.250.1.13"}]}
        )
        first = controller("ctl-1")
        first = Resource(
            first.type,
            first.urn,
            first.name,
            first.props,
            parent=first.parent,
            dependencies=(own.urn,),
            property_dependencies=first.property_dependencies,
        )
        resources = [first, controller("ctl-2"), *self.good()[2:], own]
        assert any("does not allow the VIP 10.250.1.10" in m for m, _ in self.check(resources))
        allowed = Resource(
            PORT, own.urn, own.name, {**own.props, "allowedAddressPairs": [{"ipAddress": "10.250.1.10"}]}
        )
        assert self.check([first, controller("ctl-2"), *self.good()[2:], allowed]) == []

    def test_load_balancer_missing_a_controller_member_fails(self) -> None:
        params = ControllerPairParams.parse(
            {"vip": "10.250.1.10", "backends": ["10.250.1.11", "10.250.1.12"]}
        )
        lb = Resource(LOAD_BALANCER, urn(LOAD_BALANCER, "api"), "api", {"vipAddress": "10.250.1.10"})
        member = Resource(
            LB_MEMBERS, urn(LB_MEMBERS, "api"), "api", {"members": [{"address": "10.250.1.11"}]}
        )
        [(message, _)] = self.check([*self.good()[:3], lb, member], params)
        assert "10.250.1.12 are not members behind the VIP" in message

    def test_unknown_vip_address_reports_nothing_about_the_vip(self) -> None:
        assert self.check([*self.good()[:3], self.vip(U)]) == []


def shape(pods: int, roles: dict[str, int], groups: dict[str, int] | None = None) -> ServiceShape:
    return ServiceShape(pods, roles, groups or {})


class TestSameShapeAcrossDatacenters:
    here: ClassVar[list[Resource]] = [
        *service("messaging", 3, per_pod=2, groups={"messages": 3}),
        *service("gateway", 2),
    ]

    def params(
        self, peer: dict[str, ServiceShape], restricted: dict[str, frozenset[str]] | None = None
    ) -> CrossDatacenterParams:
        return CrossDatacenterParams("dc1", {"dc2": peer}, restricted or {})

    def check(self, resources: list[Resource], params: CrossDatacenterParams) -> list[rules.Violation]:
        return rules.same_shape_across_datacenters(inventory.build(resources), params)

    def test_same_shape_passes(self) -> None:
        peer = {"messaging": shape(3, {"app": 6}, {"messages": 3}), "gateway": shape(2, {"app": 2})}
        assert self.check(self.here, self.params(peer)) == []

    def test_different_pods_and_groups_fail(self) -> None:
        peer = {"messaging": shape(2, {"app": 4}, {"messages": 2}), "gateway": shape(2, {"app": 2})}
        [(message, _)] = self.check(self.here, self.params(peer))
        assert "3 pods here, 2 there" in message and "volume group messages" in message

    def test_missing_in_peer_fails_unless_restricted(self) -> None:
        peer = {"messaging": shape(3, {"app": 6}, {"messages": 3})}
        assert "runs in dc1 but not in dc2" in self.check(self.here, self.params(peer))[0][0]
        assert self.check(self.here, self.params(peer, {"gateway": frozenset({"dc1"})})) == []

    def test_missing_here_fails(self) -> None:
        peer = {
            "messaging": shape(3, {"app": 6}, {"messages": 3}),
            "gateway": shape(2, {"app": 2}),
            "search": shape(2, {"idx": 2}),
        }
        assert "runs in dc2 but not in dc1" in self.check(self.here, self.params(peer))[0][0]

    def test_unknown_membership_reports_nothing(self) -> None:
        peer = {"messaging": shape(3, {"app": 6}, {"messages": 3}), "gateway": shape(3, {"app": 3})}
        uncertain = [*self.here, vm("gateway", U)]
        assert self.check(uncertain, self.params(peer)) == []

    def test_config_round_trip(self) -> None:
        raw = {
            "datacenter": "dc1",
            "peers": {"dc2": {"m": shape(3, {"a": 6}, {"g": 3}).to_json()}},
            "serviceDatacenters": {"gw": ["dc1"]},
        }
        parsed = CrossDatacenterParams.parse(raw)
        assert parsed is not None
        assert parsed.peers["dc2"]["m"] == shape(3, {"a": 6}, {"g": 3})
        assert parsed.restricted == {"gw": frozenset({"dc1"})}


class TestSameShapeWithManyPeers:
    """Twenty datacenters: every peer is compared, and each finding names exactly the peers concerned."""

    here: ClassVar[list[Resource]] = TestSameShapeAcrossDatacenters.here
    same: ClassVar[dict[str, ServiceShape]] = {
        "messaging": shape(3, {"app": 6}, {"messages": 3}),
        "gateway": shape(2, {"app": 2}),
    }

    def check(
        self, peers: dict[str, dict[str, ServiceShape]], restricted: dict[str, frozenset[str]] | None = None
    ) -> list[str]:
        params = CrossDatacenterParams("dc01", peers, restricted or {})
        return [m for m, _ in rules.same_shape_across_datacenters(inventory.build(self.here), params)]

    def peers(self) -> dict[str, dict[str, ServiceShape]]:
        return {f"dc{index:02d}": dict(self.same) for index in range(2, 21)}

    def test_nineteen_identical_peers_pass(self) -> None:
        assert self.check(self.peers()) == []

    def test_one_finding_per_difference_naming_its_peers(self) -> None:
        peers = self.peers()
        for name in ("dc04", "dc11", "dc17"):
            del peers[name]["gateway"]
        for name in ("dc07", "dc08"):
            peers[name]["messaging"] = shape(2, {"app": 4}, {"messages": 3})
        peers["dc20"]["messaging"] = shape(3, {"app": 6}, {"messages": 2})
        peers["dc09"]["search"] = shape(2, {"idx": 2})
        assert sorted(self.check(peers)) == [
            "service gateway runs in dc01 but not in dc04, dc11, dc17; the catalog runs it there too",
            "service messaging differs between dc01 and dc07, dc08: 3 pods here, 2 there; "
            "role app: 6 instances here, 4 there",
            "service messaging differs between dc01 and dc20: volume group messages: "
            "3 replicas here, 2 replicas there",
            "service search runs in dc09 but not in dc01; the catalog runs it here too",
        ]

    def test_a_restricted_service_is_compared_only_where_the_catalog_runs_it(self) -> None:
        peers = self.peers()
        for name, services in peers.items():
            if name not in ("dc05", "dc06"):
                del services["gateway"]
        peers["dc06"]["gateway"] = shape(1, {"app": 1})
        restricted = {"gateway": frozenset({"dc01", "dc05", "dc06"})}
        assert self.check(peers, restricted) == [
            "service gateway differs between dc01 and dc06: 2 pods here, 1 there; "
            "role app: 2 instances here, 1 there"
        ]


# --- controller SSH host keys ---------------------------------------------------------------------

PAIR_URN = (
    "urn:pulumi:dc1::webex-cloud::webex:datacenter:Datacenter$webex:controller:ControllerPair"
    "::dc1-controllers"
)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample"


def pair(*hosts: tuple[str, str, Any]) -> Resource:
    ssh_hosts = [{"name": n, "address": a, "hostKey": k} for n, a, k in hosts]
    return Resource(CONTROLLER_PAIR, PAIR_URN, "dc1-controllers", {"sshHosts": ssh_hosts})


def rollout(host: str, connection: Any = None, key: Any = "") -> Resource:
    if connection is None:
        connection = {"host": host, "port": 22, "user": "deploy", "hostKey": key}
    return Resource(
        REMOTE_COMMAND, urn(REMOTE_COMMAND, f"rollout-{host}"), f"rollout-{host}", {"connection": connection}
    )


def test_unpinned_controllers_are_reported_once_each_with_the_field_to_set() -> None:
    resources = [
        pair(("ctl-1", "10.250.1.11", ""), ("ctl-2", "10.250.1.12", KEY)),
        rollout("10.250.1.11", "[secret]"),  # the offline plan: the connection is redacted
        rollout("10.250.1.12", "[secret]"),
    ]
    [(message, where)] = rules.controller_ssh_host_keys(resources)
    assert where == PAIR_URN
    assert message.startswith("controller ctl-1 (10.250.1.11): the deploy's SSH connection pins no host key")
    assert "set controllers.hosts[0].host_key in stacks/Pulumi.dc1.yaml" in message


def test_a_readable_connection_is_judged_first() -> None:
    """In a real preview the SDK hands the secret connection over in plain: it is what the deploy uses."""
    resources = [
        pair(("ctl-1", "10.250.1.11", KEY), ("ctl-2", "10.250.1.12", KEY)),
        rollout("10.250.1.11", key=None),
        rollout("10.250.1.12", key=KEY),
    ]
    [(message, where)] = rules.controller_ssh_host_keys(resources)
    assert "controller ctl-1 (10.250.1.11)" in message and where == PAIR_URN
    # Without the component, the command itself is reported.
    [(_, where)] = rules.controller_ssh_host_keys(resources[1:])
    assert where == urn(REMOTE_COMMAND, "rollout-10.250.1.11")


def test_pinned_or_unknown_host_keys_report_nothing() -> None:
    pinned = pair(("ctl-1", "10.250.1.11", KEY), ("ctl-2", "10.250.1.12", U))
    assert rules.controller_ssh_host_keys([pinned]) == []
    assert rules.controller_ssh_host_keys([rollout("10.250.1.11", U), pair(("c", "10.250.1.11", U))]) == []


def test_no_controller_pair_is_not_applicable() -> None:
    with pytest.raises(rules.NotApplicable):
        rules.controller_ssh_host_keys([])
