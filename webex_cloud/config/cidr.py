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
    pool: ipaddress.IPv4Network, requests: dict[str, int]
) -> dict[str, ipaddress.IPv4Network]:
    """Give every name in ``requests`` (name -> prefix length) a non-overlapping subnet of ``pool``."""
    needed = sum(2 ** (32 - p) for p in requests.values())
    # Largest blocks first keeps the pool from fragmenting into holes too small for them.
    order = sorted(requests.items(), key=lambda item: (item[1], item[0]))
    taken: set[int] = set()  # indexes of the pool's smallest-granularity units already used
    finest = max([pool.prefixlen, *requests.values()])
    result: dict[str, ipaddress.IPv4Network] = {}
    base = int(pool.network_address)
    for name, prefix in order:
        if prefix < pool.prefixlen:
            raise PoolExhausted(name, prefix, needed, pool.num_addresses)
        blocks = 2 ** (prefix - pool.prefixlen)
        units_per_block = 2 ** (finest - prefix)
        start = _home_block(name, blocks)
        for step in range(blocks):
            index = (start + step) % blocks
            units = range(index * units_per_block, (index + 1) * units_per_block)
            if taken.isdisjoint(units):
                taken.update(units)
                result[name] = ipaddress.IPv4Network((base + index * 2 ** (32 - prefix), prefix))
                break
        else:
            raise PoolExhausted(name, prefix, needed, pool.num_addresses)
    return result
