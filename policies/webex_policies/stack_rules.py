"""Stack rules: one plain function per rule over the whole stack, returning (message, urn) pairs.

The URN says which resource the violation is about (the CLI shows it there); None means the stack
as a whole. Like the resource rules, a stack rule reports only what unknowns cannot change: a count
that is already too high stays too high, but a count that looks too low might not be.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webex_scheduler_filters import hints

from webex_policies import inventory
from webex_policies.inventory import StackView
from webex_policies.model import (
    CONTROLLER_PAIR,
    LB_MEMBER,
    LB_MEMBERS,
    LOAD_BALANCER,
    PORT,
    REMOTE_COMMAND,
    SERVER_GROUP,
    SUBNET,
    Resource,
)
from webex_policies.params import (
    ControllerPairParams,
    CrossDatacenterParams,
    FailureDomainParams,
    InventoryParams,
    RedundancyParams,
    ReleaseParams,
    ServiceShape,
)
from webex_policies.values import contains_unknown, get_path, known

Violation = tuple[str, str | None]


class NotApplicable(Exception):
    """The stack has nothing this rule is about; the reason is shown instead of a pass."""


def _anchor(members: Sequence[Resource]) -> str | None:
    """Where to report a finding about a group of resources: their common parent component."""
    if not members:
        return None
    return members[0].parent or members[0].urn


def replicas_within_failure_domains(view: StackView, params: FailureDomainParams) -> list[Violation]:
    """Two replicas in one failure domain die together: a group cannot have more than there are domains."""
    out: list[Violation] = []
    for name, service in sorted(view.services.items()):
        for group, replicas in sorted(service.volume_groups.items()):
            if len(replicas) > params.failure_domains:
                out.append(
                    (
                        f"volume group {name}/{group} has {len(replicas)} replicas but the datacenter has "
                        f"{params.failure_domains} storage failure domains; two replicas would share one",
                        _anchor(replicas),
                    )
                )
    return out


def service_redundancy(view: StackView, params: RedundancyParams) -> list[Violation]:
    """One pod or one replica is a single point of failure: a host or rack loss takes the service down."""
    out: list[Violation] = []
    for name, service in sorted(view.services.items()):
        if len(service.pods) < params.min_pods and view.certain(name, pods=True):
            out.append(
                (
                    f"service {name} has {len(service.pods)} pod(s); it needs at least {params.min_pods} "
                    "so that losing one compute host leaves it running",
                    _anchor(next(iter(service.pods.values()), [])),
                )
            )
        if not view.certain(name, groups=True):
            continue
        for group, replicas in sorted(service.volume_groups.items()):
            if len(replicas) < params.min_replicas:
                out.append(
                    (
                        f"volume group {name}/{group} has {len(replicas)} replica(s); it needs at least "
                        f"{params.min_replicas} so that losing one failure domain keeps the data",
                        _anchor(replicas),
                    )
                )
    return out


def pods_fit_inventory(view: StackView, params: InventoryParams) -> list[Violation]:
    """Pods of one service never share a host: more pods than hosts can never all be scheduled."""
    out: list[Violation] = []
    for name, service in sorted(view.services.items()):
        if len(service.pods) > params.hosts:
            out.append(
                (
                    f"service {name} has {len(service.pods)} pods but the datacenter has {params.hosts} "
                    "compute hosts; pods of one service need distinct hosts",
                    None,
                )
            )
    return out


def subnets_disjoint(subnets: Sequence[Resource]) -> list[Violation]:
    """Overlapping service subnets break routing on the shared router and leak traffic between services."""
    networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Resource]] = []
    for subnet in subnets:
        cidr = subnet.props.get("cidr")
        if subnet.type != SUBNET or not isinstance(cidr, str):
            continue  # unknown or absent (a subnet-pool allocation): nothing certain to compare
        try:
            networks.append((ipaddress.ip_network(cidr, strict=False), subnet))
        except ValueError:
            continue  # the provider rejects a malformed CIDR itself
    # Sweep in address order: a subnet overlaps an earlier one iff it starts before the furthest end
    # seen so far, so the check is O(n log n) instead of comparing every pair.
    networks.sort(key=lambda item: (item[0].version, int(item[0].network_address), -item[0].prefixlen))
    out: list[Violation] = []
    reach: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Resource] | None = None
    for network, subnet in networks:
        if (
            reach is not None
            and reach[0].version == network.version
            and (int(network.network_address) <= int(reach[0].broadcast_address))
        ):
            out.append(
                (
                    f"subnet {subnet.label()} ({network}) overlaps subnet {reach[1].label()} ({reach[0]})",
                    subnet.urn,
                )
            )
            if int(network.broadcast_address) <= int(reach[0].broadcast_address):
                continue
        reach = (network, subnet)
    return out


def _hint_groups(instance: Resource, server_groups: dict[str, Resource]) -> list[Resource] | None:
    """The server group(s) an instance's ``group`` hints name; None when that cannot be told yet.

    The hints' property dependencies list every server group they were computed from. The one named
    by the ``group`` hint is the one whose ``id`` output equals it; before the update ids are unknown,
    and the only group the hints depend on (a pod anchor's service group), or else the group created
    by the same component (same parent), is the one.
    """
    hints_value = instance.props.get("schedulerHints")
    entries = hints_value if isinstance(hints_value, list) else []
    named = [get_path(entry, "group") for entry in entries]
    candidates = [
        server_groups[urn]
        for urn in instance.property_dependencies.get("schedulerHints", ())
        if urn in server_groups
    ]
    same_parent = [g for g in candidates if instance.parent and g.parent == instance.parent]
    ids_recorded = any(isinstance(g.props.get("id"), str) for g in candidates)
    found: list[Resource] = []
    for group_id in named:
        if isinstance(group_id, str) and group_id and ids_recorded:
            by_id = [g for g in candidates if g.props.get("id") == group_id]
            if not by_id:
                return None  # a group this stack does not create: nothing here to check it against
            found.extend(by_id)
        elif not known(group_id) or (isinstance(group_id, str) and group_id):
            if len(candidates) == 1:
                found.extend(candidates)
            elif len(same_parent) == 1:
                found.extend(same_parent)
            else:
                return None
    if not found and contains_unknown(hints_value):
        return None
    return found


def pod_anchor_groups(view: StackView, server_groups: Sequence[Resource]) -> list[Violation]:
    """A service's pods stay apart and movable only if all their anchors share one hard anti-affinity
    group of the service's own and the members are in none (docs/scheduler-filters.md, "Design")."""
    by_urn = {group.urn: group for group in server_groups if group.type == SERVER_GROUP}
    owner: dict[str, str] = {}
    out: list[Violation] = []
    for name, service in sorted(view.services.items()):
        anchors: set[str] = set()
        for pod, instances in sorted(service.pods.items()):
            for instance in instances:
                # An instance whose group cannot be resolved adds nothing; the others still count.
                groups = {group.urn for group in _hint_groups(instance, by_urn) or []}
                role = get_path(instance.props, "metadata", hints.INSTANCE_POD_ROLE_METADATA_KEY)
                if role == hints.MEMBER_ROLE and groups:
                    out.append(
                        (
                            f"member {instance.label()} of pod {pod} of {name} is in a server group; "
                            "members follow their anchor and are in none",
                            instance.urn,
                        )
                    )
                if role == hints.ANCHOR_ROLE:
                    anchors.update(groups)
        if len(anchors) > 1:
            out.append(
                (
                    f"the pod anchors of {name} spread over {len(anchors)} server groups; Nova keeps "
                    "them apart only inside one",
                    sorted(anchors)[0],
                )
            )
        for urn in sorted(anchors):
            group = by_urn[urn]
            policy = group.props.get("policies")
            policy = policy[0] if isinstance(policy, list) and len(policy) == 1 else policy
            if known(policy) and policy != "anti-affinity":
                out.append(
                    (
                        f"the pod anchors of {name} are in server group {group.label()} with policy "
                        f"{policy!r}; they need 'anti-affinity' (hard) so that no two pods share a host",
                        urn,
                    )
                )
            if urn in owner and owner[urn] != name:
                out.append(
                    (
                        f"server group {group.label()} is shared by services {owner[urn]} and {name}; "
                        "each service needs its own",
                        urn,
                    )
                )
            owner.setdefault(urn, name)
    return out


def _addresses(resource: Resource) -> set[str]:
    """Known IP addresses a port, load balancer or member resource puts on the network."""
    props = resource.props
    found: set[str] = set()
    for key in ("vipAddress", "address"):
        value = props.get(key)
        if isinstance(value, str) and value:
            found.add(value)
    for key, field in (("fixedIps", "ipAddress"), ("members", "address")):
        entries = props.get(key)
        for entry in entries if isinstance(entries, list) else []:
            address = get_path(entry, field)
            if isinstance(address, str) and address:
                found.add(address)
    return found


def _policy_name(group: Resource) -> Any:
    policy = group.props.get("policies")
    return policy[0] if isinstance(policy, list) and len(policy) == 1 else policy


def controller_pair(
    view: StackView,
    server_groups: Sequence[Resource],
    frontends: Sequence[Resource],
    params: ControllerPairParams,
) -> list[Violation]:
    """Both of the pair on one host, or no VIP in front, and one failure stops every API and scheduler.

    The pair is the controller plane's instances (controller VMs, or the HA proxy pair that holds
    the VIP in front of physical controllers): one hard anti-affinity group, exactly two of them.
    The VIP is an Octavia load balancer's ``vipAddress`` or a port's fixed IP; with a VIP port each
    of the pair's ports must allow the VIP (keepalived moves it), with a load balancer its members
    must include every controller address.
    """
    pair = view.controllers
    balancers = [r for r in frontends if r.type == LOAD_BALANCER]
    ports = {r.urn: r for r in frontends if r.type == PORT}
    if not pair and not balancers:
        roles = ", ".join(sorted(params.controller_roles))
        raise NotApplicable(
            f"no instance with a controller-plane role ({roles}) and no load balancer in "
            "this stack: the controller pair is not modelled here"
        )
    out: list[Violation] = []
    if pair and len(pair) != params.pair_size:
        out.append(
            (
                f"the controller pair has {len(pair)} instance(s); it needs exactly {params.pair_size}",
                _anchor(pair),
            )
        )
    by_urn = {group.urn: group for group in server_groups if group.type == SERVER_GROUP}
    groups: set[str] = set()
    for instance in pair:
        found = _hint_groups(instance, by_urn)
        if found is None:
            continue  # its group is not known before the update
        if not found:
            out.append((f"{instance.label()} of the controller pair is in no server group", instance.urn))
        groups.update(group.urn for group in found)
    if len(groups) > 1:
        out.append(
            (
                "the controller pair is split over several server groups; anti-affinity only holds "
                "within one",
                _anchor(pair),
            )
        )
    for urn in sorted(groups):
        policy = _policy_name(by_urn[urn])
        if known(policy) and policy != "anti-affinity":
            out.append(
                (
                    f"the controller pair's server group {by_urn[urn].label()} has policy {policy!r}; it "
                    "must be 'anti-affinity' (hard), or both may land on one host",
                    urn,
                )
            )
    if params.vip is None:
        if pair and not balancers and not any(_allows(p, None) for p in ports.values()):
            out.append(("nothing holds a VIP in front of the controller pair", None))
        return out
    holders = [r for r in (*balancers, *ports.values()) if params.vip in _addresses(r)]
    undecided = any(
        contains_unknown(r.props.get("vipAddress")) or contains_unknown(r.props.get("fixedIps"))
        for r in (*balancers, *ports.values())
    )
    if not holders and not undecided:
        out.append(
            (f"no load balancer or port holds the VIP {params.vip} in front of the controller pair", None)
        )
    if any(r.type == PORT for r in holders):
        for instance in pair:
            own = [ports[urn] for urn in instance.dependencies if urn in ports]
            if own and not any(_allows(p, params.vip) for p in own):
                out.append(
                    (
                        f"the port of {instance.label()} does not allow the VIP {params.vip} "
                        "(allowedAddressPairs); Neutron drops the VIP's traffic when it moves there",
                        instance.urn,
                    )
                )
    members = [r for r in frontends if r.type in (LB_MEMBER, LB_MEMBERS)]
    behind_balancer = any(r.type == LOAD_BALANCER for r in holders)
    members_known = not any(contains_unknown(m.props) for m in members)
    if params.backends and behind_balancer and members and members_known:
        served = set().union(*(_addresses(m) for m in members))
        missing = [address for address in params.backends if address not in served]
        if missing:
            out.append(
                (
                    f"controller address(es) {', '.join(missing)} are not members behind the VIP "
                    f"{params.vip}",
                    None,
                )
            )
    return out


def _allows(port: Resource, vip: str | None) -> bool:
    """True when ``port`` lets ``vip`` (any address when None) through as an allowed address pair."""
    pairs = port.props.get("allowedAddressPairs")
    if not isinstance(pairs, list):
        return False
    addresses = [get_path(pair, "ipAddress") for pair in pairs]
    return any(
        not known(a) or (isinstance(a, str) and (vip is None or a.split("/")[0] == vip)) for a in addresses
    )


def _shape_difference(here: ServiceShape, there: ServiceShape) -> list[str]:
    diffs = []
    if here.pods != there.pods:
        diffs.append(f"{here.pods} pods here, {there.pods} there")
    for role in sorted(set(here.roles) | set(there.roles)):
        count_here, count_there = here.roles.get(role, 0), there.roles.get(role, 0)
        if count_here != count_there:
            diffs.append(f"role {role}: {count_here} instances here, {count_there} there")
    for group in sorted(set(here.volume_groups) | set(there.volume_groups)):
        mine, theirs = here.volume_groups.get(group), there.volume_groups.get(group)
        if mine != theirs:
            diffs.append(
                f"volume group {group}: "
                f"{'absent' if mine is None else f'{mine} replicas'} here, "
                f"{'absent' if theirs is None else f'{theirs} replicas'} there"
            )
    return diffs


def same_shape_across_datacenters(view: StackView, params: CrossDatacenterParams) -> list[Violation]:
    """A failover only works if the other datacenters run the same pods, roles and volume groups.

    Compared with every peer; one finding per service and kind of difference, naming the peers it
    concerns (with twenty datacenters, a service missing in three is one finding, not three).
    """
    here = inventory.shapes(view)
    out: list[Violation] = []

    def expected_in(service: str, datacenter: str) -> bool:
        allowed = params.restricted.get(service)
        return allowed is None or datacenter in allowed

    names = sorted(set(here).union(*(set(theirs) for theirs in params.peers.values())))
    for name in names:
        if not expected_in(name, params.datacenter):
            continue  # the catalog does not run it here: each peer's own check compares it there
        if not view.certain(name, pods=True, groups=True) and name in here:
            continue  # some member's pod or group is unknown: its shape is not final yet
        missing: list[str] = []  # peers that should run it and do not
        only_there: list[str] = []  # peers that run it while this stack does not
        differing: dict[tuple[str, ...], list[str]] = {}  # the differences -> peers showing them
        for peer, theirs in sorted(params.peers.items()):
            if not expected_in(name, peer):
                continue
            if name in here and name not in theirs:
                missing.append(peer)
            elif name not in here and name in theirs:
                only_there.append(peer)
            elif name in here:
                diffs = tuple(_shape_difference(here[name], theirs[name]))
                if diffs:
                    differing.setdefault(diffs, []).append(peer)
        anchor = _anchor(next(iter(view.services[name].pods.values()), [])) if name in here else None
        if missing:
            out.append(
                (
                    f"service {name} runs in {params.datacenter} but not in {', '.join(missing)}; "
                    "the catalog runs it there too",
                    anchor,
                )
            )
        if only_there and view.unattributed == 0:
            out.append(
                (
                    f"service {name} runs in {', '.join(only_there)} but not in {params.datacenter}; the "
                    "catalog runs it here too",
                    None,
                )
            )
        for diffs, peers in sorted(differing.items(), key=lambda item: item[1]):
            out.append(
                (
                    f"service {name} differs between {params.datacenter} and {', '.join(peers)}: "
                    f"{'; '.join(diffs)}",
                    anchor,
                )
            )
    return out


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def controller_ssh_host_keys(resources: Sequence[Resource]) -> list[Violation]:
    """The deploy connects to each controller over SSH and runs the deploy script there with sudo as
    root: without a pinned host key it trusts whatever answers at the address.

    Judged from the remote commands' ``connection`` where it is readable (in a real preview the
    policy SDK hands secret values over in plain) and otherwise from the controller pair component's
    ``sshHosts`` (the offline plan, where the always-secret connection is redacted). One finding per
    controller address; unknown values prove nothing.
    """
    pairs = [r for r in resources if r.type == CONTROLLER_PAIR]
    commands = [r for r in resources if r.type == REMOTE_COMMAND]
    if not pairs and not commands:
        raise NotApplicable("no controller pair and no remote command in this stack: no SSH deploy to judge")
    declared: dict[str, tuple[int, str, str]] = {}  # address -> (index in hosts, name, pair urn)
    for pair in pairs:
        hosts = pair.props.get("sshHosts")
        if isinstance(hosts, list):
            for index, host in enumerate(hosts):
                address = get_path(host, "address")
                if _text(address):
                    declared.setdefault(address, (index, str(get_path(host, "name") or address), pair.urn))
    missing: dict[str, str] = {}  # address -> urn to report on
    judged: set[str] = set()
    for command in commands:
        connection = command.props.get("connection")
        host, key = get_path(connection, "host"), get_path(connection, "hostKey")
        if not isinstance(connection, dict) or not _text(host) or not known(key) or host in judged:
            continue  # redacted (a secret the plan could not see) or unknown
        judged.add(host)
        if not _text(key):
            missing[host] = declared[host][2] if host in declared else command.urn
    for pair in pairs:
        hosts = pair.props.get("sshHosts")
        for host in hosts if isinstance(hosts, list) else []:
            address, key = get_path(host, "address"), get_path(host, "hostKey")
            if not _text(address) or not known(key) or address in judged:
                continue
            judged.add(address)
            if not _text(key):
                missing[address] = pair.urn
    out: list[Violation] = []
    for address, urn in sorted(missing.items()):
        index, name, _ = declared.get(address, (-1, address, urn))
        field = f"controllers.hosts[{index}].host_key" if index >= 0 else "controllers.hosts[<n>].host_key"
        parts = urn.split(":", 3)  # urn:pulumi:<stack>::<project>::...
        stack = parts[2] if len(parts) > 3 and parts[2] else "<stack>"
        out.append(
            (
                f"controller {name} ({address}): the deploy's SSH connection pins no host key, so it trusts "
                f"whatever answers at {address} and runs the deploy script there with sudo as root; set "
                f"{field} in stacks/Pulumi.{stack}.yaml (key webex-cloud:datacenter) to the "
                f"node's public host key, e.g. the output of `ssh-keyscan -t ed25519 {address}` checked "
                "against /etc/ssh/ssh_host_ed25519_key.pub on the node itself",
                urn,
            )
        )
    return out


GATE_FORMAT = "webex-cloud.health-gate/v1"
"""The gate spec a health gate's ``create`` holds (owned by webex_cloud/release/probe.py's ``GateSpec``;
the pack is its own distribution and cannot import it, so :func:`read_gate_spec` reads the few keys it
needs and tests/policies/test_gate_spec_contract.py runs a spec the program renders through both)."""


@dataclass(frozen=True)
class GateView:
    """What the release rule needs of one gate spec."""

    service: str
    wave: int
    pods: tuple[str, ...]
    probed: frozenset[str]
    """Pulumi names of the instances the gate probes."""


def read_gate_spec(create: object) -> GateView | None:
    """The gate spec in a command's ``create``, or None when it is not one the pack can read in full.

    A spec missing a key reads as no gate at all, so its pods show as ungated (fail closed).
    """
    if not isinstance(create, str):
        return None
    try:
        spec = json.loads(create)
    except ValueError:
        return None
    if not isinstance(spec, dict) or spec.get("format") != GATE_FORMAT:
        return None
    service, wave, pods, targets = (spec.get(k) for k in ("service", "wave", "pods", "targets"))
    if not (isinstance(service, str) and isinstance(wave, int) and isinstance(pods, list)):
        return None
    if not (isinstance(targets, list) and all(isinstance(t, dict) for t in targets)):
        return None
    instances = [t.get("instance") for t in targets]
    if not all(isinstance(p, str) for p in pods) or not all(isinstance(i, str) for i in instances):
        return None
    return GateView(service, wave, tuple(pods), frozenset(instances))


def _waits_for(resources: Sequence[Resource]) -> dict[str, set[str]]:
    """URN -> every URN (of the given resources) it transitively depends on."""
    direct = {r.urn: set(r.dependencies) for r in resources}
    closed: dict[str, set[str]] = {}

    def visit(urn: str, trail: frozenset[str]) -> set[str]:
        if urn not in closed:
            found: set[str] = set()
            for dep in direct.get(urn, set()):
                if dep not in trail:
                    found |= {dep} | visit(dep, trail | {dep})
            closed[urn] = found
        return closed[urn]

    for urn in direct:
        visit(urn, frozenset({urn}))
    return closed


def release_waves_gated(
    view: StackView, commands: Sequence[Resource], params: ReleaseParams
) -> list[Violation]:
    """Every pod is in one health-gated wave of at most max_unavailable pods; each gate probes every
    instance of its wave and waits for them; each wave's instances wait for the previous wave's gate."""
    instances = [i for service in view.services.values() for pod in service.pods.values() for i in pod]
    waits = _waits_for([*instances, *commands])
    gates: dict[str, list[tuple[int, Resource, GateView]]] = {}
    for command in commands:
        spec = read_gate_spec(command.props.get("create"))
        if spec is not None:
            gates.setdefault(spec.service, []).append((spec.wave, command, spec))
    out: list[Violation] = []
    for name, service in sorted(view.services.items()):
        limit = params.of(name)
        waves = sorted(gates.get(name, []), key=lambda item: item[0])
        gated = {pod: gate for _, gate, spec in waves for pod in spec.pods}
        missing = sorted(set(service.pods) - set(gated))
        if missing and view.certain(name, pods=True):
            out.append(
                (
                    f"service {name}: pod(s) {', '.join(missing)} are in no health-gated release wave, so a "
                    "release may change them together with the others; build the service with its gates "
                    "(webex_cloud/components/service.py)",
                    _anchor(service.pods[missing[0]]),
                )
            )
        previous: Resource | None = None
        for number, gate, spec in waves:
            pods = spec.pods
            if len(pods) > limit:
                out.append(
                    (
                        f"service {name}: wave {number} changes {len(pods)} pods at once, more than "
                        f"rollout.max_unavailable ({limit})",
                        gate.urn,
                    )
                )
            members = [i for pod in pods for i in service.pods.get(pod, [])]
            unprobed = sorted(i.name for i in members if i.name not in spec.probed)
            unwaited = sorted(i.name for i in members if i.urn not in waits.get(gate.urn, set()))
            if unprobed:
                out.append(
                    (
                        f"service {name}: the gate of wave {number} does not probe {', '.join(unprobed)}",
                        gate.urn,
                    )
                )
            if unwaited:
                out.append(
                    (
                        f"service {name}: the gate of wave {number} does not wait for "
                        f"{', '.join(unwaited)}, so it can pass before they changed",
                        gate.urn,
                    )
                )
            if previous is not None:
                early = sorted(i.name for i in members if previous.urn not in waits.get(i.urn, set()))
                if early:
                    out.append(
                        (
                            f"service {name}: {', '.join(early)} of wave {number} do not wait for the "
                            "gate of the wave before, so two waves can be down at once",
                            gate.urn,
                        )
                    )
            previous = gate
    return out
