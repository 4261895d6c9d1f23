"""Deterministic subnet allocation from a datacenter's CIDR pool.

Each service starts probing at a block chosen by a hash of its own name, so the result
depends only on the set of services (never on file order), and adding or removing a
service leaves the others where they were unless it lands exactly on their block.
"""

from __future__ import annotations

import hashlib
import ipaddress


class PoolExhausted(Exception):
    """No free block of the requested size is left in the pool."""

    def __init__(self, name: str, prefix_length: int, needed: int, available: int) -> None:
        self.name = name
        self.prefix_length = prefix_length
        self.needed = needed
        self.available = available
        super().__init__(f"no free /{prefix_length} left for {name!r}")


def _home_block(name: str, blocks: int) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % blocks


def allocate_subnets(
    pool: ipaddress.IPv4Network,
    requests: dict[str, int],
    pinned: dict[str, ipaddress.IPv4Network] | None = None,
) -> dict[str, ipaddress.IPv4Network]:
    """Give every name in ``requests`` (name -> prefix length) a non-overlapping subnet of ``pool``.

    ``pinned`` subnets (inside ``pool``, disjoint) are kept as they are and never handed out again,
    also when their service is not requested: a pin is how a deployed subnet stays put for good.
    """
    pinned = pinned or {}
    needed = sum(2 ** (32 - p) for p in requests.values())
    # Largest blocks first keeps the pool from fragmenting into holes too small for them.
    order = sorted(
        ((name, prefix) for name, prefix in requests.items() if name not in pinned),
        key=lambda item: (item[1], item[0]),
    )
    finest = max([pool.prefixlen, *requests.values(), *(p.prefixlen for p in pinned.values())])
    base = int(pool.network_address)

    def units(network: ipaddress.IPv4Network) -> range:
        start = (int(network.network_address) - base) >> (32 - finest)
        return range(start, start + 2 ** (finest - network.prefixlen))

    taken: set[int] = set()  # indexes of the pool's smallest-granularity units already used
    for network in pinned.values():
        taken.update(units(network))
    result = {name: network for name, network in pinned.items() if name in requests}
    for name, prefix in order:
        if prefix < pool.prefixlen:
            raise PoolExhausted(name, prefix, needed, pool.num_addresses)
        blocks = 2 ** (prefix - pool.prefixlen)
        units_per_block = 2 ** (finest - prefix)
        start = _home_block(name, blocks)
        for step in range(blocks):
            index = (start + step) % blocks
            block = range(index * units_per_block, (index + 1) * units_per_block)
            if taken.isdisjoint(block):
                taken.update(block)
                result[name] = ipaddress.IPv4Network((base + index * 2 ** (32 - prefix), prefix))
                break
        else:
            raise PoolExhausted(name, prefix, needed, pool.num_addresses)
    return result
