"""Where each instance's fixed IP sits in its service subnet.

Every (pod, role) gets a block of ``ROLE_SLOTS`` addresses, so scaling one role's count never
renumbers another role or another pod: only adding or removing a role moves addresses. The
first ``RESERVED_ADDRESSES`` are the network, the gateway and Neutron's own allocation pool
(DHCP and metadata ports), which therefore can never take an instance's address.
"""

from __future__ import annotations

import ipaddress

from webex_cloud.config.models import MAX_ROLE_COUNT

RESERVED_ADDRESSES = 10
ROLE_SLOTS = MAX_ROLE_COUNT


def addresses_needed(pods: int, roles: int) -> int:
    """Addresses a subnet must have: reserved, one block per (pod, role), and the broadcast."""
    return RESERVED_ADDRESSES + pods * roles * ROLE_SLOTS + 1


def smallest_prefix(pods: int, roles: int) -> int:
    """The longest IPv4 prefix whose subnet holds ``addresses_needed``."""
    prefix = 32
    while 2 ** (32 - prefix) < addresses_needed(pods, roles):
        prefix -= 1
    return prefix


def instance_address(
    subnet: ipaddress.IPv4Network, roles: int, pod: int, role: int, ordinal: int
) -> ipaddress.IPv4Address:
    return subnet.network_address + RESERVED_ADDRESSES + (pod * roles + role) * ROLE_SLOTS + ordinal


def neutron_pool(subnet: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address Neutron may hand out itself (after the gateway, before the instances)."""
    return subnet.network_address + 2, subnet.network_address + RESERVED_ADDRESSES - 1
