"""Subnet allocation: deterministic, order-independent, and stable when the catalog grows."""

from __future__ import annotations

import ipaddress
import random

import pytest

from webex_cloud.config.cidr import PoolExhausted, allocate_subnets

POOL = ipaddress.IPv4Network("10.10.0.0/16")
REQUESTS = {
    "meetings-media": 24,
    "messaging": 24,
    "recording-storage": 25,
    "telepresence-gateway": 26,
    "meetings-signalling": 25,
}


def test_same_services_in_any_order_get_the_same_subnets() -> None:
    expected = allocate_subnets(POOL, REQUESTS)
    items = list(REQUESTS.items())
    for seed in range(10):
        random.Random(seed).shuffle(items)
        assert allocate_subnets(POOL, dict(items)) == expected


def test_subnets_are_disjoint_and_inside_the_pool() -> None:
    subnets = list(allocate_subnets(POOL, {f"svc-{i}": 22 + i % 5 for i in range(60)}).values())
    for index, subnet in enumerate(subnets):
        assert subnet.subnet_of(POOL)
        assert not any(subnet.overlaps(other) for other in subnets[index + 1 :])


def test_growing_the_catalog_keeps_existing_subnets() -> None:
    before = allocate_subnets(POOL, REQUESTS)
    after = allocate_subnets(POOL, {**REQUESTS, "whiteboard": 24, "presence": 26})
    assert {name: after[name] for name in before} == before


def test_full_pool_is_reported_with_the_space_needed() -> None:
    with pytest.raises(PoolExhausted) as caught:
        allocate_subnets(ipaddress.IPv4Network("10.0.0.0/24"), {"a": 25, "b": 25, "c": 26})
    assert caught.value.needed == 320 and caught.value.available == 256


def test_pool_filled_exactly_succeeds() -> None:
    subnets = allocate_subnets(ipaddress.IPv4Network("10.0.0.0/24"), {"a": 25, "b": 26, "c": 26})
    assert sum(s.num_addresses for s in subnets.values()) == 256


def test_pinned_subnets_stay_whatever_else_is_added() -> None:
    pinned = allocate_subnets(POOL, REQUESTS)
    # Without pins some additions move an existing subnet (a hash collision or a larger block
    # placed first); with every deployed subnet pinned, none can.
    for extra in range(40):
        grown = {**REQUESTS, **{f"new-{extra}-{i}": 20 + i % 5 for i in range(6)}}
        after = allocate_subnets(POOL, grown, pinned)
        assert {name: after[name] for name in REQUESTS} == pinned
        new = [after[name] for name in grown if name not in REQUESTS]
        assert not any(n.overlaps(p) for n in new for p in pinned.values())


def test_a_pin_reserves_its_block_after_the_service_is_removed() -> None:
    pin = ipaddress.IPv4Network("10.10.0.0/17")
    after = allocate_subnets(POOL, {"other": 17}, {"retired": pin})
    assert after == {"other": ipaddress.IPv4Network("10.10.128.0/17")}
