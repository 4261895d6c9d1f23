"""Exposure as address space: admin/data ports judged over the union of every rule on an instance.

The property tests build the world (or any public block beyond the threshold) out of random splits
spread over random groups, and check it is always refused; internal-only sets never are.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from webex_policies import exposure
from webex_policies.model import INSTANCE, PORT, SEC_GROUP, SEC_GROUP_RULE, Resource
from webex_policies.values import UNKNOWN

PARAMS = exposure.ExposureParams.parse({})


def urn(kind: str, name: str) -> str:
    return f"urn:pulumi:dc1::webex-cloud::{kind}::{name}"


def group(name: str) -> Resource:
    return Resource(SEC_GROUP, urn(SEC_GROUP, name), name, {"name": name, "id": UNKNOWN})


def rule(
    name: str,
    in_group: str,
    prefix: Any = None,
    protocol: Any = "tcp",
    low: Any = 22,
    high: Any = 22,
    *,
    ethertype: str = "IPv4",
    remote_group: str = "",
) -> Resource:
    deps = {"securityGroupId": (urn(SEC_GROUP, in_group),)}
    if remote_group:
        deps["remoteGroupId"] = (urn(SEC_GROUP, remote_group),)
    props = {
        "direction": "ingress",
        "ethertype": ethertype,
        "protocol": protocol,
        "portRangeMin": low,
        "portRangeMax": high,
        "remoteIpPrefix": prefix,
        "remoteGroupId": UNKNOWN if remote_group else None,
        "securityGroupId": UNKNOWN,
    }
    return Resource(SEC_GROUP_RULE, urn(SEC_GROUP_RULE, name), name, props, property_dependencies=deps)


def server(name: str, groups: list[str], address: str = "10.10.0.5", **port_props: Any) -> list[Resource]:
    port = Resource(
        PORT,
        urn(PORT, f"{name}-port"),
        f"{name}-port",
        {"securityGroupIds": [UNKNOWN] * len(groups), "fixedIps": [{"ipAddress": address}], **port_props},
        property_dependencies={"securityGroupIds": tuple(urn(SEC_GROUP, g) for g in groups)},
    )
    instance = Resource(
        INSTANCE,
        urn(INSTANCE, name),
        name,
        {"networks": [{"port": UNKNOWN}]},
        property_dependencies={"networks": (port.urn,)},
    )
    return [port, instance]


def findings(resources: list[Resource]) -> list[str]:
    return [f.message for f in exposure.judge(resources, PARAMS)]


def test_ssh_to_the_two_halves_of_ipv4_is_refused() -> None:
    stack = [
        group("a"),
        rule("low-half", "a", "0.0.0.0/1"),
        rule("high-half", "a", "128.0.0.0/1"),
        *server("vm", ["a"]),
    ]
    found = findings(stack)
    assert any("SSH" in m and "'vm'" in m for m in found), found


def test_ssh_split_over_two_groups_is_refused_on_the_instance() -> None:
    stack = [
        group("a"),
        group("b"),
        rule("low-half", "a", "0.0.0.0/1"),
        rule("high-half", "b", "128.0.0.0/1"),
        *server("vm", ["a", "b"]),
    ]
    assert any("SSH" in m for m in findings(stack))


def test_ipv6_halves_and_ipv4_mapped_ipv6_are_refused() -> None:
    halves = [
        group("a"),
        rule("x", "a", "::/1", ethertype="IPv6"),
        rule("y", "a", "8000::/1", ethertype="IPv6"),
    ]
    assert any("IPv6" in m for m in findings([*halves, *server("vm", ["a"])]))
    mapped = [group("a"), rule("m", "a", "::ffff:0.0.0.0/96", ethertype="IPv6")]
    assert any("IPv4" in m for m in findings([*mapped, *server("vm", ["a"])]))


def test_data_ports_and_every_protocol_are_refused_from_any() -> None:
    for protocol, port in (("tcp", 6379), ("tcp", 9200), ("udp", 11211), ("tcp", 27017)):
        stack = [group("a"), rule("r", "a", "0.0.0.0/0", protocol, port, port), *server("vm", ["a"])]
        assert findings(stack), (protocol, port)
    for every in (0, -1, "0", "-1", "any", None, ""):
        stack = [group("a"), rule("r", "a", "0.0.0.0/0", every, None, None), *server("vm", ["a"])]
        assert any("every protocol" in m for m in findings(stack)), every


def test_the_monitoring_storage_and_directory_ports_are_admin_ports() -> None:
    """What this project runs (Prometheus, Alertmanager, the exporters, the console proxy's VNC) and the
    usual holes found open in scans (SMB, NFS and rpcbind, SNMP, IPMI, LDAP, the SQL servers, Kafka,
    ZooKeeper, Consul, Vault, the RabbitMQ console) are refused from anywhere like SSH is."""
    for protocol, port in (
        ("tcp", 9090), ("tcp", 9093), ("tcp", 9100), ("tcp", 9115), ("tcp", 445), ("tcp", 2049),
        ("udp", 2049), ("tcp", 111), ("udp", 111), ("udp", 161), ("udp", 623), ("tcp", 389),
        ("tcp", 636), ("tcp", 1433), ("tcp", 1521), ("tcp", 9092), ("tcp", 2181), ("tcp", 8500),
        ("tcp", 8200), ("tcp", 15672), ("tcp", 8004), ("tcp", 8086), ("tcp", 5601), ("tcp", 5984),
    ):  # fmt: skip
        stack = [group("a"), rule("r", "a", "0.0.0.0/0", protocol, port, port), *server("vm", ["a"])]
        assert findings(stack), (protocol, port)


def test_tcp_without_port_range_from_a_small_public_block_is_refused() -> None:
    stack = [group("a"), rule("r", "a", "198.51.100.0/28", "tcp", None, None), *server("vm", ["a"])]
    assert any("every tcp port" in m for m in findings(stack))


def test_small_public_block_and_web_ports_pass() -> None:
    stack = [
        group("a"),
        rule("ssh-from-office", "a", "198.51.100.0/24"),
        rule("https", "a", "0.0.0.0/0", "tcp", 443, 443),
        rule("ssh-ops", "a", "10.250.1.0/24"),
        *server("vm", ["a"]),
    ]
    assert findings(stack) == []


def test_remote_group_admits_its_members_addresses() -> None:
    stack = [
        group("a"),
        group("b"),
        rule("ssh-from-b", "a", remote_group="b"),
        *server("vm", ["a"]),
        *server("jump", ["b"], "10.10.1.5", allowedAddressPairs=[{"ipAddress": "0.0.0.0/0"}]),
    ]
    assert any("SSH" in m and "'vm'" in m for m in findings(stack))
    stack[-2] = server("jump", ["b"], "10.10.1.5")[0]
    assert findings(stack) == []


def test_port_security_disabled_and_default_group_admit_everything() -> None:
    assert findings([*server("vm", [], portSecurityEnabled=False)])
    instance = Resource(INSTANCE, urn(INSTANCE, "x"), "x", {"securityGroups": ["default"]})
    assert any("default" in m for m in findings([instance]))


def test_a_protocol_number_in_any_form_the_api_takes_is_that_protocol() -> None:
    """neutron-lib ``converters.convert_to_protocol`` keeps any text ``int()`` reads as 0-255 ("06",
    "+6", " 17") as it was written, and Neutron judges the rule by ``int()`` of it: the same protocol."""
    for protocol, port in (("06", 22), ("+6", 22), (" 006 ", 6379), ("017", 11211), (" +17", 11211)):
        stack = [group("a"), rule("r", "a", "0.0.0.0/0", protocol, port, port), *server("vm", ["a"])]
        assert findings(stack), (protocol, port)
    for every in ("00", "+0", " 0 "):
        stack = [group("a"), rule("r", "a", "0.0.0.0/0", every, None, None), *server("vm", ["a"])]
        assert any("every protocol" in m for m in findings(stack)), every


def test_a_prefix_the_policy_cannot_read_is_judged_as_every_address() -> None:
    """Address parsers differ (inet_aton forms such as ``010.0.0.0/8`` or ``0/0`` are read by some and
    refused by others): what the policy cannot read proves nothing safe, on the ports that matter."""
    for prefix in ("0/0", "010.0.0.0/8", "000.0.0.0/1", "0x0/0", "::ffff:0.0.0.0/96/1"):
        ssh = [group("a"), rule("r", "a", prefix), *server("vm", ["a"])]
        found = findings(ssh)
        assert any("SSH" in m and repr(prefix) in m for m in found), (prefix, found)
        web = [group("a"), rule("r", "a", prefix, "tcp", 443, 443), *server("vm", ["a"])]
        assert findings(web) == [], prefix
    jump = server("jump", ["b"], "10.10.1.5", allowedAddressPairs=[{"ipAddress": "0/0"}])
    via_pairs = [group("a"), group("b"), rule("ssh", "a", remote_group="b"), *server("vm", ["a"]), *jump]
    assert any("SSH" in m and "'vm'" in m for m in findings(via_pairs))


def test_the_nat64_prefix_is_judged_as_the_ipv4_space_it_translates() -> None:
    """RFC 6052's well-known prefix ``64:ff9b::/96`` carries every IPv4 address through a translator:
    SSH admitted from it is SSH admitted from all of IPv4, however small the IPv6 block looks."""
    nat64 = [group("a"), rule("r", "a", "64:ff9b::/96", ethertype="IPv6"), *server("vm", ["a"])]
    assert any("SSH" in m and "IPv4" in m for m in findings(nat64))
    one_host = [group("a"), rule("r", "a", "64:ff9b::c633:6401/128", ethertype="IPv6"), *server("vm", ["a"])]
    assert findings(one_host) == []


NETWORK = "openstack:networking/network:Network"


def network(name: str, **props: Any) -> Resource:
    return Resource(NETWORK, urn(NETWORK, name), name, {"name": name, "id": UNKNOWN, **props})


def test_a_port_on_a_network_without_port_security_admits_everything() -> None:
    """Neutron gives a port that does not set ``port_security_enabled`` its network's value (the
    port_security extension driver), and the provider leaves the field unset when the program does."""
    net = network("open", portSecurityEnabled=False)
    port, instance = server("vm", ["a"])
    on_net = Resource(
        PORT,
        port.urn,
        port.name,
        {**port.props, "networkId": UNKNOWN},
        property_dependencies={**port.property_dependencies, "networkId": (net.urn,)},
    )
    assert any("port security" in m for m in findings([net, group("a"), on_net, instance]))
    explicit = Resource(
        PORT,
        on_net.urn,
        on_net.name,
        {**on_net.props, "portSecurityEnabled": True},
        property_dependencies=on_net.property_dependencies,
    )
    assert findings([net, group("a"), explicit, instance]) == []
    secured = network("closed", portSecurityEnabled=True)
    assert findings([secured, group("a"), *server("vm", ["a"])]) == []


def test_an_instance_on_a_network_without_a_port_of_its_own_is_judged_by_novas_port() -> None:
    """Nova creates the port of a ``networks`` entry without ``port``, in the instance's
    ``security_groups``, or in the project's ``default`` group when it names none (nova
    ``compute/api.py``: ``security_groups or ['default']``)."""
    net = network("svc")

    def instance(on: Resource = net, **props: Any) -> Resource:
        return Resource(
            INSTANCE,
            urn(INSTANCE, "vm"),
            "vm",
            {"networks": [{"uuid": UNKNOWN}], **props},
            property_dependencies={"networks": (on.urn,)},
        )

    assert any("default" in m for m in findings([net, instance()]))
    assert any("default" in m for m in findings([net, instance(securityGroups=[])]))
    named = [net, group("a"), rule("r", "a", "0.0.0.0/0"), instance(securityGroups=["a"])]
    assert any("SSH" in m and "'vm'" in m for m in findings(named))
    assert findings([net, group("a"), instance(securityGroups=["a"])]) == []
    opened = network("open", portSecurityEnabled=False)
    assert any("port security" in m for m in findings([opened, instance(opened, securityGroups=["a"])]))
    unknown = Resource(INSTANCE, urn(INSTANCE, "vm"), "vm", {"networks": UNKNOWN})
    assert findings([unknown]) == []


def test_unknown_prefix_proves_nothing() -> None:
    stack = [group("a"), rule("r", "a", UNKNOWN), *server("vm", ["a"])]
    assert findings(stack) == []


def test_threshold_is_configurable() -> None:
    strict = exposure.ExposureParams.parse({"maxPublicIPv4": 0})
    stack = [group("a"), rule("r", "a", "198.51.100.7/32"), *server("vm", ["a"])]
    assert exposure.judge(stack, strict)
    assert not exposure.judge(stack, PARAMS)


# --- properties -------------------------------------------------------------------------------

_V4 = 2**32


def _blocks(low: int, high: int) -> list[str]:
    first, last = ipaddress.IPv4Address(low), ipaddress.IPv4Address(high)
    return [str(n) for n in ipaddress.summarize_address_range(first, last)]


@st.composite
def public_split(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(ethertype, cidr) pieces covering a public block of more than 256 addresses, randomly cut."""
    start = draw(st.sampled_from([1, 8, 20, 45, 64, 128, 150, 200, 223])) << 24
    size = draw(st.integers(257, 2**16))
    cuts = sorted(set(draw(st.lists(st.integers(start + 1, start + size - 1), max_size=6))))
    edges = [start, *cuts, start + size]
    pieces: list[tuple[str, str]] = []
    for low, nxt in itertools.pairwise(edges):
        for block in _blocks(low, nxt - 1):
            if draw(st.booleans()):
                pieces.append(("IPv6", f"::ffff:{block.split('/')[0]}/{96 + int(block.split('/')[1])}"))
            else:
                pieces.append(("IPv4", block))
    return pieces


@settings(max_examples=60, deadline=None)
@given(public_split(), st.integers(1, 4), st.sampled_from([22, 6379, 9042, 7001, 3389]), st.randoms())
def test_any_split_of_public_space_is_refused(
    pieces: list[tuple[str, str]], groups: int, port: int, rnd: Any
) -> None:
    names = [f"g{i}" for i in range(groups)]
    stack: list[Resource] = [group(n) for n in names]
    for index, (ethertype, cidr) in enumerate(pieces):
        low = port - rnd.randint(0, 3) if rnd.random() < 0.3 else port
        stack.append(rule(f"r{index}", rnd.choice(names), cidr, "tcp", low, port, ethertype=ethertype))
    stack += server("vm", names)
    assert any("public space" in m for m in findings(stack)), pieces


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_world_halves_are_refused_however_cut(data: st.DataObject) -> None:
    depth = data.draw(st.integers(1, 8))
    blocks = list(ipaddress.ip_network("0.0.0.0/0").subnets(new_prefix=depth))
    chosen = data.draw(st.permutations(blocks))
    stack: list[Resource] = [group("a"), group("b")]
    for index, block in enumerate(chosen):
        stack.append(rule(f"r{index}", data.draw(st.sampled_from(["a", "b"])), str(block)))
    stack += server("vm", ["a", "b"])
    assert any("SSH" in m for m in findings(stack))


_INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_INTERNAL),
            st.integers(0, 16),
            st.integers(0, 2**20),
            st.sampled_from([None, 0, "tcp", "udp"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_internal_only_sets_are_never_refused(items: list[tuple[str, int, int, Any]]) -> None:
    stack: list[Resource] = [group("a")]
    for index, (base, extra, offset, protocol) in enumerate(items):
        net = ipaddress.ip_network(base)
        prefix = min(net.max_prefixlen, net.prefixlen + extra)
        sub = ipaddress.ip_network(
            (int(net.network_address) + (offset << (net.max_prefixlen - prefix)) % net.num_addresses, prefix),
            strict=False,
        )
        ethertype = f"IPv{net.version}"
        stack.append(rule(f"r{index}", "a", str(sub), protocol, None, None, ethertype=ethertype))
    stack += server("vm", ["a"])
    assert findings(stack) == []
