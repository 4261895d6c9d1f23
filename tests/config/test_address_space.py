"""A stack's own address space is private: pools that become peer-dc, sources in front of the APIs.

Each rule is judged as address space, so a public range written in halves, as IPv4-mapped IPv6 or
hidden in a named source is refused as surely as ``0.0.0.0/0``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webex_policies import exposure

from tests.conftest import ProjectCopy
from webex_cloud.config.address_space import PRIVATE_RANGES, is_private
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import DATACENTER_KEY, load_deployment

DC1, DC2 = "stacks/Pulumi.dc1.yaml", "stacks/Pulumi.dc2.yaml"
FIELD = f"config.{DATACENTER_KEY}"


def problems(project: ProjectCopy, stack: str = "dc1") -> list[Any]:
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, stack)
    return caught.value.problems


def _brute_private(network: ipaddress.IPv4Network) -> bool:
    """Every address of ``network`` inside one of the private ranges, by interval arithmetic."""
    low, high = int(network.network_address), int(network.broadcast_address)
    return any(
        int(r.network_address) <= low and high <= int(r.broadcast_address)
        for r in PRIVATE_RANGES
        if r.version == 4
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_private_means_every_address_private(address: int, prefix: int) -> None:
    network = ipaddress.IPv4Network((address, prefix), strict=False)
    assert is_private(network) == _brute_private(network)
    # The same range written as IPv4-mapped IPv6 is judged the same way.
    mapped = ipaddress.IPv6Network((int(network.network_address) + 0xFFFF00000000, 96 + prefix))
    assert is_private(mapped) == _brute_private(network)


def test_the_policy_pack_counts_every_private_range_as_internal() -> None:
    """The loader's private ranges and the exposure policy's internal space stay in step."""
    internal = exposure.ExposureParams.parse({}).internal_intervals()
    for network in PRIVATE_RANGES:
        low, high = int(network.network_address), int(network.broadcast_address)
        assert any(a <= low and high <= b for a, b in internal[network.version]), network


@pytest.mark.parametrize("pool", ["128.0.0.0/1", "0.0.0.0/0", "8.8.0.0/16", "172.15.0.0/16", "100.0.0.0/8"])
def test_a_public_cidr_pool_is_refused_naming_the_file_and_field(project: ProjectCopy, pool: str) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.update(cidr_pool=pool, subnets={}))
    found = [p for p in problems(project) if p.file == DC1 and p.field == f"{FIELD}.cidr_pool"]
    assert found and "not private address space" in found[0].message
    assert "public_pool_reason" in found[0].message and "peer-dc" in found[0].message


def test_a_public_pool_declared_with_a_reason_is_accepted(project: ProjectCopy) -> None:
    project.edit_datacenter(
        "dc1",
        lambda dc: dc.update(
            cidr_pool="198.18.0.0/16",
            subnets={},
            public_pool_reason="the media relays need addresses reachable from customer networks",
        ),
    )
    deployment = load_deployment(project.root, "dc1")
    assert str(deployment.datacenter.cidr_pool) == "198.18.0.0/16"
    peer = load_deployment(project.root, "dc2")
    assert ipaddress.ip_network("198.18.0.0/16") in peer.datacenter.sources["peer-dc"]


def test_a_peer_with_a_public_pool_stops_this_stack_too(project: ProjectCopy) -> None:
    """Quietly leaving dc2 out of dc1's peer-dc would write a dc1 plan that locks dc2 out."""
    project.edit_datacenter("dc2", lambda dc: dc.update(cidr_pool="128.0.0.0/1", subnets={}))
    found = problems(project, "dc1")
    assert any(p.file == DC2 and p.field == "" and "peer-dc" in p.message for p in found)
    assert any(p.file == DC2 and p.field == f"{FIELD}.cidr_pool" for p in found)


def test_plan_writes_nothing_when_a_peer_stack_file_is_unusable(project: ProjectCopy, tmp_path: Path) -> None:
    from webex_cloud.commands import plan as plan_cli

    project.edit_datacenter("dc2", lambda dc: dc.update(cidr_pool="128.0.0.0/1", subnets={}))
    out = tmp_path / "plans"
    code = plan_cli.main(["--stack", "dc1", "--project", str(project.root), "--out", str(out), "--no-policy"])
    assert code == 2 and not (out / "dc1.json").exists()


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        ({"any": ["0.0.0.0/0", "::/0"]}, "0.0.0.0/0"),
        ({"ops": ["0.0.0.0/1", "128.0.0.0/1"]}, "0.0.0.0/1, 128.0.0.0/1"),
        ({"ops": ["10.250.1.0/24", "203.0.113.0/24"]}, "203.0.113.0/24"),
        ({"ops": ["10.250.1.0/24", "::/0"]}, "::/0"),
    ],
)
def test_api_sources_are_internal_only(project: ProjectCopy, sources: dict[str, Any], says: str) -> None:
    name = next(iter(sources))

    def change(dc: dict[str, Any]) -> None:
        dc["sources"].update(sources)
        dc["controllers"]["api_sources"] = [name]

    project.edit_datacenter("dc1", change)
    found = [p for p in problems(project) if p.field == f"{FIELD}.controllers.api_sources[0]"]
    assert found and says in found[0].message and "internal sources only" in found[0].message


@pytest.mark.parametrize("port", [22, 3306, 6379, 443])
def test_the_api_front_serves_openstack_api_ports_only(project: ProjectCopy, port: int) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"].update(api_ports=[5000, port]))
    found = [p for p in problems(project) if p.field == f"{FIELD}.controllers.api_ports[1]"]
    assert found and "not an OpenStack API port" in found[0].message


def test_the_octavia_api_port_is_an_api_port(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"].update(api_ports=[5000, 8774, 9876]))
    load_deployment(project.root, "dc1")
