"""Which address space a stack may treat as its own: private ranges only, unless declared public.

A datacenter's ``cidr_pool`` becomes every other datacenter's ``peer-dc`` source (SSH, Cassandra
9042 and 7000-7001 between datacenters), and ``controllers.api_sources`` become the rules in front of
the OpenStack APIs. Both are judged here as address space, not as strings: a prefix is private only
when it lies wholly inside one of :data:`PRIVATE_RANGES`, so ``128.0.0.0/1`` or ``0.0.0.0/0`` (written
any way) is public. The policy pack judges security group rules with its own table
(policies/webex_policies/exposure.py, ``PRIVATE_RANGES``), a superset of this one (it adds loopback);
tests/config/test_address_space.py keeps the two in step.
"""

from __future__ import annotations

import ipaddress
from typing import Final

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_RANGES: Final[tuple[Network, ...]] = tuple(
    ipaddress.ip_network(text)
    for text in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598 shared address space
        "fc00::/7",  # RFC 4193 unique local IPv6
    )
)
PRIVATE_NAMES: Final = "RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 (100.64/10) or IPv6 ULA (fc00::/7)"

_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")


def is_private(network: Network) -> bool:
    """True when every address of ``network`` is private (IPv4-mapped IPv6 judged as its IPv4)."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        low = network.network_address.ipv4_mapped
        high = network.broadcast_address.ipv4_mapped
        if low is None or high is None:  # pragma: no cover - inside ::ffff:0:0/96 both map
            return False
        return any(low in r and high in r for r in PRIVATE_RANGES if r.version == 4)
    return any(
        network.subnet_of(r)  # type: ignore[arg-type]  # same version checked first
        for r in PRIVATE_RANGES
        if r.version == network.version
    )
