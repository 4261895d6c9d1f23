"""The loopback OpenStack is what the integration tests assume: six fake compute hosts (four that the plan
tests zone, two spare), three Cinder backends in two failure domains each reporting its own name, and
scheduling that really happens."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from openstack.exceptions import HttpException

from tests.integration.conftest import (
    BACKENDS,
    COMPUTE_HOSTS,
    FAKE_HOSTS,
    Cleanup,
    boot_server,
    create_volume,
    ensure_availability_zone,
    ensure_flavor,
    ensure_image,
)
from tests.integration.deploy import FRAGMENT_NAME, SCHEDULER_SH, TOOLS, scheduler_paths, state_of


def test_six_fake_compute_hosts_are_up_and_known_to_placement(openstack_conn: Any) -> None:
    services = {s.host: s for s in openstack_conn.compute.services(binary="nova-compute")}
    assert {h: services[h].state for h in COMPUTE_HOSTS if h in services} == dict.fromkeys(
        COMPUTE_HOSTS, "up"
    )
    providers = openstack_conn.placement.get("/resource_providers").json()["resource_providers"]
    assert set(COMPUTE_HOSTS) <= {rp["name"] for rp in providers}


def test_each_fake_host_reports_its_unclaimed_disk_as_free(openstack_conn: Any) -> None:
    """Nova's fake driver alone reports no free disk (``disk_available_least`` 0): the scheduler then
    sees every host full, and a filter that checks disk refuses them all (tools/openstack-loopback/
    nova_driver). Microversion 2.74: 2.88 dropped these fields from the API."""

    response = openstack_conn.compute.get("/os-hypervisors/detail", microversion="2.74")
    response.raise_for_status()
    hosts = {h["service"]["host"]: h for h in response.json()["hypervisors"]}
    # Not to the gigabyte: the driver's figure lags the database's (it is refreshed by the compute's
    # periodic resource update, while local_gb_used drops as soon as a server is deleted) and the fake
    # driver keeps the claims of servers migrated away from it. What the scheduler needs is a host that
    # does not look full: nearly all of its unclaimed disk reported free.
    short = {
        h: (hosts[h]["disk_available_least"], hosts[h]["local_gb"] - hosts[h]["local_gb_used"])
        for h in COMPUTE_HOSTS
        if hosts[h]["disk_available_least"] < 0.99 * (hosts[h]["local_gb"] - hosts[h]["local_gb_used"])
    }
    assert not short, f"hosts reporting far less free disk than they have unclaimed: {short}"


def test_each_cinder_backend_reports_its_own_name_and_failure_domain(openstack_conn: Any) -> None:
    pools = {p.name: p.capabilities for p in openstack_conn.block_storage.backend_pools(details=True)}
    for backend, domain in BACKENDS.items():
        name = backend.split("@", 1)[1]
        caps = pools[f"{backend}#{name}"]
        assert (caps["volume_backend_name"], caps["failure_domain"]) == (name, domain)


def test_volumes_land_on_the_backend_their_type_names(openstack_conn: Any, cleanup: Cleanup) -> None:
    conn = openstack_conn
    run = uuid.uuid4().hex[:8]
    landed = {}
    for backend in BACKENDS:
        name = backend.split("@", 1)[1]
        vtype = cleanup.volume_type(
            conn.block_storage.create_type(
                name=f"smoke-{name}-{run}", extra_specs={"volume_backend_name": name}
            )
        )
        volume = cleanup.volume(create_volume(conn, f"smoke-{name}-{run}", volume_type=vtype.name))
        landed[backend] = volume.host
    assert landed == {b: f"{b}#{b.split('@', 1)[1]}" for b in BACKENDS}


def test_cinder_reads_scheduler_hints_sent_top_level(openstack_conn: Any, cleanup: Cleanup) -> None:
    """The request format of ``create_volume``: Cinder validates the top-level hints (a malformed one is
    refused) and schedules with well-formed ones. Where they lead depends on the filters a controller
    enables, which the rolling deployment replaces, so placement by hint is left to the filter tests."""
    conn = openstack_conn
    run = uuid.uuid4().hex[:8]
    first = cleanup.volume(create_volume(conn, f"smoke-hint-a-{run}"))
    hinted = cleanup.volume(
        create_volume(conn, f"smoke-hint-b-{run}", scheduler_hints={"different_host": [first.id]})
    )
    assert hinted.status == "available"
    with pytest.raises(HttpException) as refused:
        create_volume(conn, f"smoke-hint-c-{run}", scheduler_hints={"different_host": "not-a-volume-id"})
    assert refused.value.status_code == 400


def test_an_affinity_group_places_two_servers_on_one_host(openstack_conn: Any, cleanup: Cleanup) -> None:
    conn = openstack_conn
    run = uuid.uuid4().hex[:8]
    flavor, image = ensure_flavor(conn), ensure_image(conn)
    group = cleanup.server_group(
        conn.compute.create_server_group(name=f"smoke-affinity-{run}", policy="affinity")
    )
    servers = []
    for index in range(2):
        name = f"smoke-affinity-{run}-{index}"
        servers.append(
            cleanup.server(
                boot_server(conn, name, flavor=flavor, image=image, scheduler_hints={"group": group.id})
            )
        )
    hosts = {s.compute_host for s in servers}
    assert len(hosts) == 1 and hosts <= set(COMPUTE_HOSTS)


def test_an_availability_zone_confines_servers_to_its_hosts(openstack_conn: Any, cleanup: Cleanup) -> None:
    conn = openstack_conn
    run = uuid.uuid4().hex[:8]
    flavor, image = ensure_flavor(conn), ensure_image(conn)
    zone = f"smoke-az-{run}"
    cleanup.aggregate(ensure_availability_zone(conn, zone, [FAKE_HOSTS[-1]]))
    server = cleanup.server(
        boot_server(conn, f"{zone}-0", flavor=flavor, image=image, availability_zone=zone)
    )
    assert server.compute_host == FAKE_HOSTS[-1]


def test_a_controller_whose_schedulers_stopped_starts_again_on_the_stock_filters() -> None:
    """A filter deployment does not outlive its controller's schedulers: what a run stopped in the middle
    of a rollout leaves behind (the fragments, the wheel, the deploy's record) is gone when up.sh starts
    them again, so the next run begins on Nova's and Cinder's own filters. A running controller keeps
    what it runs."""

    def up() -> None:
        subprocess.run(["bash", str(TOOLS / "up.sh")], check=True, capture_output=True, timeout=900)

    paths = scheduler_paths("ctl-2")
    leftovers = [
        Path(paths["NOVA_CONFIG_DIR"]) / FRAGMENT_NAME,
        Path(paths["CINDER_CONFIG_DIR"]) / FRAGMENT_NAME,
        Path(paths["SITE_DIR"]) / "left_behind.py",
        Path(paths["SITE_DIR"] + ".deploy") / "current.json",
    ]
    try:
        for leftover in leftovers:
            leftover.parent.mkdir(exist_ok=True)
            leftover.write_text("# left behind by a rollout that stopped half way\n")
        up()
        assert [f for f in leftovers if not f.exists()] == []

        for kind in ("nova", "cinder"):
            subprocess.run(["bash", str(SCHEDULER_SH), "stop", kind, "ctl-2"], check=True, timeout=120)
        up()
        assert [f for f in leftovers if f.exists()] == []
        assert state_of("ctl-2").fragments == (None, None)
        for kind in ("nova", "cinder"):
            subprocess.run(["bash", str(SCHEDULER_SH), "health", kind, "ctl-2"], check=True, timeout=180)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        up()
