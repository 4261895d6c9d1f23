"""Placement that survives day 2, through the loopback's real Nova and Cinder APIs with our filters.

This checkout's filter wheel is rolled out to both controllers once for the session (the
``our_filters`` fixture: the rolling deploy script, tests/integration/deploy.py) and rolled back at its
end. Pods are booted exactly as the components write them (docs/scheduler-filters.md, "Hints each
instance and volume carries"): a pod's anchor in the service's ``anti-affinity`` group with the
``webex_pod`` hint, its members with the hint alone, every instance with the ``webex_service`` /
``webex_pod`` / ``webex_pod_role`` metadata; replicas with the ``webex_volume_group`` hint and
metadata. Then the day-2 operations an operator or a project member runs outside Pulumi, and each
test asserts the invariant itself: every pod on one host, the pods of a service on pairwise distinct
hosts, the replicas of a group in distinct failure domains.

The loopback has six fake compute hosts (four zoned for the plan tests, two spare), so a four-pod
service whose host is lost has a free host to go to. Where a test needs the scheduler to face a choice
it would get wrong without our filters, it asks for that host explicitly (``host`` on create,
microversion 2.74; on unshelve, 2.91): the request still goes through every filter, unlike a forced
``az:host``. Every name starts with ``i11-`` and a run id; everything is deleted in ``finally``.
"""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pytest
from openstack import exceptions
from webex_scheduler_filters import hints

from tests.integration.conftest import (
    BACKENDS,
    COMPUTE_HOSTS,
    COMPUTE_MICROVERSION,
    VOLUME_MICROVERSION,
    Cleanup,
    create_volume,
    ensure_flavor,
    ensure_image,
    wait_for,
)
from tests.integration.deploy import TOOLS, Deployment

PREFIX = "i11-"
COMPUTE_SH = TOOLS / "compute.sh"
#: Evacuate without ``onSharedStorage`` and without ``force`` (2.68 dropped it: no filter bypass).
EVACUATE_MICROVERSION = "2.68"
#: Unshelve to a named host, checked by the scheduler (2.91).
UNSHELVE_HOST_MICROVERSION = "2.91"
#: A server's state changes go through the conductor, a scheduler and a compute of a loaded 2-core
#: machine: bounded, generous.
SETTLE = 240
NO_VALID_HOST = "No valid host was found"
MAX_RETRIES = "Exceeded maximum number of retries"
#: An evacuation migration's end states: ``done`` once the new host is recorded, ``completed`` once
#: the old host's compute has cleaned up after its restart (nova 34 ``compute/manager.py``
#: ``_destroy_evacuated_instances``), ``error`` / ``failed`` when it did not happen.
EVACUATION_ENDED = ("done", "completed", "error", "failed")


@dataclass
class Service:
    """One service of pods booted as the components boot them, on the admin connection."""

    conn: Any
    cleanup: Cleanup
    name: str
    flavor: Any
    image: Any
    group: Any = None
    pods: dict[str, list[str]] = field(default_factory=dict)
    """pod name -> server ids, the anchor first."""

    def __post_init__(self) -> None:
        self.group = self.cleanup.server_group(
            self.conn.compute.create_server_group(name=f"{self.name}-pods", policy="anti-affinity")
        )

    def request(self, pod: str, role: str, host: str | None = None) -> dict[str, Any]:
        key = hints.pod_key("i11", self.name, pod)
        server: dict[str, Any] = {
            "name": f"{self.name}-{pod}-{uuid.uuid4().hex[:4]}",
            "flavorRef": self.flavor.id,
            "imageRef": self.image.id,
            "networks": "none",
            "metadata": {
                hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key("i11", self.name),
                hints.INSTANCE_POD_METADATA_KEY: key,
                hints.INSTANCE_POD_ROLE_METADATA_KEY: role,
            },
        }
        if host:
            server["host"] = host
        scheduler_hints: dict[str, Any] = {hints.NOVA_POD_HINT: key}
        if role == hints.ANCHOR_ROLE:
            scheduler_hints["group"] = self.group.id
        return {"server": server, "os:scheduler_hints": scheduler_hints}

    def boot(self, pod: str, role: str, host: str | None = None) -> str:
        """Start one instance of ``pod`` (not waiting); returns its id."""
        response = self.conn.compute.post(
            "/servers", json=self.request(pod, role, host), microversion=COMPUTE_MICROVERSION
        )
        exceptions.raise_from_response(response)
        server_id = str(response.json()["server"]["id"])
        self.cleanup.server(self.conn.compute.get_server(server_id))
        self.pods.setdefault(pod, []).append(server_id)
        return server_id

    def boot_pod(self, pod: str, members: int = 0, host: str | None = None) -> list[Any]:
        """A pod as the components chain it: the anchor, ACTIVE, then its members."""
        anchor = active(self.conn, self.boot(pod, hints.ANCHOR_ROLE, host))
        return [anchor] + [active(self.conn, self.boot(pod, hints.MEMBER_ROLE)) for _ in range(members)]

    def hosts(self) -> dict[str, set[str]]:
        """pod -> the hosts its instances run on (the admin's ``OS-EXT-SRV-ATTR:host``)."""
        return {
            pod: {self.conn.compute.get_server(i).compute_host for i in ids} for pod, ids in self.pods.items()
        }


def assert_pods_whole_and_apart(service: Service) -> dict[str, str]:
    """Every pod on one host, no two pods on one host; returns pod -> host."""
    hosts = service.hosts()
    split = {pod: sorted(map(str, h)) for pod, h in hosts.items() if len(h) != 1}
    assert split == {}, f"pods split over hosts: {split}"
    where = {pod: next(iter(h)) for pod, h in hosts.items()}
    shared = [(a, b) for a, b in combinations(where, 2) if where[a] == where[b]]
    assert shared == [], f"pods sharing a host: {shared} ({where})"
    return where


def settled(conn: Any, server_id: str, states: tuple[str, ...], timeout: float = SETTLE) -> Any:
    """The server once its status is one of ``states`` (or ERROR) and no task is running."""

    def probe() -> Any:
        server = conn.compute.get_server(server_id)
        done = server.status in (*states, "ERROR") and not server.task_state
        return server if done else None

    return wait_for(f"server {server_id} to reach {states}", probe, timeout)


def active(conn: Any, server_id: str) -> Any:
    server = settled(conn, server_id, ("ACTIVE",))
    assert server.status == "ACTIVE", (server.name, server.fault)
    return server


@pytest.fixture
def service(openstack_conn: Any, cleanup: Cleanup, our_filters: Deployment) -> Service:
    conn = openstack_conn
    run = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    return Service(conn, cleanup, run, ensure_flavor(conn), ensure_image(conn))


# ----------------------------------------------------------------------------------------------------
# Nova


def test_evacuate_a_pod_off_a_forced_down_host(service: Service, cleanup: Cleanup) -> None:
    """A four-pod service loses the host of pod 0: its anchor is evacuated to a free host (not another
    pod's), then its member follows the anchor. The host is forced back up and its leftovers cleaned."""
    conn = service.conn
    service.boot_pod("pod-0", members=1)
    for index in range(1, 4):
        service.boot_pod(f"pod-{index}")
    before = assert_pods_whole_and_apart(service)
    lost = before["pod-0"]
    (compute,) = [s for s in conn.compute.services(binary="nova-compute") if s.host == lost]
    cleanup.actions.append(lambda: bring_back(conn, compute.id, lost))
    force_down(conn, compute.id, True)
    wait_for(f"{lost} to be reported down", lambda: down(conn, lost) or None, 60)
    anchor, member = service.pods["pod-0"]
    evacuate(conn, anchor)
    moved = evacuated(conn, anchor)
    evacuate(conn, member)
    evacuated(conn, member)
    after = assert_pods_whole_and_apart(service)
    assert after["pod-0"] == moved.compute_host != lost
    assert {p: h for p, h in after.items() if p != "pod-0"} == {
        p: h for p, h in before.items() if p != "pod-0"
    }


def test_cold_migrate_a_pod_anchor_first(service: Service) -> None:
    """Drain pod 0's host: the anchor migrates to a host without another pod, the member follows it
    there (our filter admits a member only on its anchor's host), both resizes confirmed."""
    conn = service.conn
    service.boot_pod("pod-0", members=1)
    service.boot_pod("pod-1")
    source = assert_pods_whole_and_apart(service)["pod-0"]
    anchor, member = service.pods["pod-0"]
    for server_id in (anchor, member):
        conn.compute.migrate_server(server_id)
        resized = settled(conn, server_id, ("VERIFY_RESIZE",))
        assert resized.status == "VERIFY_RESIZE", (resized.name, resized.fault)
        conn.compute.confirm_server_resize(server_id)
        active(conn, server_id)
    after = assert_pods_whole_and_apart(service)
    assert after["pod-0"] != source


def test_live_migrate_a_pod_anchor_first(service: Service) -> None:
    """Drain pod 0's host live: the anchor live-migrates (no host named, no ``force``: through the
    scheduler) to a host without another pod, then the member follows it there."""
    conn = service.conn
    service.boot_pod("pod-0", members=1)
    service.boot_pod("pod-1")
    source = assert_pods_whole_and_apart(service)["pod-0"]
    for server_id in service.pods["pod-0"]:
        live_migrate(conn, server_id)
        active(conn, server_id)
    after = assert_pods_whole_and_apart(service)
    assert after["pod-0"] != source


def test_unshelve_an_old_pod_after_a_scale_out(service: Service) -> None:
    """Pod 0 is shelved (offloaded: the fake driver's snapshot is a Glance image without data), the
    service scales out onto pod 0's former host, then pod 0 is unshelved: not onto the newer pod's
    host (asked explicitly: refused), and without a host onto one no other pod uses."""
    conn = service.conn
    service.boot_pod("pod-0")
    service.boot_pod("pod-1")
    (anchor,) = service.pods["pod-0"]
    old = assert_pods_whole_and_apart(service)["pod-0"]
    conn.compute.shelve_server(anchor)
    assert settled(conn, anchor, ("SHELVED_OFFLOADED",)).status == "SHELVED_OFFLOADED"
    service.boot_pod("pod-2", host=old)  # the scale-out takes the freed host (through the filters)
    refused = unshelve(conn, anchor, host=old)
    assert refused.status == "SHELVED_OFFLOADED", "unshelved onto the newer pod's host"
    unshelve(conn, anchor)
    active(conn, anchor)
    assert_pods_whole_and_apart(service)


def test_replace_a_single_member_pod_after_a_scale_out(service: Service) -> None:
    """A one-pod service scales out; then its first pod is replaced (create before delete, as Pulumi
    does): the replacement sees the newer pod, so it is refused on that pod's host and lands elsewhere."""
    conn = service.conn
    service.boot_pod("pod-0")
    service.boot_pod("pod-1")
    newer = assert_pods_whole_and_apart(service)["pod-1"]
    (old,) = service.pods["pod-0"]
    old_server = conn.compute.get_server(old)
    service.pods["pod-0"] = []
    onto_newer = settled(conn, service.boot("pod-0", hints.ANCHOR_ROLE, host=newer), ("ACTIVE",))
    assert onto_newer.status == "ERROR" and NO_VALID_HOST in onto_newer.fault["message"]
    service.pods["pod-0"] = []
    replacement = active(conn, service.boot("pod-0", hints.ANCHOR_ROLE))
    conn.compute.delete_server(old_server)
    conn.compute.wait_for_delete(old_server, wait=SETTLE)
    assert replacement.compute_host != newer
    assert_pods_whole_and_apart(service)


def test_three_anchors_booted_at_once_land_apart_or_are_refused(service: Service) -> None:
    """Three pods' anchors started concurrently outside Pulumi, all three asking for the same host:
    Nova's late check on the anchors' group lets at most one run there; the others are rescheduled
    elsewhere or refused, never two pods on one host."""
    conn = service.conn
    target = COMPUTE_HOSTS[-1]
    pods = [f"pod-{i}" for i in range(3)]
    with ThreadPoolExecutor(len(pods)) as pool:
        ids = list(pool.map(lambda pod: service.boot(pod, hints.ANCHOR_ROLE, host=target), pods))
    servers = [settled(conn, i, ("ACTIVE",)) for i in ids]
    running = [s for s in servers if s.status == "ACTIVE"]
    assert running, [s.fault for s in servers]
    # Refused by the scheduler (an anchor already there: "No valid host was found") or by the late
    # check on the compute with no alternate left ("Exceeded maximum number of retries", a
    # MaxRetriesExceeded, which is a NoValidHost: nova/exception.py).
    for refused in (s for s in servers if s.status == "ERROR"):
        assert any(m in refused.fault["message"] for m in (NO_VALID_HOST, MAX_RETRIES)), refused.fault
    service.pods = {pod: [i] for pod, i, s in zip(pods, ids, servers, strict=True) if s.status == "ACTIVE"}
    assert_pods_whole_and_apart(service)


# ----------------------------------------------------------------------------------------------------
# Cinder


def test_retype_and_migrate_keep_replicas_out_of_the_sibling_domain(
    openstack_conn: Any, cleanup: Cleanup, our_filters: Deployment
) -> None:
    """Replica 1 is on storage-b@b3 (fd-b); replica 0, with the group hint alone, must land in fd-a.
    Migrating replica 0 into fd-b is refused; into the other fd-a backend it moves (driver-assisted,
    the fake driver). Retyping it (``--migration-policy on-demand``, no hints: the group key is read
    from the volume's metadata) to a type its current backend does not match leaves two candidates,
    the last fd-a backend and b3: it lands in fd-a."""
    conn = openstack_conn
    run = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    key = f"i11/{run}/data"
    storage = conn.block_storage

    def vtype(name: str, specs: dict[str, str]) -> Any:
        return cleanup.volume_type(storage.create_type(name=f"{run}-{name}", extra_specs=specs))

    anywhere, on_b3 = vtype("any", {}), vtype("b3", {"volume_backend_name": "b3"})

    def replica(index: int, volume_type: Any) -> Any:
        return cleanup.volume(
            create_volume(
                conn,
                f"{run}-{index}",
                volume_type=volume_type.name,
                metadata={hints.VOLUME_GROUP_METADATA_KEY: key, hints.REPLICA_METADATA_KEY: str(index)},
                scheduler_hints={hints.CINDER_VOLUME_GROUP_HINT: key},
            )
        )

    sibling = replica(1, on_b3)
    assert backend(sibling) == "storage-b@b3"
    volume = replica(0, anywhere)
    first = backend(volume)
    assert BACKENDS[first] == "fd-a", first
    (other,) = [b for b, d in BACKENDS.items() if d == "fd-a" and b != first]

    refused = migrate(conn, volume.id, "storage-b@b3#b3")
    assert (refused.migration_status, backend(refused)) == ("error", first)
    moved = migrate(conn, volume.id, pool(other))
    assert (moved.migration_status, backend(moved)) == ("success", other)

    not_here = "".join(f"<or> {b.partition('@')[2]} " for b in BACKENDS if b != other).strip()
    target = vtype("not-here", {"volume_backend_name": not_here})
    cleanup.volume(volume)  # again: a type in use cannot be deleted, so the volume goes first
    retyped = retype(conn, volume.id, target.name)
    assert retyped.volume_type == f"{run}-not-here"
    assert backend(retyped) == first
    assert BACKENDS[backend(retyped)] != BACKENDS[backend(storage.get_volume(sibling.id))]


def backend(volume: Any) -> str:
    return str(volume.host).partition("#")[0]


def pool(backend_name: str) -> str:
    return f"{backend_name}#{backend_name.partition('@')[2]}"


def migrate(conn: Any, volume_id: str, host: str) -> Any:
    """``os-migrate_volume`` (admin) to ``host``, checked by the scheduler; the volume once it settled."""
    response = conn.block_storage.post(
        f"/volumes/{volume_id}/action",
        json={"os-migrate_volume": {"host": host, "force_host_copy": False}},
        microversion=VOLUME_MICROVERSION,
    )
    exceptions.raise_from_response(response)
    return migration_settled(conn, volume_id)


def retype(conn: Any, volume_id: str, new_type: str) -> Any:
    response = conn.block_storage.post(
        f"/volumes/{volume_id}/action",
        json={"os-retype": {"new_type": new_type, "migration_policy": "on-demand"}},
        microversion=VOLUME_MICROVERSION,
    )
    exceptions.raise_from_response(response)

    def probe() -> Any:
        volume = conn.block_storage.get_volume(volume_id)
        done = volume.status in ("available", "error") and volume.migration_status in (
            None,
            "success",
            "error",
        )
        return volume if done else None

    return wait_for(f"volume {volume_id} retyped", probe, SETTLE)


def migration_settled(conn: Any, volume_id: str) -> Any:
    def probe() -> Any:
        volume = conn.block_storage.get_volume(volume_id)
        done = volume.status == "available" and volume.migration_status in ("success", "error")
        return volume if done else None

    return wait_for(f"volume {volume_id} migration", probe, SETTLE)


# ----------------------------------------------------------------------------------------------------
# Nova admin actions, written out where the SDK's request would not say what is sent


def force_down(conn: Any, service_id: str, forced: bool) -> None:
    """``PUT /os-services/{id}`` (2.53+): a forced-down compute is down at once, so it can be evacuated."""
    response = conn.compute.put(
        f"/os-services/{service_id}", json={"forced_down": forced}, microversion="2.53"
    )
    exceptions.raise_from_response(response)


def bring_back(conn: Any, service_id: str, host: str) -> None:
    """What Nova asks of an operator after an evacuation: restart the host's compute (its start-up
    deletes the evacuated instances' leftovers and completes the evacuation migrations; Nova refuses to
    force a host up before that), then unset forced_down, and wait until the host is up."""
    subprocess.run(["bash", str(COMPUTE_SH), "restart", host], check=True, timeout=300)
    force_down(conn, service_id, False)
    wait_for(f"{host} to be reported up", lambda: None if down(conn, host) else True, 120)


def down(conn: Any, host: str) -> bool:
    return any(s.host == host and s.state == "down" for s in conn.compute.services(binary="nova-compute"))


def evacuate(conn: Any, server_id: str) -> None:
    response = conn.compute.post(
        f"/servers/{server_id}/action", json={"evacuate": {}}, microversion=EVACUATE_MICROVERSION
    )
    # The API has set the task state (rebuilding) before it answers; the conductor and the new host's
    # compute clear it when the rebuild is done, or set ERROR when no host was valid.
    exceptions.raise_from_response(response)


def evacuated(conn: Any, server_id: str) -> Any:
    """The server once its evacuation has ended, ACTIVE. Not merely "ACTIVE, no task": the new host's
    compute clears the task when the rebuild is done and records the host only after that (nova 34
    ``compute/manager.py`` ``rebuild_instance``: ``resource_tracker.finish_evacuation`` sets
    ``instance.host``, then the migration ``done``), so a member evacuated in between is scheduled
    against its anchor's dead host. Nova's own functional helpers wait for the migration first
    (``nova/tests/functional/integrated_helpers.py`` ``_evacuate_server``)."""

    def probe() -> list[str] | None:
        response = conn.compute.get(
            "/os-migrations",
            params={"instance_uuid": server_id, "migration_type": "evacuation"},
            microversion=COMPUTE_MICROVERSION,
        )
        exceptions.raise_from_response(response)
        statuses = [m["status"] for m in response.json()["migrations"]]
        return statuses if statuses and all(s in EVACUATION_ENDED for s in statuses) else None

    wait_for(f"the evacuation of server {server_id} to end", probe, SETTLE)
    return active(conn, server_id)


def live_migrate(conn: Any, server_id: str) -> None:
    """``os-migrateLive`` with ``host: null`` (the scheduler picks; 2.30+ has no ``force`` without a
    host) and ``block_migration: auto``."""
    response = conn.compute.post(
        f"/servers/{server_id}/action",
        json={"os-migrateLive": {"host": None, "block_migration": "auto"}},
        microversion=COMPUTE_MICROVERSION,
    )
    exceptions.raise_from_response(response)


def unshelve(conn: Any, server_id: str, host: str | None = None) -> Any:
    """Unshelve (to ``host``, checked by the scheduler, 2.91); the server once the attempt is over. A
    refused unshelve leaves it SHELVED_OFFLOADED with its task state cleared."""
    body: dict[str, Any] = {"unshelve": {"host": host} if host else None}
    response = conn.compute.post(
        f"/servers/{server_id}/action", json=body, microversion=UNSHELVE_HOST_MICROVERSION
    )
    exceptions.raise_from_response(response)

    # The API sets the task state (unshelving) before it answers; the conductor clears it when no
    # host is valid (nova/conductor/manager.py ``unshelve_instance``), the compute once spawned.
    return wait_for(
        f"unshelve of {server_id}", lambda: none_if_busy(conn.compute.get_server(server_id)), SETTLE
    )


def none_if_busy(server: Any) -> Any:
    return None if server.task_state else server
